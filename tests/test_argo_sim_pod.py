"""The simulator's one-pod runs, pod start cost and node loss, each as Argo and Kubernetes do it
(the cases of argo-workflows workflow/controller/container_set_template_test.go and
operator_test.go TestContainerSetWhenPodDeleted / ...WithDependenciesWhenPodDeleted)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.argo_sim import ArgoSimulator
from tests.controller.harness import wait_for
from tests.kube_double.server import KubeDouble

WF = ("argoproj.io", "workflows")


@pytest.fixture
def kube() -> Iterator[KubeDouble]:
    with KubeDouble() as double:
        double.create_namespace("ns")
        yield double


def _submit(kube: KubeDouble, containers: list[dict[str, Any]], name: str = "pod", **spec: Any) -> None:
    store = kube.store
    store.create(store.resource(*WF), "ns", {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
                                             "metadata": {"name": name}, "spec": {
        "entrypoint": "main", "templates": [{"name": "main", "containerSet": {"containers": containers}}], **spec}})


def _wf(kube: KubeDouble, name: str = "pod") -> dict[str, Any]:
    return kube.store.get(kube.store.resource(*WF), "ns", name)


def _by_display(wf: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n["displayName"]: n for n in (wf.get("status") or {}).get("nodes", {}).values()}


def _sim(kube: KubeDouble, **kw: Any) -> ArgoSimulator:
    return ArgoSimulator(kube, step_seconds=kw.pop("step_seconds", 0.05), **kw).start()


def test_a_container_set_is_one_pod_node_and_a_container_node_per_container(kube: KubeDouble) -> None:
    """TestContainerSetTemplate: one container -> 2 nodes, the Workflow Running, one pod."""
    sim = _sim(kube, step_seconds=5)
    try:
        _submit(kube, [{"name": "ctr-0", "image": "argoproj/argosay:v2"}])
        wf = wait_for(lambda: (w := _wf(kube)) and len(w.get("status", {}).get("nodes", {})) == 2 and w)
        assert wf["status"]["phase"] == "Running"
        nodes = _by_display(wf)
        assert nodes["pod"]["type"] == "Pod" and nodes["pod"]["id"] == "pod"
        assert nodes["ctr-0"]["type"] == "Container" and nodes["ctr-0"]["name"] == "pod.ctr-0"
        assert nodes["ctr-0"]["boundaryID"] == "pod" and nodes["pod"]["children"] == [nodes["ctr-0"]["id"]]
        pods = [k for k in kube.store.objects if k[1] == "pods"]
        assert [k[3] for k in pods] == ["pod"]  # the root node's pod is named after the Workflow
    finally:
        sim.stop()


def test_containers_run_after_their_dependencies_and_a_failure_ends_the_dependents(kube: KubeDouble) -> None:
    """emissary.go: a container's command waits for each dependency's exit code; a non-zero one ends it."""
    sim = _sim(kube, outcome=lambda _wf, c: "Failed" if c == "b" else "Succeeded")
    try:
        _submit(kube, [{"name": "a", "image": "x"}, {"name": "b", "image": "x", "dependencies": ["a"]},
                       {"name": "c", "image": "x", "dependencies": ["b"]}])
        wf = wait_for(lambda: (w := _wf(kube)) and w.get("status", {}).get("phase") in ("Failed", "Succeeded") and w)
        nodes = _by_display(wf)
        assert wf["status"]["phase"] == "Failed" and nodes["pod"]["phase"] == "Failed"
        assert nodes["a"]["phase"] == "Succeeded"
        assert nodes["b"]["phase"] == "Failed" and nodes["b"]["message"] == "b: Error (exit code 1): "
        assert nodes["c"]["phase"] == "Failed"  # its command never ran: the dependency's code
        assert nodes["b"]["id"] in nodes["a"]["children"] and nodes["c"]["id"] in nodes["b"]["children"]
        assert kube.store.logs[("ns", "pod", "a")]  # each container has its own log
    finally:
        sim.stop()


def test_a_deleted_pod_errors_the_workflow_the_pod_and_every_container(kube: KubeDouble) -> None:
    """TestContainerSetWithDependenciesWhenPodDeleted: Workflow Error, pod node "pod deleted",
    every container node "container deleted"."""
    sim = _sim(kube)
    sim.paused = {"main", "main2"}
    try:
        _submit(kube, [{"name": "main", "image": "alpine"}, {"name": "main2", "image": "alpine",
                                                              "dependencies": ["main"]}])
        wait_for(lambda: _by_display(_wf(kube)).get("pod", {}).get("phase") == "Running")
        kube.store.delete(kube.store.resource("", "pods"), "ns", "pod")
        wf = wait_for(lambda: (w := _wf(kube)) and w["status"].get("phase") == "Error" and w)
        nodes = _by_display(wf)
        assert nodes["pod"]["phase"] == "Error" and nodes["pod"]["message"] == "pod deleted"
        assert {(n["phase"], n["message"]) for k, n in nodes.items() if k != "pod"} == {("Error", "container deleted")}
    finally:
        sim.stop()


def test_terminate_ends_every_container_with_sigterm(kube: KubeDouble) -> None:
    sim = _sim(kube)
    sim.paused = {"a"}
    try:
        _submit(kube, [{"name": "a", "image": "x"}, {"name": "b", "image": "x", "dependencies": ["a"]}])
        wait_for(lambda: _by_display(_wf(kube)).get("a", {}).get("phase") == "Running")
        store = kube.store
        wf = _wf(kube)
        store.replace(store.resource(*WF), "ns", "pod", {**wf, "spec": {**wf["spec"], "shutdown": "Terminate"}})
        done = wait_for(lambda: (w := _wf(kube)) and w["status"].get("phase") == "Failed" and w)
        nodes = _by_display(done)
        assert done["status"]["message"] == nodes["pod"]["message"] == "Stopped with strategy 'Terminate'"
        assert nodes["a"]["message"] == "a: Error (exit code 143): "
    finally:
        sim.stop()


def test_each_pod_pays_its_start_cost_once(kube: KubeDouble) -> None:
    """Scheduling, sandbox and Argo's init container: the pod is Pending that long, once for all its containers."""
    sim = _sim(kube, pod_start_seconds=0.4, step_seconds=0.01)
    try:
        began = time.monotonic()
        _submit(kube, [{"name": f"c{i}", "image": "x", **({"dependencies": [f"c{i - 1}"]} if i else {})}
                       for i in range(5)])
        wait_for(lambda: _by_display(_wf(kube)).get("pod", {}).get("phase") == "Running", timeout=5)
        assert time.monotonic() - began >= 0.4
        wait_for(lambda: _wf(kube)["status"].get("phase") == "Succeeded", timeout=5)
        assert time.monotonic() - began < 0.4 * 5  # not once per container
    finally:
        sim.stop()


