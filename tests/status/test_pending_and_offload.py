"""Pure decisions: which waiting steps cannot start, and an offloaded node status in derive()."""

from __future__ import annotations

import dataclasses

from tests.status.test_execution import LAYOUT, NOW, _obs, _states
from translator.api.resources_types import PipelineExecutionStatus
from translator.api.states import State
from translator.status.execution import derive
from translator.status.pending import CannotStart, cannot_start, overdue, waiting_reason


def test_only_kubelet_reasons_that_block_the_start_count() -> None:
    assert waiting_reason('ImagePullBackOff: Back-off pulling image "sh"') == "ImagePullBackOff"
    assert waiting_reason('CreateContainerConfigError: secret "x" not found') == "CreateContainerConfigError"
    assert waiting_reason("InvalidImageName") == "InvalidImageName"
    for harmless in ("Waiting for lock", "ContainerCreating", "PodInitializing",
                     "Unschedulable: 0/3 nodes are available: 3 Insufficient cpu.", ""):
        assert waiting_reason(harmless) == "", harmless


def test_cannot_start_reads_waiting_steps_of_a_running_workflow() -> None:
    obs = _obs("Running", {"clone": (State.SUCCESS, ""), "build-1": (State.WAITING, "ErrImagePull: not found"),
                           "build-2": (State.WAITING, "Waiting for lock")})
    assert cannot_start(obs) == {"build-1": CannotStart("ErrImagePull", "ErrImagePull: not found")}
    assert cannot_start(None) == {}
    assert cannot_start(_obs("Failed", {"build-1": (State.WAITING, "ErrImagePull: x")})) == {}


def test_overdue_after_the_limit_and_the_time_to_the_next() -> None:
    assert overdue({"a": 100.0, "b": 250.0}, now=400.0, limit=300) == (["a"], 150.0)
    assert overdue({"a": 100.0}, now=399.0, limit=300) == ([], 1.0)
    assert overdue({}, now=1.0, limit=300) == ([], None)


def test_a_step_given_up_on_fails_the_run_with_the_kubelet_reason_even_when_shutting_down() -> None:
    obs = _obs("Running", {"clone": (State.SUCCESS, ""), "build-1": (State.WAITING, "ErrImagePull: gone"),
                           "build-2": (State.BUILDING, "")}, shutdown="Terminate")
    status = derive(LAYOUT, obs, PipelineExecutionStatus(), now=NOW, start_deadline=300,
                    gave_up={"build-1": CannotStart("ErrImagePull", "ErrImagePull: gone")})
    assert status.execution_state is State.FAILED
    assert _states(status) == [[State.SUCCESS], [State.FAILED, State.ABORTED, State.SKIPPED], [State.WAITING]]
    assert status.stages[1].steps[0].message == "could not start within 300 s: ErrImagePull: gone"
    built = next(c for c in status.conditions if c.type == "Built")
    assert (built.status, built.reason) == ("False", "ErrImagePull")


def test_an_offloaded_status_keeps_what_was_seen_and_says_why() -> None:
    seen = derive(LAYOUT, _obs("Running", {"clone": (State.SUCCESS, ""), "build-1": (State.BUILDING, "")}),
                  PipelineExecutionStatus(), now=NOW)
    hidden = dataclasses.replace(_obs("Running", {}), offloaded="fnv:42")
    running = derive(LAYOUT, hidden, seen, now=NOW)
    assert _states(running) == _states(seen)  # nothing regresses to Waiting, nothing is failed or lost
    assert running.execution_state is State.BUILDING
    cond = next(c for c in running.conditions if c.type == "Built")
    assert (cond.status, cond.reason) == ("Unknown", "NodeStatusOffloaded") and "fnv:42" in cond.message
    ok = derive(LAYOUT, dataclasses.replace(_obs("Succeeded", {}), offloaded="fnv:43"), running, now=NOW)
    assert ok.execution_state is State.SUCCESS
    assert _states(ok) == [[State.SUCCESS], [State.SUCCESS, State.SUCCESS, State.SKIPPED], [State.SUCCESS]]
    failed = derive(LAYOUT, dataclasses.replace(_obs("Failed", {}), offloaded="fnv:44"), running, now=NOW)
    assert failed.execution_state is State.FAILED
    assert State.FAILED not in {s for stage in _states(failed) for s in stage}
    cond = next(c for c in failed.conditions if c.type == "Built")
    assert (cond.status, cond.reason) == ("False", "NodeStatusOffloaded")
    assert "which step failed is not known" in cond.message
