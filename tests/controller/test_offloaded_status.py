"""Workflows whose node status Argo offloaded to its database (finding 11): the run says so in a
condition, keeps the step states it saw, follows the Workflow's phase, and fails no step for it."""

from __future__ import annotations

from typing import Any

from tests.controller.harness import System, wait_for
from translator.controller import runs


def _built(ex: dict[str, Any]) -> dict[str, Any]:
    return next((c for c in ex["status"].get("conditions", []) if c["type"] == "Built"), {})


def _states(ex: dict[str, Any]) -> list[list[str]]:
    return [[s["state"] for s in stage["steps"]] for stage in ex["status"]["stages"]]


def test_an_offloaded_run_says_so_and_ends_with_the_workflow(system: System) -> None:
    system.sim.paused = {"ship"}
    system.apply_pipeline("web")
    runs.create_run(system.kube, "team", "web")
    wait_for(lambda: system.execution("web-1")["status"]["stages"][2]["steps"][0]["state"] == "Building")
    system.sim.offload = True  # the node status grew past Argo's limit: from now on it is in the database
    ex = wait_for(lambda: _built(system.execution("web-1")).get("reason") == "NodeStatusOffloaded"
                  and system.execution("web-1"), what="the NodeStatusOffloaded condition")
    wf = system.workflows()[0]
    assert "nodes" not in wf["status"] and wf["status"]["offloadNodeStatusVersion"].startswith("fnv:")
    built = _built(ex)
    assert built["status"] == "Unknown" and wf["status"]["offloadNodeStatusVersion"] in built["message"]
    assert _states(ex) == [["Success"], ["Success", "Success"], ["Building"]]  # what was seen, nothing lost
    assert ex["status"]["executionState"] == "Building"
    system.sim.paused = set()
    done = system.wait_state("web-1", "Success")
    assert _states(done) == [["Success"], ["Success", "Success"], ["Success"]]
    assert _built(done)["status"] == "True"


def test_an_offloaded_failed_run_fails_no_step_it_cannot_see(system: System) -> None:
    system.sim.offload = True
    system.sim.outcome = lambda _wf, task: "Failed" if task == "build-2" else "Succeeded"
    system.apply_pipeline("web")
    runs.create_run(system.kube, "team", "web")
    done = system.wait_state("web-1", "Failed")
    assert "Failed" not in {s for stage in _states(done) for s in stage}
    built = _built(done)
    assert built["status"] == "False" and built["reason"] == "NodeStatusOffloaded"
    assert "which step failed is not known" in built["message"]
