"""Both forms of an Argo run through the real controller and the simulator: one pod per run
(a containerSet) and pod-per-step pinned to one node. Success, failure, stop, rerun
--from-failed, node loss, a cache hit and the bounded wait, each in both."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.compiler.views import containers, is_one_pod
from tests.controller.harness import System, wait_for
from tests.controller.test_cache_placement import CACHED, _inventory
from tests.kube_double.server import KubeDouble
from translator.controller import runs

NODES = tuple(f"node-{i}" for i in range(10))
FORMS = ["pod", "pinned"]


@pytest.fixture(params=FORMS)
def system(request: pytest.FixtureRequest) -> Iterator[System]:
    with KubeDouble() as kube:
        sys_ = System(kube, nodes=NODES, setting={"argo": {"runForm": request.param}, "cache": {"waitSeconds": 1}})
        sys_.form = request.param  # type: ignore[attr-defined]
        sys_.start_controller()
        try:
            yield sys_
        finally:
            sys_.close()


def _workflow(system: System, name: str) -> dict[str, Any]:
    return next(w for w in system.workflows() if w["metadata"]["name"] == name)


def _states(ex: dict[str, Any]) -> list[list[str]]:
    return [[s["state"] for s in st["steps"]] for st in ex["status"]["stages"]]


def _built(ex: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in ex["status"]["conditions"] if c["type"] == "Built")


def test_a_run_succeeds_on_one_node(system: System) -> None:
    system.apply_pipeline("web")
    runs.create_run(system.kube, "team", "web")
    ex = system.wait_state("web-1", "Success")
    assert _states(ex) == [["Success"], ["Success", "Success"], ["Success"]]
    wf = _workflow(system, "web-1")
    assert is_one_pod(wf) is (system.form == "pod")  # type: ignore[attr-defined]
    assert set(containers(wf)) == {"clone", "build-1", "build-2", "ship"}
    placed = [n for w, _t, n in system.sim.placements if w == "web-1"]
    assert len(placed) == 4 and len(set(placed)) == 1, placed  # every step on the first step's node, of ten
    pods = system.kube.call(system.kube.core.list_namespaced_pod, "team").items
    assert len(pods) == (1 if system.form == "pod" else 4)  # type: ignore[attr-defined]


def test_a_failed_step_fails_the_run_and_later_stages_never_start(system: System) -> None:
    system.sim.outcome = lambda _wf, task: "Failed" if task == "build-1" else "Succeeded"
    system.apply_pipeline("web")
    runs.create_run(system.kube, "team", "web")
    ex = system.wait_state("web-1", "Failed")
    states = _states(ex)
    assert states[0] == ["Success"] and states[1][0] == "Failed" and states[2] == ["Waiting"]
    assert states[1][1] in ("Success", "Aborted")
    assert _built(ex)["reason"] == "StepFailed" and "'Build' step 1 failed" in _built(ex)["message"]


def test_a_stop_aborts_the_run(system: System) -> None:
    system.sim.paused = {"build-1", "build-2"}
    system.apply_pipeline("web")
    runs.create_run(system.kube, "team", "web")
    wait_for(lambda: _states(system.execution("web-1"))[1] == ["Building", "Building"], what="Build running")
    runs.request_stop(system.kube, "team", "web-1", "alice")
    ex = system.wait_state("web-1", "Aborted")
    assert _states(ex)[1] == ["Aborted", "Aborted"] and _states(ex)[2] == ["Waiting"]
    assert _built(ex)["reason"] == "Stopped"


def test_rerun_from_failed_runs_only_what_failed(system: System) -> None:
    system.sim.outcome = lambda _wf, task: "Failed" if task == "build-2" else "Succeeded"
    system.apply_pipeline("web")
    runs.create_run(system.kube, "team", "web")
    system.wait_state("web-1", "Failed")
    system.sim.outcome = lambda _wf, _task: "Succeeded"
    again = runs.rerun(system.kube, "team", "web-1", from_failed=True)
    ex = system.wait_state(again["metadata"]["name"], "Success")
    assert ex["status"]["stages"][1]["steps"][1]["state"] == "Success"
    assert ex["status"]["stages"][1]["steps"][0]["message"] == "reused from run 1"
    name = ex["status"]["engineRef"]["workflowName"]
    if system.form == "pod":  # type: ignore[attr-defined]
        assert "build-1" not in containers(_workflow(system, name))  # reused: left out of the pod
    placed = {n for w, _t, n in system.sim.placements if w == name}
    assert len(placed) == 1


def test_a_lost_node_fails_the_run_within_seconds_naming_it(system: System) -> None:
    system.sim.paused = {"build-1"}
    system.apply_pipeline("web")
    runs.create_run(system.kube, "team", "web")
    wait_for(lambda: _states(system.execution("web-1"))[1][0] == "Building", what="build-1 running")
    node = next(n for w, t, n in system.sim.placements if w == "web-1" and t == "build-1")
    began = time.monotonic()
    system.sim.lose_node(node)
    ex = system.wait_state("web-1", "Failed", timeout=5)
    assert time.monotonic() - began < 5  # not the run's deadline, not the pods' 300 s eviction
    built = _built(ex)
    assert built["status"] == "False" and built["reason"] == "NodeLost" and node in built["message"]
    assert ex["status"]["stages"][1]["steps"][0]["state"] == "Failed"
    assert node in ex["status"]["stages"][1]["steps"][0]["message"]
    system.sim.paused = set()
    rerun = runs.rerun(system.kube, "team", "web-1", from_failed=True)
    again = system.wait_state(rerun["metadata"]["name"], "Success", timeout=15)
    assert again["status"]["stages"][0]["steps"][0]["state"] == "Success"  # a new workspace: cloned again
    name = again["status"]["engineRef"]["workflowName"]
    assert all(n != node for w, _t, n in system.sim.placements if w == name)  # not on the lost node


def _execution_reconciles(system: System) -> float:
    assert system.controller is not None
    return system.controller.metrics.reconciles.labels(kind="execution")._value.get()


def test_a_run_on_a_healthy_node_is_not_looked_at_again_until_something_changes(system: System) -> None:
    """The node check is woken by the Node's watch, not by a timer per run: a Building run whose
    step waits costs no reconcile (and no request) while its node stays Ready."""
    system.sim.paused = {"build-1"}
    system.apply_pipeline("web")
    runs.create_run(system.kube, "team", "web")
    wait_for(lambda: _states(system.execution("web-1"))[1][0] == "Building", what="build-1 running")
    time.sleep(0.5)  # the Workflow's last writes for the step's start are synced
    before = _execution_reconciles(system)
    time.sleep(4)
    assert _execution_reconciles(system) - before == 0
    assert system.controller is not None and system.controller.node_watch.watching() == 1
    system.sim.paused = set()
    system.wait_state("web-1", "Success", timeout=15)
    wait_for(lambda: system.controller is not None and system.controller.node_watch.watching() == 0,
             what="the finished run forgotten by the node check")


def test_the_run_is_placed_where_its_cache_is(system: System) -> None:
    _inventory(system, "node-7", ["team/web"])
    system.apply_pipeline("web", CACHED)
    wait_for(lambda: system.controller and system.controller.cache_index.lookup("team", "web", time.time())[0])
    runs.create_run(system.kube, "team", "web")
    ex = system.wait_state("web-1", "Success")
    assert ex["status"]["cache"]["node"] == "node-7" and ex["status"]["cache"]["result"] == "Hit"
    assert {n for w, _t, n in system.sim.placements if w == "web-1"} == {"node-7"}  # the clone too


def test_a_busy_holder_is_waited_for_then_the_run_goes_cold(system: System) -> None:
    _inventory(system, "node-3", ["team/web"])
    system.sim.busy = {"node-3"}
    system.apply_pipeline("web", CACHED)
    wait_for(lambda: system.controller and system.controller.cache_index.lookup("team", "web", time.time())[0])
    runs.create_run(system.kube, "team", "web")
    wait_for(lambda: any(c["reason"] == "WaitingForCache"
                         for c in system.execution("web-1")["status"].get("conditions") or []))
    ex = system.wait_state("web-1", "Success", timeout=20)
    assert ex["status"]["cache"]["ranCold"] and ex["status"]["engineRef"]["workflowName"] == "web-1-cold"
    placed = {n for w, _t, n in system.sim.placements if w == "web-1-cold"}
    assert len(placed) == 1 and "node-3" not in placed


def test_a_run_without_cache_carries_no_affinity(system: System) -> None:
    system.apply_pipeline("web")
    runs.create_run(system.kube, "team", "web")
    system.wait_state("web-1", "Success")
    assert "affinity" not in _workflow(system, "web-1")["spec"]


def test_a_one_pod_run_with_an_image_that_cannot_be_pulled_waits_saying_why() -> None:
    """The pod starts only when every container can: its first step shows the kubelet's reason
    (the pod node's message, as Argo writes it), and the start deadline fails the run with it."""
    bad = {"stages": [{"name": "Build", "steps": [{"runScriptConfig": {"image": "sh", "shellScript": "echo"}}]}]}
    with KubeDouble() as kube:
        system = System(kube)
        system.sim.missing_images = {"sh"}
        system.start_controller(start_deadline_seconds=2)
        try:
            system.apply_pipeline("web", bad)
            runs.create_run(system.kube, "team", "web")
            wait_for(lambda: "ImagePull" in system.execution("web-1")["status"]["stages"][0]["steps"][0]["message"],
                     timeout=5, what="the clone step to name the pull error")
            ex = system.wait_state("web-1", "Failed", timeout=10)
            assert "ImagePull" in _built(ex)["message"], _built(ex)
        finally:
            system.close()
