"""Opt-in: the controller against a real API server and a real Argo Workflows controller, for
what the doubles can only claim (issue 10's findings as a real cluster shows them). Nothing here
uses a double: each test makes its own namespace, runs the controller in this process against
the cluster in KUBECONFIG, and deletes the namespace at the end.

Set-up (kind, any Argo Workflows release 3.6, 3.7, 4.0 or 4.1; `--server-side` is needed from
4.0 on, whose CRDs carry their full schema, and is harmless before):

    kind create cluster --name translator
    export KUBECONFIG=~/.kube/config ARGO=v3.7.18             # or v3.6.19, v4.0.10, v4.1.2
    kubectl create namespace argo
    kubectl apply --server-side -n argo \\
        -f https://github.com/argoproj/argo-workflows/releases/download/$ARGO/install.yaml
    kubectl -n argo rollout status deployment/workflow-controller
    .venv/bin/translator crds | kubectl apply --server-side -f -
    .venv/bin/python -m pytest --cluster tests/test_cluster.py

Use `install.yaml`, not `quick-start-*.yaml`: it configures no artifact repository, which is
the default case the tests need (a run with no log store succeeds, finding 2). The nodes must
reach docker.io (alpine, alpine/git) and github.com (each run clones octocat/Hello-World).
Each test takes one to three minutes, most of it image pulls the first time.

MinIO is optional: `test_step_logs_are_archived_in_a_bucket_the_controller_makes` runs only
when TRANSLATOR_E2E_S3 names an S3 endpoint that both this process and the pods reach, with
TRANSLATOR_E2E_S3_ACCESS_KEY and TRANSLATOR_E2E_S3_SECRET_KEY; on Linux, the kind network's
gateway does:

    docker run -d --name minio -p 9000:9000 -e MINIO_ROOT_USER=minio -e MINIO_ROOT_PASSWORD=minio123 \\
        quay.io/minio/minio server /data
    export TRANSLATOR_E2E_S3=$(docker network inspect kind -f '{{(index .IPAM.Config 0).Gateway}}'):9000 \\
        TRANSLATOR_E2E_S3_ACCESS_KEY=minio TRANSLATOR_E2E_S3_SECRET_KEY=minio123
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from kubernetes import client

from translator.compiler.argo import MAX_NAME
from translator.controller import runs
from translator.controller.logs import LogViewer
from translator.controller.manager import Controller, ControllerConfig
from translator.kubeclient import ARGO_GROUP, ARGO_VERSION, Kube, load_api_client
from translator.logs.archive import log_key, store_from_secret
from translator.status.argo import observe

pytestmark = pytest.mark.cluster

G, V = "devops.cubepaas.io", "v1alpha1"
REPOSITORY = "https://github.com/octocat/Hello-World.git"  # small, public, branch master
FINAL = ("Success", "Failed", "Aborted")


def _until(what: str, probe: Callable[[], Any], timeout: float, every: float = 3.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except (client.ApiException, LookupError, TypeError) as exc:  # not there (or not said) yet
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; last: {last!r}")


def _stage(name: str, script: str, image: str = "alpine:3.20", **stage: Any) -> dict[str, Any]:
    return {"name": name, "steps": [{"runScriptConfig": {"image": image, "shellScript": script}}], **stage}


@dataclass
class Cluster:
    """One fresh namespace on the real cluster, its setting, and the controller watching it."""

    kube: Kube
    namespace: str
    controller: Controller | None = None
    pipelines: list[str] = field(default_factory=list)

    def start(self, setting: dict[str, Any] | None = None, **config: Any) -> None:
        self.kube.create("pipelinesettings", self.namespace, {
            "apiVersion": f"{G}/{V}", "kind": "PipelineSetting", "metadata": {"name": "default"},
            "spec": setting or {}})
        self.controller = Controller(self.kube, ControllerConfig(namespaces=[self.namespace], **config)).start()
        # the settings reconciler makes the step pods' service account; a pod without it is refused
        _until("the service account 'pipeline'", lambda: self.kube.core.read_namespaced_service_account(
            "pipeline", self.namespace), timeout=60, every=1)

    def pipeline(self, name: str, *stages: dict[str, Any], **spec: Any) -> None:
        self.kube.create("pipelines", self.namespace, {
            "apiVersion": f"{G}/{V}", "kind": "Pipeline", "metadata": {"name": name},
            "spec": {"repositoryUrl": REPOSITORY, "defaultBranch": "master",
                     "config": {"stages": list(stages)}, **spec}})

    def run(self, pipeline: str) -> str:
        return str(runs.create_run(self.kube, self.namespace, pipeline)["metadata"]["name"])

    def execution(self, name: str) -> dict[str, Any]:
        return self.kube.get("pipelineexecutions", self.namespace, name)

    def finished(self, name: str, timeout: float = 600) -> dict[str, Any]:
        def final() -> dict[str, Any] | None:
            ex = self.execution(name)
            return ex if (ex.get("status") or {}).get("executionState") in FINAL else None
        ex: dict[str, Any] = _until(f"{name} to finish", final, timeout)
        return ex

    def workflow(self, ex: dict[str, Any]) -> dict[str, Any]:
        ref = ex["status"]["engineRef"]
        return self.kube.get("workflows", ref["workflowNamespace"], ref["workflowName"], group=ARGO_GROUP,
                             version=ARGO_VERSION)

    def log(self, execution: str, stage: str) -> str:
        """What `translator logs <execution> --stage <stage>` prints (the CLI is this viewer)."""
        return "".join(LogViewer(self.kube, self.namespace).stream(execution, stage=stage))


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    kube = Kube(load_api_client(os.environ.get("KUBECONFIG")))
    ns = f"translator-e2e-{uuid.uuid4().hex[:6]}"
    kube.core.create_namespace({"metadata": {"name": ns}})
    cl = Cluster(kube, ns)
    try:
        yield cl
    finally:
        if cl.controller is not None:
            cl.controller.stop()
        kube.core.delete_namespace(ns)


def _step(ex: dict[str, Any], stage: int, step: int = 0) -> dict[str, Any]:
    return dict(ex["status"]["stages"][stage]["steps"][step])


def _built(ex: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in ex["status"]["conditions"] if c["type"] == "Built")


def test_a_run_with_no_log_store_succeeds_and_its_script_is_traced(cluster: Cluster) -> None:
    """Finding 2: no `logs` in the setting and no artifact repository in Argo: the Workflow asks
    for no log archiving, so Argo's wait container has nothing to fail on. Finding 1: the script
    runs as `sh -xe`, its commands traced in the log (read from the pod, kept by podGC "")."""
    cluster.start({"argo": {"podGcStrategy": ""}})
    cluster.pipeline("hello", _stage("Say", "echo hello\nls"))
    ex = cluster.finished(cluster.run("hello"))
    assert ex["status"]["executionState"] == "Success", ex["status"]
    wf = cluster.workflow(ex)
    assert "archiveLogs" not in wf["spec"] and wf["status"]["phase"] == "Succeeded"
    assert "+ echo hello\nhello\n" in cluster.log(ex["metadata"]["name"], "Say")


def test_a_script_whose_first_command_fails_fails_the_run(cluster: Cluster) -> None:
    """Finding 1: `false` then a passing command is a failed step, as Rancher's `sh -xe` made it."""
    cluster.start({"argo": {"podGcStrategy": ""}})
    cluster.pipeline("hello", _stage("Say", "false\necho never reached"))
    name = cluster.run("hello")
    ex = cluster.finished(name)
    assert ex["status"]["executionState"] == "Failed", ex["status"]
    assert _step(ex, 0)["state"] == "Success"  # the clone
    step = _step(ex, 1)
    assert step["state"] == "Failed" and "exit code 1" in step["message"], step
    assert "'Say' step 1 failed" in _built(ex)["message"]
    log = cluster.log(name, "Say")
    assert "+ false\n" in log and "+ echo never reached" not in log, log