def test_a_lost_nodes_pods_make_no_progress_and_the_node_goes_unknown(kube: KubeDouble) -> None:
    """kubernetes nodelifecycle: Ready=Unknown NodeStatusUnknown; the pod keeps its last status."""
    sim = _sim(kube, nodes=("n1",), step_seconds=0.2)
    try:
        _submit(kube, [{"name": "a", "image": "x"}])
        wait_for(lambda: _by_display(_wf(kube)).get("a", {}).get("phase") == "Running")
        sim.lose_node("n1")
        node = kube.store.get(kube.store.resource("", "nodes"), "", "n1")
        ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
        assert (ready["status"], ready["reason"]) == ("Unknown", "NodeStatusUnknown")
        time.sleep(0.6)
        assert _by_display(_wf(kube))["a"]["phase"] == "Running" and _wf(kube)["status"]["phase"] == "Running"
        _submit(kube, [{"name": "b", "image": "x"}], name="later")
        time.sleep(0.2)  # nothing new is scheduled on the unreachable node (its NoSchedule taint)
        assert "hostNodeName" not in _by_display(_wf(kube, "later"))["later"]
    finally:
        sim.stop()


def test_a_pinned_step_goes_to_the_node_its_anchor_published(kube: KubeDouble) -> None:
    """The anchor's output parameter (executor SaveParameters) feeds the next task's argument, and
    the template's own affinity (workflowpod.go) requires that node by matchFields metadata.name."""
    sim = _sim(kube, nodes=tuple(f"n{i}" for i in range(10)))
    try:
        store = kube.store
        follower_affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In",
                                                    "values": ["{{inputs.parameters.node}}"]}]}]}}}
        store.create(store.resource(*WF), "ns", {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
                                                 "metadata": {"name": "w"}, "spec": {"entrypoint": "p", "templates": [
            {"name": "p", "dag": {"tasks": [
                {"name": "a", "template": "a"},
                *({"name": f"b{i}", "template": "b", "dependencies": ["a"], "arguments": {"parameters": [
                    {"name": "node", "value": "{{tasks.a.outputs.parameters.node}}"}]}} for i in range(5))]}},
            {"name": "a", "container": {"image": "x"},
             "outputs": {"parameters": [{"name": "node", "valueFrom": {"path": "/tmp/translator-node"}}]}},
            {"name": "b", "container": {"image": "x"}, "inputs": {"parameters": [{"name": "node"}]},
             "affinity": follower_affinity}]}})
        wait_for(lambda: _wf(kube, "w").get("status", {}).get("phase") == "Succeeded")
        placed = {t: n for w, t, n in sim.placements if w == "w"}
        assert len(placed) == 6 and len(set(placed.values())) == 1, placed
    finally:
        sim.stop()


def test_a_mount_path_used_twice_in_a_container_of_the_set_is_refused(kube: KubeDouble) -> None:
    """The Workflow CRD's list-map keys refuse it at the API server; Argo's validate.go (one
    volume per mountPath, the set's own mounts included) would refuse it next."""
    from tests.argo_sim_rules import refusal
    from tests.kube_double.errors import ApiError

    containers = [{"name": "a", "image": "x", "volumeMounts": [{"name": "w", "mountPath": "/w"},
                                                              {"name": "v", "mountPath": "/w"}]}]
    with pytest.raises(ApiError, match="Duplicate value"):
        _submit(kube, containers)
    wf = {"metadata": {"name": "pod"}, "spec": {"entrypoint": "main", "templates": [
        {"name": "main", "containerSet": {"containers": [{"name": "a", "image": "x", "volumeMounts": [
            {"name": "w", "mountPath": "/w"}]}], "volumeMounts": [{"name": "v", "mountPath": "/w"}]}}]}}
    assert "containerSet.containers[0].volumeMounts[1].mountPath '/w' already mounted" in refusal(wf, "v4.1")
