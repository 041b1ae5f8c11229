"""Pure: what the engine observed -> the PipelineExecution's status, by Rancher's rules.

- A step that does not match its `when` is Skipped from the start, with the reason.
- When a step fails, the siblings still running end Aborted and later stages stay Waiting.
- A stop ends every unfinished step Aborted and the run Aborted, naming who stopped it.
- A run whose engine object is gone before it finished ends Failed with that reason.
- A step whose pod cannot start (status.pending) past the start deadline fails the run with the
  kubelet's reason; until then its message says why it waits.
- When Argo offloaded the node status to its database (`status.offloadNodeStatusVersion`, no
  `status.nodes`), the steps keep what was last seen, a `Built` condition says why, and the run
  follows the Workflow's phase; no step is taken for failed or lost.
Time comes in as an argument; nothing here reads a clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from translator.api.resources_types import (
    Condition,
    PipelineExecutionStatus,
    StageStatus,
    StepStatus,
)
from translator.api.states import ConditionType, State
from translator.status.argo import StepObservation, WorkflowObservation
from translator.status.pending import CannotStart

_STOP_WORDS = ("terminated", "stopped with strategy", "shutdown", "shut down", "deleted")


@dataclass(frozen=True)
class StepLayout:
    id: str
    skipped: bool = False
    skip_reason: str = ""


@dataclass(frozen=True)
class StageLayout:
    name: str
    steps: tuple[StepLayout, ...] = field(default=())


def initial_stages(layout: list[StageLayout]) -> list[StageStatus]:
    """Every stage and step Waiting, or Skipped where its `when` did not match."""
    stages = []
    for stage in layout:
        steps = [StepStatus(state=State.SKIPPED, message=s.skip_reason) if s.skipped else StepStatus()
                 for s in stage.steps]
        state = State.SKIPPED if steps and all(s.state is State.SKIPPED for s in steps) else State.WAITING
        stages.append(StageStatus(name=stage.name, state=state, steps=steps))
    return stages


def _step_state(obs: StepObservation | None, *, stopping: bool) -> State:
    if obs is None:
        return State.WAITING
    if stopping and obs.state in (State.FAILED, State.WAITING, State.BUILDING) and (
        obs.state is not State.FAILED or any(w in obs.message.lower() for w in _STOP_WORDS)
    ):
        return State.ABORTED
    return obs.state


def stage_state(steps: list[StepStatus]) -> State:
    states = [s.state for s in steps]
    if State.FAILED in states:
        return State.FAILED
    if State.ABORTED in states:
        return State.ABORTED
    if states and all(s is State.SKIPPED for s in states):
        return State.SKIPPED
    if states and all(s in (State.SUCCESS, State.SKIPPED) for s in states):
        return State.SUCCESS
    if any(s is not State.WAITING and s is not State.SKIPPED for s in states):
        return State.BUILDING
    return State.WAITING


def derive(
    layout: list[StageLayout], obs: WorkflowObservation | None, previous: PipelineExecutionStatus, *,
    now: str, stopped_by: str = "", lost_reason: str = "",
    gave_up: Mapping[str, CannotStart] | None = None, start_deadline: int = 0,
) -> PipelineExecutionStatus:
    """The new status: previous fields kept, stages and state recomputed from `obs`.

    `gave_up`: the steps whose pod could not start within `start_deadline` seconds; they fail
    the run with the kubelet's reason even when it is being shut down because of them.
    """
    # a copy that shares nothing the caller may change: the stages are made anew below, the
    # conditions list is replaced item by item (set_condition), the rest is copied (a deep copy of the
    # stages was the largest cost of a status sync)
    status = previous.model_copy(update={
        "stages": [], "conditions": list(previous.conditions),
        "cache": previous.cache.model_copy(deep=True) if previous.cache is not None else None,
        "engine_ref": previous.engine_ref.model_copy(deep=True) if previous.engine_ref is not None else None})
    gave_up = gave_up or {}
    stopping = bool(stopped_by) or bool(obs and obs.shutdown)
    offloaded = obs.offloaded if obs else ""
    stages = initial_stages(layout)
    failed_at: int | None = None
    for si, plan_stage in enumerate(layout):
        for ti, step_layout in enumerate(plan_stage.steps):
            if step_layout.skipped:
                continue
            seen = obs.steps.get(step_layout.id) if obs else None
            if step_layout.id in gave_up:
                stuck = gave_up[step_layout.id]
                stages[si].steps[ti] = StepStatus(
                    state=State.FAILED, started=seen.started if seen else "", ended=now,
                    message=f"could not start within {start_deadline} s: {stuck.message}",
                    log=_previous_log(previous, si, ti))
            elif offloaded and seen is None:
                stages[si].steps[ti] = _offloaded_step(previous, si, ti, obs, now)
            else:
                state = _step_state(seen, stopping=stopping)
                if seen and seen.state is State.SKIPPED and not seen.message:
                    state = State.SKIPPED
                stages[si].steps[ti] = StepStatus(
                    state=state, started=seen.started if seen else "", ended=seen.ended if seen else "",
                    message=(f"stopped by {stopped_by}" if state is State.ABORTED and stopped_by
                             else seen.message if seen else ""),
                    log=_previous_log(previous, si, ti),
                )
            if stages[si].steps[ti].state is State.FAILED and failed_at is None:
                failed_at = si
    if failed_at is not None:
        # Rancher: the failed step's running siblings are aborted, later stages never start
        for step in stages[failed_at].steps:
            if step.state in (State.BUILDING, State.WAITING):
                step.state = State.ABORTED
                step.message = step.message or "aborted: a step of this stage failed"
                step.ended = step.ended or now
        for stage, plan_stage in zip(stages[failed_at + 1 :], layout[failed_at + 1 :], strict=True):
            for step, step_layout in zip(stage.steps, plan_stage.steps, strict=True):
                if not step_layout.skipped and step.state is not State.SUCCESS:
                    step.state, step.message, step.started, step.ended = State.WAITING, "", "", ""
    for stage in stages:
        stage.state = stage_state(stage.steps)
        started = [s.started for s in stage.steps if s.started]
        ended = [s.ended for s in stage.steps if s.ended]
        stage.started = min(started) if started else ""
        if stage.state.finished and ended:
            stage.ended = max(ended)
    status.stages = stages

    if gave_up:
        state = State.FAILED
    elif lost_reason and not (obs and obs.finished):
        state = State.FAILED
    elif stopping and (obs is None or obs.finished or all(
            s.state.finished or s.state is State.WAITING for st in stages for s in st.steps)):
        state = State.ABORTED
    elif obs is not None and obs.finished:
        state = State.FAILED if failed_at is not None else obs.state
    elif failed_at is not None:
        state = State.FAILED
    else:
        state = State.BUILDING
    status.execution_state = state
    if obs and obs.started and not status.started:
        status.started = obs.started
    if state.finished:
        status.ended = status.ended or (obs.ended if obs and obs.ended else now)
        set_condition(status, _built(state, stages, layout, stopped_by=stopped_by, lost_reason=lost_reason,
                                     gave_up=gave_up, start_deadline=start_deadline, obs=obs), now=now)
    elif offloaded:
        set_condition(status, Condition(
            type=ConditionType.BUILT, status="Unknown", reason=NODE_STATUS_OFFLOADED,
            message=f"{_offload_note(offloaded)}; steps show what was seen before, the run follows the "
                    "Workflow's phase"), now=now)
    return status


NODE_STATUS_OFFLOADED = "NodeStatusOffloaded"


def _offload_note(version: str) -> str:
    return (f"Argo keeps this run's node status in its database (status.offloadNodeStatusVersion {version}), "
            "not in the Workflow")


def _offloaded_step(previous: PipelineExecutionStatus, stage: int, step: int, obs: WorkflowObservation | None,
                    now: str) -> StepStatus:
    """A step Argo's offloaded status hides: what was last seen, settled by the Workflow's end."""
    try:
        kept = previous.stages[stage].steps[step].model_copy()
    except IndexError:
        kept = StepStatus()
    if obs is None or not obs.finished or kept.state.finished:
        return kept
    # a DAG whose tasks all depend on the previous stage Succeeds only when every task did
    # (argo-workflows workflow/controller/dag.go: assessDAGPhase)
    if obs.state is State.SUCCESS:
        kept.state, kept.message = State.SUCCESS, "from the Workflow's phase: Argo offloaded the node status"
    else:
        kept.state, kept.message = State.ABORTED, "state not known: Argo offloaded the node status"
    kept.ended = kept.ended or obs.ended or now
    return kept


def _built(state: State, stages: list[StageStatus], layout: list[StageLayout], *, stopped_by: str,
           lost_reason: str, gave_up: Mapping[str, CannotStart], start_deadline: int,
           obs: WorkflowObservation | None) -> Condition:
    built = Condition(type=ConditionType.BUILT)
    if state is State.SUCCESS:
        built.status, built.reason, built.message = "True", "Succeeded", "every step succeeded or was skipped"
    elif gave_up:
        built.status, built.reason = "False", next(iter(sorted(gave_up.items())))[1].reason
        built.message = _failure_message(stages, layout)
    elif state is State.ABORTED:
        built.status, built.reason = "False", "Stopped"
        built.message = f"stopped by {stopped_by}" if stopped_by else "the run was shut down"
    elif lost_reason:
        built.status, built.reason, built.message = "False", "EngineObjectLost", lost_reason
    elif obs is not None and obs.offloaded and not any(
            step.state is State.FAILED for stage in stages for step in stage.steps):
        built.status, built.reason = "False", NODE_STATUS_OFFLOADED
        ended = f"the Workflow ended {obs.phase or 'Failed'}" + (f": {obs.message}" if obs.message else "")
        built.message = f"{ended}; which step failed is not known: {_offload_note(obs.offloaded)}"
    else:
        built.status, built.reason = "False", "StepFailed"
        built.message = _failure_message(stages, layout)
    return built


def _failure_message(stages: list[StageStatus], layout: list[StageLayout]) -> str:
    for stage, plan_stage in zip(stages, layout, strict=True):
        for i, step in enumerate(stage.steps):
            if step.state is State.FAILED:
                if step.message.startswith("could not start"):
                    return f"stage {plan_stage.name!r} step {i + 1} {step.message}"
                detail = f": {step.message}" if step.message else ""
                return f"stage {plan_stage.name!r} step {i + 1} failed{detail}"
    return "the run failed"


def set_condition(status: PipelineExecutionStatus, cond: Condition, *, now: str) -> None:
    """Replace the condition of the same type; transition time moves only when status does."""
    for i, old in enumerate(status.conditions):
        if old.type == cond.type:
            cond.last_transition_time = old.last_transition_time if old.status == cond.status else now
            cond.last_update_time = old.last_update_time if old.model_dump() == {
                **cond.model_dump(), "last_update_time": old.last_update_time,
                "last_transition_time": old.last_transition_time} else now
            status.conditions[i] = cond
            return
    cond.last_transition_time = cond.last_update_time = now
    status.conditions.append(cond)


def _previous_log(previous: PipelineExecutionStatus, stage: int, step: int) -> str:
    try:
        return previous.stages[stage].steps[step].log
    except IndexError:
        return ""
