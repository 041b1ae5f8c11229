"""The Argo simulator's runtime behaviours, each named after what the real servers do.

Sources (also cited beside each behaviour in tests/argo_sim.py): argo-workflows v3.7
workflow/controller/operator.go (assessNodeStatus, getPendingReason, inferFailedReason),
exec_control.go (applyExecutionControl), pod/queue.go, pod/cleanup.go, pod_cleanup.go,
workflow/executor/executor.go (SaveLogs), workflow/artifacts/s3/s3.go (saveS3Artifact),
workflow/hydrator/hydrator.go (Dehydrate); kubernetes kubelet (images/image_manager.go,
kubelet_pods.go, volumemanager) and plugin/pkg/admission/serviceaccount.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.argo_sim import NODE_STOP_MESSAGE, STOP_MESSAGE, ArgoSimulator
from tests.controller.harness import wait_for
from tests.kube_double.server import KubeDouble
from tests.s3_server import ACCESS_KEY, SECRET_KEY, S3Server


@pytest.fixture
def double() -> Iterator[KubeDouble]:
    with KubeDouble() as kube:
        kube.create_namespace("ns")
        yield kube


@pytest.fixture
def sim(double: KubeDouble) -> Iterator[ArgoSimulator]:
    sim = ArgoSimulator(double, step_seconds=0.05, pod_gc_delay=0.3).start()
    try:
        yield sim
    finally:
        sim.stop()


def _workflow(name: str, *tasks: dict[str, Any], spec: dict[str, Any] | None = None) -> dict[str, Any]:
    """A DAG Workflow: each task dict holds `name` and its container (and optional archiveLocation)."""
    templates = [{"name": t["name"], "container": t.get("container", {"image": "alpine"}),
                  **({"archiveLocation": t["archiveLocation"]} if "archiveLocation" in t else {})} for t in tasks]
    dag = [{"name": t["name"], "template": t["name"], **({"dependencies": t["after"]} if "after" in t else {})}
           for t in tasks]
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
            "metadata": {"name": name}, "spec": {"entrypoint": "p", **(spec or {}),
                                                  "templates": [{"name": "p", "dag": {"tasks": dag}}, *templates]}}


def _create(double: KubeDouble, wf: dict[str, Any]) -> None:
    store = double.store
    store.create(store.resource("argoproj.io", "workflows"), "ns", wf)


def _get(double: KubeDouble, name: str) -> dict[str, Any]:
    store = double.store
    return store.get(store.resource("argoproj.io", "workflows"), "ns", name)


def _node(double: KubeDouble, wf: str, task: str) -> dict[str, Any]:
    nodes = (_get(double, wf).get("status") or {}).get("nodes") or {}
    return next((n for n in nodes.values() if n.get("displayName") == task), {})


def _pods(double: KubeDouble) -> dict[str, dict[str, Any]]:
    with double.store.lock:
        return {k[3]: o for k, o in double.store.objects.items() if k[1] == "pods" and k[2] == "ns"}


def _secret(double: KubeDouble, name: str, data: dict[str, str]) -> None:
    store = double.store
    store.create(store.resource("", "secrets"), "ns", {"metadata": {"name": name}, "stringData": data})


def test_a_pending_pod_carries_the_container_waiting_reason_in_its_node(double: KubeDouble,
                                                                       sim: ArgoSimulator) -> None:
    """getPendingReason: `<reason>: <message>` of the first waiting container; the image back-off follows."""
    sim.missing_images = {"sh"}
    _create(double, _workflow("w", {"name": "a", "container": {"image": "sh"}}))
    first = wait_for(lambda: _node(double, "w", "a").get("message", "").startswith("ErrImagePull") and
                     _node(double, "w", "a"))
    assert first["phase"] == "Pending"
    assert 'failed to pull and unpack image "docker.io/library/sh:latest"' in first["message"]
    backoff = wait_for(lambda: _node(double, "w", "a").get("message", "").startswith("ImagePullBackOff") and
                       _node(double, "w", "a"))
    assert backoff["message"] == 'ImagePullBackOff: Back-off pulling image "sh"' and backoff["phase"] == "Pending"
    pod = next(iter(_pods(double).values()))
    assert pod["status"]["phase"] == "Pending"
    main = next(c for c in pod["status"]["containerStatuses"] if c["name"] == "main")
    assert main["state"]["waiting"]["reason"] == "ImagePullBackOff"


def test_a_missing_env_secret_is_create_container_config_error_until_it_exists(double: KubeDouble,
                                                                              sim: ArgoSimulator) -> None:
    """kubelet makeEnvironmentVariables; the kubelet keeps retrying, so the pod starts once the Secret is there."""
    env = [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "npm", "key": "token"}}}]
    _create(double, _workflow("w", {"name": "a", "container": {"image": "node", "env": env}}))
    node = wait_for(lambda: _node(double, "w", "a").get("message") and _node(double, "w", "a"))
    assert node["phase"] == "Pending" and node["message"] == 'CreateContainerConfigError: secret "npm" not found'
    _secret(double, "npm", {"other": "x"})
    wait_for(lambda: "couldn't find key token in Secret ns/npm" in _node(double, "w", "a").get("message", ""))
    double.store.patch(double.store.resource("", "secrets"), "ns", "npm", {"stringData": {"token": "t"}},
                       "application/merge-patch+json")
    done = wait_for(lambda: _get(double, "w").get("status", {}).get("phase") == "Succeeded" and _get(double, "w"))
    assert "message" not in next(n for n in done["status"]["nodes"].values() if n["displayName"] == "a")


def test_a_missing_volume_secret_leaves_the_pod_container_creating(double: KubeDouble, sim: ArgoSimulator) -> None:
    """kubelet volumemanager: no container starts before its volumes mount (FailedMount), reason ContainerCreating."""
    spec = {"volumes": [{"name": "creds", "secret": {"secretName": "registry"}}]}
    _create(double, _workflow("w", {"name": "a"}, spec=spec))
    node = wait_for(lambda: _node(double, "w", "a").get("message") and _node(double, "w", "a"))
    assert node["phase"] == "Pending" and node["message"] == "ContainerCreating"
    time.sleep(0.3)
    assert _node(double, "w", "a")["phase"] == "Pending"


def test_a_pod_whose_service_account_is_missing_is_refused(double: KubeDouble, sim: ArgoSimulator) -> None:
    """ServiceAccount admission refuses the pod; Argo's createWorkflowPod marks the node Error with the answer."""
    _create(double, _workflow("w", {"name": "a"}, spec={"serviceAccountName": "builder"}))
    done = wait_for(lambda: _get(double, "w").get("status", {}).get("phase") == "Failed" and _get(double, "w"))
    node = next(n for n in done["status"]["nodes"].values() if n["displayName"] == "a")
    assert node["phase"] == "Error"
    assert "is forbidden: error looking up service account ns/builder: serviceaccount \"builder\" not found" \
        in node["message"]
    assert _pods(double) == {}


