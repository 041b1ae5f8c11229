"""The execution state machine, pure: which step a PipelineExecution is at, and the status
each terminal transition writes. No client, no clock (times are passed in as RFC 3339 text).

    (new) --initialize--> Waiting --admit--> Building --sync--> Success | Failed | Aborted
                            |  ^                                    |
                            v  | (a slot frees)                     v
                          Queueing --stop--> Aborted             finish (notify, report, archive: once)
    initialize may end the run at once: Failed (no pipeline, no config, invalid, not compiled) or
    Skipped (the branch gets no runs).

The execution reconciler (reconcilers/execution.py) does the I/O each step needs; this module
only says which step comes next and what the status becomes.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

from translator.api.resources_types import Condition, PipelineExecutionStatus
from translator.api.states import ConditionType, State
from translator.status.execution import set_condition

FINAL_STATES = frozenset({"Success", "Failed", "Aborted", "Skipped"})
WAITING_STATES = frozenset({"", "Waiting", "Queueing"})  # "" : no status written yet
RUNNING_STATE = "Building"


class Step(Enum):
    """What the reconciler does next with an execution."""

    INITIALIZE = "initialize"  # run number, config snapshot, validation, initial stages
    STOP = "stop"  # a stop was asked before the run was admitted: Aborted without an engine
    ADMIT = "admit"  # quota and order decide; then submit to the engine
    SYNC = "sync"  # follow the engine's run into the status
    FINISH = "finish"  # the status is final: the finish actions, each once


def state_of(obj: dict[str, Any]) -> str:
    """The raw `status.executionState` of a cached object ("" when none was written)."""
    return str((obj.get("status") or {}).get("executionState") or "")


def next_step(status: PipelineExecutionStatus, *, stop_requested: bool) -> Step:
    state = status.execution_state
    if not status.stages and not status.conditions and state is State.WAITING:
        return Step.INITIALIZE
    if state.finished:
        return Step.FINISH
    if state in (State.WAITING, State.QUEUEING):
        return Step.STOP if stop_requested else Step.ADMIT
    return Step.SYNC


def ended(status: PipelineExecutionStatus, cond: ConditionType, reason: str, message: str, *, now: str,
          state: State = State.FAILED) -> PipelineExecutionStatus:
    """The status of a run that ends here, for the reason given (a copy; the input is kept)."""
    out = status.model_copy(deep=True)
    out.execution_state = state
    out.started = out.started or now
    out.ended = now
    set_condition(out, Condition(type=cond, status="False", reason=reason, message=message), now=now)
    return out


def stopped_before_start(status: PipelineExecutionStatus, who: str, *, now: str) -> PipelineExecutionStatus:
    """A stop asked while Waiting or Queueing: every waiting step and stage is Aborted."""
    out = status.model_copy(deep=True)
    for stage in out.stages:
        for step in stage.steps:
            if step.state is State.WAITING:
                step.state, step.message = State.ABORTED, f"stopped by {who}"
        stage.state = State.ABORTED if stage.state is State.WAITING else stage.state
    return ended(out, ConditionType.BUILT, "Stopped", f"stopped by {who}", now=now, state=State.ABORTED)


def engine_lost(status: PipelineExecutionStatus, reason: str, message: str, *, step_message: str, now: str,
                ) -> PipelineExecutionStatus:
    """The engine stayed unreachable past the deadline: running steps Failed, the others Aborted."""
    out = status.model_copy(deep=True)
    for stage in out.stages:
        for step in stage.steps:
            if not step.state.finished:
                step.state, step.ended = State.FAILED if step.state is State.BUILDING else State.ABORTED, now
                step.message = step.message or step_message
        if not stage.state.finished:  # decided once all its steps are
            stage.state = State.FAILED if any(st.state is State.FAILED for st in stage.steps) else State.ABORTED
    return ended(out, ConditionType.BUILT, reason, message, now=now)


def final_wire(status: PipelineExecutionStatus) -> dict[str, Any]:
    """The status as written: a finished run with both times also says how long it took."""
    wanted = status.to_wire()
    if wanted.get("executionState") in FINAL_STATES and wanted.get("started") and wanted.get("ended"):
        wanted["duration"] = duration(wanted["started"], wanted["ended"])
    return wanted


def parse_time(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def duration(started: str, ended: str) -> str:
    """`3m12s` between two RFC 3339 times ("" when either cannot be read)."""
    try:
        seconds = int((parse_time(ended) - parse_time(started)).total_seconds())
    except ValueError:
        return ""
    seconds = max(seconds, 0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes}m{secs}s" if hours else f"{minutes}m{secs}s" if minutes else f"{secs}s"
