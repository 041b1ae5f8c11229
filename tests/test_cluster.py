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


def test_example_pipeline_runs_end_to_end_on_argo() -> None:
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
                         {"runScriptConfig": {"image": "alpine:3.20", "shellScript": "echo hello && ls"}}]}]}}})
        time.sleep(2)  # let the settings reconciler make the service account
        runs.create_run(kube, ns, "hello")
        deadline = time.monotonic() + 600
        state = ""
        while time.monotonic() < deadline:
            state = (kube.get("pipelineexecutions", ns, "hello-1").get("status") or {}).get("executionState", "")
            if state in ("Success", "Failed", "Aborted"):
                break
            time.sleep(3)
        assert state == "Success"
    finally:
        ctrl.stop()
        kube.core.delete_namespace(ns)
