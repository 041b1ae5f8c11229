"""Rancher's rules for an execution's status, on observations."""

from __future__ import annotations

from translator.api.resources_types import PipelineExecutionStatus
from translator.api.states import State
from translator.status.argo import StepObservation, WorkflowObservation
from translator.status.execution import StageLayout, StepLayout, derive

LAYOUT = [
    StageLayout("Clone", (StepLayout("clone"),)),
    StageLayout("Build", (StepLayout("build-1"), StepLayout("build-2"), StepLayout("build-3", True, "branch"))),
    StageLayout("Ship", (StepLayout("ship"),)),
]
NOW = "2026-01-01T00:00:00Z"


def _obs(phase: str, steps: dict[str, tuple[State, str]], shutdown: str = "") -> WorkflowObservation:
    state = {"Running": State.BUILDING, "Succeeded": State.SUCCESS, "Failed": State.FAILED}[phase]
    return WorkflowObservation(
        name="wf", phase=phase, state=state, started="t0", ended="t9" if state.finished else "", message="",
        steps={k: StepObservation(state=s, phase="", started="t1", ended="t2" if s.finished else "", message=m)
               for k, (s, m) in steps.items()}, shutdown=shutdown)


def _states(status: PipelineExecutionStatus) -> list[list[State]]:
    return [[s.state for s in stage.steps] for stage in status.stages]


def test_waiting_then_building_then_success() -> None:
    status = derive(LAYOUT, None, PipelineExecutionStatus(), now=NOW)
    assert _states(status) == [[State.WAITING], [State.WAITING, State.WAITING, State.SKIPPED], [State.WAITING]]
    assert status.stages[1].steps[2].message == "branch"
    running = derive(LAYOUT, _obs("Running", {"clone": (State.SUCCESS, ""), "build-1": (State.BUILDING, "")}),
                     status, now=NOW)
    assert running.execution_state is State.BUILDING
    assert [s.state for s in running.stages] == [State.SUCCESS, State.BUILDING, State.WAITING]
    done = derive(LAYOUT, _obs("Succeeded", {k: (State.SUCCESS, "") for k in ("clone", "build-1", "build-2", "ship")}),
                  running, now=NOW)
    assert done.execution_state is State.SUCCESS and done.ended == "t9"
    assert [s.state for s in done.stages] == [State.SUCCESS, State.SUCCESS, State.SUCCESS]
    built = next(c for c in done.conditions if c.type == "Built")
    assert built.status == "True"


def test_a_failed_step_aborts_running_siblings_and_later_stages_wait() -> None:
    obs = _obs("Running", {"clone": (State.SUCCESS, ""), "build-1": (State.FAILED, "exit code 2"),
                           "build-2": (State.BUILDING, "")})
    status = derive(LAYOUT, obs, PipelineExecutionStatus(), now=NOW)
    assert _states(status) == [[State.SUCCESS], [State.FAILED, State.ABORTED, State.SKIPPED], [State.WAITING]]
    assert status.execution_state is State.FAILED
    built = next(c for c in status.conditions if c.type == "Built")
    assert built.reason == "StepFailed" and "'Build' step 1 failed: exit code 2" in built.message


def test_stop_aborts_unfinished_steps_and_names_who() -> None:
    obs = _obs("Failed", {"clone": (State.SUCCESS, ""), "build-1": (State.FAILED, "Stopped with strategy 'Terminate'"),
                          "build-2": (State.BUILDING, "")}, shutdown="Terminate")
    status = derive(LAYOUT, obs, PipelineExecutionStatus(), now=NOW, stopped_by="alice")
    assert _states(status)[1][:2] == [State.ABORTED, State.ABORTED]
    assert status.execution_state is State.ABORTED
    assert status.stages[1].steps[0].message == "stopped by alice"
    assert next(c for c in status.conditions if c.type == "Built").message == "stopped by alice"


def test_lost_workflow_fails_with_the_reason() -> None:
    status = derive(LAYOUT, None, PipelineExecutionStatus(execution_state=State.BUILDING), now=NOW,
                    lost_reason="the Workflow was deleted while the run was Building")
    assert status.execution_state is State.FAILED and status.ended == NOW
    cond = next(c for c in status.conditions if c.type == "Built")
    assert cond.reason == "EngineObjectLost" and "deleted" in cond.message


def test_derive_is_stable_when_nothing_changed() -> None:
    obs = _obs("Running", {"clone": (State.SUCCESS, "")})
    first = derive(LAYOUT, obs, PipelineExecutionStatus(), now=NOW)
    assert derive(LAYOUT, obs, first, now="later") == first
