"""Opt-in: the Jenkins engine on a real cluster, with the Jenkins the namespace preparation deploys
(pinned core and plugins, seeded API token). Needs a cluster whose nodes reach the Jenkins update
center (plugins are downloaded at start) and a kubeconfig in KUBECONFIG; the controller runs in this
process and talks to Jenkins through `kubectl port-forward`:

    kind create cluster
    translator crds | kubectl apply -f -
    pytest --cluster tests/jenkins/test_cluster_jenkins.py

Jenkins takes a few minutes to install its plugins and start; the test waits up to 15 minutes.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from translator.controller import runs
from translator.controller.manager import Controller, ControllerConfig
from translator.kubeclient import Kube, load_api_client

pytestmark = pytest.mark.cluster


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def namespace() -> Iterator[tuple[Kube, str]]:
    kube = Kube(load_api_client(os.environ.get("KUBECONFIG")))
    ns = f"translator-jenkins-{uuid.uuid4().hex[:6]}"
    kube.core.create_namespace({"metadata": {"name": ns}})
    try:
        yield kube, ns
    finally:
        kube.core.delete_namespace(ns)


def _run(kube: Kube, ns: str, run: int, deadline: float) -> dict[str, Any]:
    runs.create_run(kube, ns, "hello")
    ex: dict[str, Any] = {}
    while time.monotonic() < deadline:
        ex = kube.get("pipelineexecutions", ns, f"hello-{run}")
        if (ex.get("status") or {}).get("executionState") in ("Success", "Failed", "Aborted"):
            return ex
        time.sleep(5)
    raise AssertionError(f"hello-{run} did not finish: {ex.get('status')}")


def test_a_pipeline_runs_on_the_deployed_jenkins_and_a_failing_command_fails_it(namespace: tuple[Kube, str]) -> None:
    kube, ns = namespace
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("needs kubectl for the port-forward to Jenkins")
    port = _free_port()
    kube.create("pipelinesettings", ns, {"apiVersion": "devops.cubepaas.io/v1alpha1", "kind": "PipelineSetting",
                                         "metadata": {"name": "default"}, "spec": {"engine": "jenkins"}})
    deadline = time.monotonic() + 900
    ctrl = Controller(kube, ControllerConfig(namespaces=[ns])).start()  # its settings reconciler deploys Jenkins
    forward = None
    try:
        while time.monotonic() < deadline:
            ready = subprocess.run([kubectl, "-n", ns, "rollout", "status", "deployment/jenkins", "--timeout=30s"],
                                   capture_output=True, check=False)
            if ready.returncode == 0:
                break
            time.sleep(5)  # not created yet: `rollout status` fails at once
        forward = subprocess.Popen([kubectl, "-n", ns, "port-forward", "service/jenkins", f"{port}:8080"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        secret = kube.secret_data(ns, "jenkins-admin")  # the seeded API token
        kube.create("secrets", ns, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "jenkins-local"},
                                    "stringData": {"username": secret["username"], "token": secret["token"]}})
        kube.patch("pipelinesettings", ns, "default", {"spec": {"jenkins": {
            "url": f"http://127.0.0.1:{port}", "credentialsSecret": "jenkins-local"}}})
        kube.create("pipelines", ns, {
            "apiVersion": "devops.cubepaas.io/v1alpha1", "kind": "Pipeline", "metadata": {"name": "hello"},
            "spec": {"repositoryUrl": "https://github.com/argoproj/argo-workflows.git", "defaultBranch": "main",
                     "config": {"stages": [{"name": "Say", "steps": [{"runScriptConfig": {
                         "image": "alpine:3.20", "shellScript": "echo hello\nfalse\necho never"}}]}]}}})
        ex = _run(kube, ns, 1, deadline)
        # no `#!`: durable-task runs it `sh -xe`, as Rancher's scripts ran (with one, `false` would not stop it)
        assert ex["status"]["executionState"] == "Failed", ex["status"]
        assert ex["status"]["stages"][1]["steps"][0]["state"] == "Failed"
        assert ex["status"]["stages"][0]["steps"][0]["state"] == "Success"  # the clone: jnlp shares /workspace
    finally:
        ctrl.stop()
        if forward is not None:
            forward.terminate()
            forward.wait(timeout=10)
