"""Opt-in: a real cluster (kind) with Argo Workflows and the CRDs installed. Run with
`pytest --cluster` and KUBECONFIG pointing at it; the controller runs in this process.

    kind create cluster
    kubectl create namespace argo
    kubectl apply -n argo -f https://github.com/argoproj/argo-workflows/releases/latest/download/install.yaml
    translator crds | kubectl apply -f -
    pytest --cluster tests/test_cluster.py
"""

from __future__ import annotations

import os
import time
import uuid

import pytest

from translator.controller import runs
from translator.controller.manager import Controller, ControllerConfig
from translator.kubeclient import Kube, load_api_client

pytestmark = pytest.mark.cluster


def _run_to_end(script: str) -> dict[str, object]:
    kube = Kube(load_api_client(os.environ.get("KUBECONFIG")))
    ns = f"translator-e2e-{uuid.uuid4().hex[:6]}"
    kube.core.create_namespace({"metadata": {"name": ns}})
    ctrl = Controller(kube, ControllerConfig(namespaces=[ns])).start()
    try:
        kube.create("pipelinesettings", ns, {"apiVersion": "devops.cubepaas.io/v1alpha1", "kind": "PipelineSetting",
                                             "metadata": {"name": "default"}, "spec": {}})
        kube.create("pipelines", ns, {
            "apiVersion": "devops.cubepaas.io/v1alpha1", "kind": "Pipeline", "metadata": {"name": "hello"},
            "spec": {"repositoryUrl": "https://github.com/argoproj/argo-workflows.git", "defaultBranch": "main",
                     "config": {"stages": [{"name": "Say", "steps": [
                         {"runScriptConfig": {"image": "alpine:3.20", "shellScript": script}}]}]}}})
        time.sleep(2)  # let the settings reconciler make the service account
        runs.create_run(kube, ns, "hello")
        deadline = time.monotonic() + 600
        ex: dict[str, object] = {}
        while time.monotonic() < deadline:
            ex = kube.get("pipelineexecutions", ns, "hello-1")
            state = (ex.get("status") or {}).get("executionState", "")  # type: ignore[union-attr]
            if state in ("Success", "Failed", "Aborted"):
                break
            time.sleep(3)
        return ex
    finally:
        ctrl.stop()
        kube.core.delete_namespace(ns)


def test_example_pipeline_runs_end_to_end_on_argo() -> None:
    ex = _run_to_end("echo hello && ls")
    assert ex["status"]["executionState"] == "Success"  # type: ignore[index]


def test_a_failing_step_fails_the_run_naming_it_on_argo() -> None:
    ex = _run_to_end("echo about to fail; exit 3")
    status = ex["status"]
    assert status["executionState"] == "Failed"  # type: ignore[index]
    built = next(c for c in status["conditions"] if c["type"] == "Built")  # type: ignore[index]
    assert "'Say' step 1 failed" in built["message"]
