"""The execution state machine, pure: the next step, and the status each ending writes."""

from __future__ import annotations

from translator.api.resources_types import PipelineExecutionStatus, StageStatus, StepStatus
from translator.api.states import ConditionType, State
from translator.controller.lifecycle import (
    Step,
    duration,
    ended,
    engine_lost,
    final_wire,
    next_step,
    stopped_before_start,
)

NOW = "2024-01-01T00:01:05Z"


def status(state: State, *steps: State) -> PipelineExecutionStatus:
    return PipelineExecutionStatus(
        execution_state=state, started="2024-01-01T00:00:00Z",
        stages=[StageStatus(name="Build", state=steps[0] if steps else State.WAITING,
                            steps=[StepStatus(state=s) for s in steps])])


def test_each_state_has_one_next_step() -> None:
    assert next_step(PipelineExecutionStatus(), stop_requested=False) is Step.INITIALIZE
    assert next_step(status(State.WAITING), stop_requested=False) is Step.ADMIT
    assert next_step(status(State.QUEUEING), stop_requested=True) is Step.STOP
    assert next_step(status(State.BUILDING), stop_requested=True) is Step.SYNC  # the engine stops it
    for final in (State.SUCCESS, State.FAILED, State.ABORTED, State.SKIPPED):
        assert next_step(status(final), stop_requested=False) is Step.FINISH


def test_a_stop_before_admission_aborts_every_waiting_step() -> None:
    before = status(State.QUEUEING, State.WAITING, State.WAITING)
    after = stopped_before_start(before, "ann", now=NOW)
    assert after.execution_state is State.ABORTED and after.ended == NOW
    assert [s.state for s in after.stages[0].steps] == [State.ABORTED, State.ABORTED]
    assert after.stages[0].steps[0].message == "stopped by ann" and after.stages[0].state is State.ABORTED
    built = next(c for c in after.conditions if c.type is ConditionType.BUILT)
    assert (built.status, built.reason) == ("False", "Stopped")
    assert before.execution_state is State.QUEUEING, "the input is not changed"


def test_a_lost_engine_fails_the_running_steps_and_aborts_the_rest() -> None:
    running = status(State.BUILDING, State.SUCCESS, State.BUILDING, State.WAITING)
    running.stages[0].state = State.BUILDING
    after = engine_lost(running, "Unreachable",
                        "jenkins down; gave up after 600 s", step_message="jenkins down", now=NOW)
    assert [s.state for s in after.stages[0].steps] == [State.SUCCESS, State.FAILED, State.ABORTED]
    assert after.stages[0].steps[1].message == "jenkins down"
    assert after.stages[0].state is State.FAILED and after.execution_state is State.FAILED
    assert next(c for c in after.conditions if c.type is ConditionType.BUILT).message.endswith("600 s")


def test_a_finished_run_says_how_long_it_took() -> None:
    wire = final_wire(ended(status(State.BUILDING), ConditionType.BUILT, "Failed", "boom", now=NOW))
    assert (wire["executionState"], wire["duration"]) == ("Failed", "1m5s")
    assert final_wire(status(State.BUILDING))["duration"] == ""
    assert duration("2024-01-01T00:00:00Z", "2024-01-01T02:00:03Z") == "2h0m3s"
    assert duration("", NOW) == ""