def test_shutdown_deletes_pending_pods_at_once_and_terminates_running_ones(double: KubeDouble,
                                                                          sim: ArgoSimulator) -> None:
    """applyExecutionControl fails the nodes; pod/queue.go deletes a Pending pod, signals a running one."""
    sim.missing_images = {"sh"}
    sim.paused = {"run"}
    _create(double, _workflow("w", {"name": "run"}, {"name": "stuck", "container": {"image": "sh"}},
                              spec={"podGC": {"strategy": "OnWorkflowSuccess"}}))
    wait_for(lambda: _node(double, "w", "run").get("phase") == "Running"
             and _node(double, "w", "stuck").get("message"))
    pods = _pods(double)
    assert len(pods) == 2
    stuck_pod = next(n for n, p in pods.items() if p["status"]["phase"] == "Pending")
    double.store.patch(double.store.resource("argoproj.io", "workflows"), "ns", "w",
                       {"spec": {"shutdown": "Terminate"}}, "application/merge-patch+json")
    done = wait_for(lambda: _get(double, "w").get("status", {}).get("phase") == "Failed" and _get(double, "w"))
    assert done["status"]["message"] == STOP_MESSAGE
    for task in ("run", "stuck"):
        node = next(n for n in done["status"]["nodes"].values() if n["displayName"] == task)
        assert node["phase"] == "Failed" and node["message"] == NODE_STOP_MESSAGE
    left = _pods(double)
    assert stuck_pod not in left  # deleted at once
    (running,) = left.values()  # terminated, kept: OnWorkflowSuccess deletes nothing of a failed Workflow
    assert running["status"]["phase"] == "Failed"
    time.sleep(0.5)
    assert len(_pods(double)) == 1