def test_a_long_named_pipelines_cron_run_gets_a_workflow_argo_accepts(cluster: Cluster) -> None:
    """Finding 4: a 55-character pipeline's cron run is named `<pipeline>-cron-<yyyymmddhhmm>`, 73
    characters; Argo refuses Workflow names over 63 (validate.go), so the Workflow gets a bounded
    name and keeps the execution's in an annotation. The schedule fires within a minute."""
    pipeline = "a-pipeline-whose-name-is-long-" + "x" * 25
    assert len(pipeline) == 55
    cluster.start()
    cluster.pipeline(pipeline, _stage("Say", "echo scheduled"), cron={"schedule": "* * * * *"})

    def scheduled() -> str:
        items = cluster.kube.list("pipelineexecutions", cluster.namespace)["items"]
        names = sorted(i["metadata"]["name"] for i in items if i["metadata"]["name"].startswith(f"{pipeline}-cron-"))
        return names[0] if names else ""
    name = _until("the scheduled run", scheduled, timeout=150)
    cluster.kube.patch("pipelines", cluster.namespace, pipeline, {"spec": {"cron": None}})  # one is enough
    assert len(name) > MAX_NAME
    ex = cluster.finished(name)
    assert ex["status"]["executionState"] == "Success", ex["status"]
    wf = cluster.workflow(ex)
    assert len(wf["metadata"]["name"]) <= MAX_NAME and wf["status"]["phase"] == "Succeeded"
    assert wf["metadata"]["annotations"]["devops.cubepaas.io/execution"] == name


def test_cache_paths_written_two_ways_are_one_mount(cluster: Cluster) -> None:
    """Finding 5: `node_modules` and `./node_modules` are one directory; mounted twice, Argo
    refuses the Workflow (a mountPath used twice). The cached directory is writable."""
    cluster.start()
    cluster.pipeline("web", _stage("Install", "mkdir -p node_modules\necho kept > node_modules/marker",
                                   cache={"paths": ["node_modules", "./node_modules"]}))
    ex = cluster.finished(cluster.run("web"))
    assert ex["status"]["executionState"] == "Success", ex["status"]
    install = next(t for t in cluster.workflow(ex)["spec"]["templates"] if t["name"] == "install")
    paths = [m["mountPath"] for m in install["container"]["volumeMounts"]]
    assert paths.count("/workspace/source/node_modules") == 1, paths