def test_completed_pods_are_deleted_by_the_pod_gc_after_its_delay(double: KubeDouble, sim: ArgoSimulator) -> None:
    """determinePodCleanupAction: OnPodCompletion deletes each completed pod after the delete delay;
    without a podGC strategy pods stay."""
    _create(double, _workflow("gc", {"name": "a"}, {"name": "b", "after": ["a"]},
                              spec={"podGC": {"strategy": "OnPodCompletion", "deleteDelayDuration": "1s"}}))
    _create(double, _workflow("keep", {"name": "a"}))
    wait_for(lambda: _get(double, "gc").get("status", {}).get("phase") == "Succeeded"
             and _get(double, "keep").get("status", {}).get("phase") == "Succeeded")
    assert {p["metadata"]["labels"]["workflows.argoproj.io/workflow"] for p in _pods(double).values()} == \
        {"gc", "keep"}  # not at once: the delay
    wait_for(lambda: all(p["metadata"]["labels"]["workflows.argoproj.io/workflow"] == "keep"
                         for p in _pods(double).values()), timeout=5)
    assert len(_pods(double)) == 1
    assert sim.pod_gc_delay == 0.3 and ArgoSimulator(double).pod_gc_delay == 5.0  # Argo's default delay


def test_an_offloaded_workflow_keeps_only_the_node_status_version(double: KubeDouble, sim: ArgoSimulator) -> None:
    """hydrator.go Dehydrate: nodes go to the database, the Workflow keeps offloadNodeStatusVersion."""
    sim.offload = True
    _create(double, _workflow("w", {"name": "a"}, {"name": "b", "after": ["a"]}))
    done = wait_for(lambda: _get(double, "w").get("status", {}).get("phase") == "Succeeded" and _get(double, "w"))
    status = done["status"]
    assert status["offloadNodeStatusVersion"].startswith("fnv:")
    assert "nodes" not in status and "compressedNodes" not in status
    nodes = sim.offloaded[done["metadata"]["uid"]]
    assert {n["displayName"]: n["phase"] for n in nodes.values()} == {"w": "Succeeded", "a": "Succeeded",
                                                                     "b": "Succeeded"}


def _archived(task: str, s3: S3Server, bucket: str) -> dict[str, Any]:
    return {"name": task, "archiveLocation": {"archiveLogs": True, "s3": {
        "endpoint": s3.endpoint, "bucket": bucket, "insecure": True, "key": f"ns/w/1/{task}",
        "accessKeySecret": {"name": "logs", "key": "accesskey"},
        "secretKeySecret": {"name": "logs", "key": "secretkey"}}}}


def test_a_step_log_is_archived_at_its_key_and_a_missing_bucket_errors_the_node(
        double: KubeDouble, sim: ArgoSimulator, s3_server: S3Server) -> None:
    """SaveLogs writes `<key>/main.log`; saveS3Artifact creates no bucket, so the wait container fails and
    inferFailedReason makes the node Error with its message."""
    _secret(double, "logs", {"accesskey": ACCESS_KEY, "secretkey": SECRET_KEY})
    client = s3_server.client()
    bucket = "sim-archive"
    if client.bucket_exists(bucket):
        for obj in client.list_objects(bucket, recursive=True):
            client.remove_object(bucket, obj.object_name or "")
        client.remove_bucket(bucket)
    _create(double, {**_workflow("w", _archived("a", s3_server, bucket)), "metadata": {"name": "w"}})
    done = wait_for(lambda: _get(double, "w").get("status", {}).get("phase") == "Failed" and _get(double, "w"))
    node = next(n for n in done["status"]["nodes"].values() if n["displayName"] == "a")
    assert node["phase"] == "Error"
    assert node["message"].startswith("wait: Error (exit code 1): failed to put file: ")
    assert "bucket does not exist" in node["message"]
    client.make_bucket(bucket)
    _create(double, {**_workflow("w2", _archived("a", s3_server, bucket))})
    wait_for(lambda: _get(double, "w2").get("status", {}).get("phase") == "Succeeded")
    text = client.get_object(bucket, "ns/w/1/a/main.log").read().decode()
    assert text.startswith("step a of w2 on node-")