def test_translator_logs_finds_the_pod_of_a_long_named_step(cluster: Cluster) -> None:
    """Finding 7: a 63-character Workflow and a 48-character stage give a pod name of over 120
    characters by Argo's rule (workflow/util/pod_name.go: no cut below 242); `translator logs`
    reads that pod, found by the name the status layer computes."""
    pipeline = "p" * 62  # its first execution, `<pipeline>-1`, is 64 characters: the Workflow's is bounded
    stage = "build-the-application-with-a-rather-long-name-xy"
    cluster.start({"argo": {"podGcStrategy": ""}})  # keep the pods: the log is read from them
    cluster.pipeline(pipeline, _stage(stage, "echo from the long step"))
    name = cluster.run(pipeline)
    ex = cluster.finished(name)
    assert ex["status"]["executionState"] == "Success", ex["status"]
    wf = cluster.workflow(ex)
    pods = {p.metadata.name for p in cluster.kube.core.list_namespaced_pod(
        wf["metadata"]["namespace"], label_selector=f"workflows.argoproj.io/workflow={wf['metadata']['name']}").items}
    ours = observe(wf, [stage]).steps[stage].pod_name
    assert ours in pods and len(ours) > MAX_NAME, (ours, pods)
    assert "+ echo from the long step\nfrom the long step\n" in cluster.log(name, stage)


def test_a_bad_image_fails_the_run_with_the_reason_within_the_start_deadline(cluster: Cluster) -> None:
    """Finding 10: `image: sh` (a real pipeline file's mistake) never pulls; the step says why as
    soon as the kubelet does, and the run fails once the start deadline has passed, not at its
    timeout."""
    deadline = 20
    cluster.start(start_deadline_seconds=deadline)
    cluster.pipeline("web", _stage("Build", "echo hi", image="sh"))
    name = cluster.run("web")
    _until("the step to name the pull error",
           lambda: "ImagePull" in _step(cluster.execution(name), 1)["message"], timeout=300, every=1)
    ex = cluster.finished(name, timeout=deadline + 60)  # the run's timeout is an hour
    assert ex["status"]["executionState"] == "Failed", ex["status"]
    step = _step(ex, 1)
    assert step["state"] == "Failed", step
    assert step["message"].startswith("could not start within 20 s: ") and "ImagePull" in step["message"], step
    assert _built(ex)["reason"] in ("ErrImagePull", "ImagePullBackOff"), _built(ex)
    wf = _until("the Workflow to stop", lambda: (w := cluster.workflow(ex))["status"].get("finishedAt") and w,
                timeout=120)
    assert wf["spec"]["shutdown"] == "Terminate"


def test_a_failed_run_leaves_no_workspace_claim(cluster: Cluster) -> None:
    """Finding 9: volumeClaimGC OnWorkflowCompletion deletes the workspace claim of a failed run too
    (Argo's default, OnWorkflowSuccess, keeps it for the Workflow's TTL)."""
    cluster.start()
    cluster.pipeline("web", _stage("Build", "exit 3"))
    ex = cluster.finished(cluster.run("web"))
    assert ex["status"]["executionState"] == "Failed", ex["status"]
    assert cluster.workflow(ex)["spec"]["volumeClaimGC"] == {"strategy": "OnWorkflowCompletion"}
    _until("the workspace claim to be deleted", lambda: not cluster.kube.core.list_namespaced_persistent_volume_claim(
        cluster.namespace).items, timeout=180)


def test_step_logs_are_archived_in_a_bucket_the_controller_makes(cluster: Cluster) -> None:
    """Finding 3 (needs TRANSLATOR_E2E_S3, see above): a bucket that does not exist is made before
    the Workflow, Argo's wait container archives the step's log there, `translator logs` reads it."""
    endpoint = os.environ.get("TRANSLATOR_E2E_S3", "")
    if not endpoint:
        pytest.skip("set TRANSLATOR_E2E_S3 (and its keys) to an S3 endpoint the pods and this process reach")
    keys = {"accesskey": os.environ.get("TRANSLATOR_E2E_S3_ACCESS_KEY", ""),
            "secretkey": os.environ.get("TRANSLATOR_E2E_S3_SECRET_KEY", "")}
    cluster.kube.core.create_namespaced_secret(cluster.namespace, {"metadata": {"name": "logs"}, "stringData": keys})
    bucket = cluster.namespace  # new for each run of the test
    cluster.start({"logs": {"endpoint": endpoint, "bucket": bucket, "credentialsSecret": "logs", "insecure": True}})
    cluster.pipeline("hello", _stage("Say", "echo archived"))
    name = cluster.run("hello")
    ex = cluster.finished(name)
    assert ex["status"]["executionState"] == "Success", ex["status"]
    store = store_from_secret(endpoint, bucket, keys, insecure=True)  # Argo archived it at the shared layout's key
    assert b"+ echo archived\narchived\n" in b"".join(store.get(log_key(cluster.namespace, "hello", 1, 1, 0)))
    assert "+ echo archived\narchived\n" in cluster.log(name, "Say")
