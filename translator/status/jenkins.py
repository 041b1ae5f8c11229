"""Pure: Jenkins' pipeline REST API (`wfapi/describe`) -> what each step did.

The Jenkinsfile the compiler writes runs each step as a named stage inside a parallel branch
(its step id, made distinct from every outer stage's name), so wfapi lists one stage entry per
step; the caller passes the stage name -> step id map. Rancher's lessons are kept: a SUCCESS
reported within a few milliseconds of its start while the build still runs is not final (wfapi
reports a branch that has not really started yet that way), a stage's NOT_EXECUTED is Skipped,
and a build stopped by a user is ABORTED. A *build's* NOT_EXECUTED is not final: wfapi answers it
while the run has no FlowExecution yet, i.e. the build is just starting (pipeline-stage-view
RunExt.initStatus: `execution == null` -> NOT_EXECUTED).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from translator.api.states import State
from translator.status.argo import StepObservation, WorkflowObservation

STAGE_STATUSES: dict[str, State] = {
    "SUCCESS": State.SUCCESS,
    "FAILED": State.FAILED,
    "UNSTABLE": State.FAILED,
    "ABORTED": State.ABORTED,
    "IN_PROGRESS": State.BUILDING,
    "PAUSED_PENDING_INPUT": State.BUILDING,
    "NOT_EXECUTED": State.SKIPPED,
    "QUEUED": State.WAITING,
}

BUILD_STATUSES: dict[str, State] = {
    "IN_PROGRESS": State.BUILDING,
    "QUEUED": State.BUILDING,
    "PAUSED_PENDING_INPUT": State.BUILDING,
    "SUCCESS": State.SUCCESS,
    "UNSTABLE": State.FAILED,
    "FAILED": State.FAILED,
    "ABORTED": State.ABORTED,
    "NOT_EXECUTED": State.BUILDING,  # no FlowExecution yet: starting (pipeline-stage-view RunExt.initStatus)
}
RUNNING = ("IN_PROGRESS", "QUEUED", "PAUSED_PENDING_INPUT", "NOT_EXECUTED")

NOT_FINAL_MILLIS = 50  # a SUCCESS this short, while the build runs, is a branch not yet started


def _stamp(millis: Any) -> str:
    """Epoch milliseconds -> RFC 3339 UTC, by arithmetic (this layer reads no clock and no tz data)."""
    if not millis:
        return ""
    seconds = int(millis) // 1000
    days, rest = divmod(seconds, 86400)
    # civil date from days since 1970-01-01 (H. Hinnant's algorithm)
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (month <= 2)
    hour, rest = divmod(rest, 3600)
    minute, second = divmod(rest, 60)
    return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}Z"


def observe(describe: dict[str, Any], tasks: Mapping[str, str] | Sequence[str], *,
            build_name: str = "") -> WorkflowObservation:
    """What Jenkins says about each step: `tasks` maps wfapi stage names to step ids (a list: the same)."""
    names = tasks if isinstance(tasks, Mapping) else {t: t for t in tasks}
    build_status = str(describe.get("status") or "IN_PROGRESS")
    running = build_status in RUNNING
    by_name = {str(s.get("name")): s for s in describe.get("stages") or []}
    steps = {}
    for stage_name, task in names.items():
        stage = by_name.get(stage_name)
        if stage is None:
            continue
        status = str(stage.get("status") or "IN_PROGRESS")
        state = STAGE_STATUSES.get(status, State.BUILDING)
        duration = int(stage.get("durationMillis") or 0)
        if state is State.SUCCESS and running and duration < NOT_FINAL_MILLIS:
            state = State.BUILDING  # Rancher's lesson: not final yet
        start = stage.get("startTimeMillis")
        end = int(start) + duration if start and state.finished else None
        error = stage.get("error") or {}
        steps[task] = StepObservation(
            state=state, phase=status, started=_stamp(start), ended=_stamp(end),
            message=str(error.get("message") or ("aborted" if status == "ABORTED" else "")),
            host_node=str(stage.get("execNode") or ""),
        )
    start = describe.get("startTimeMillis")
    end = describe.get("endTimeMillis")
    return WorkflowObservation(
        name=build_name or str(describe.get("name") or ""), phase=build_status,
        state=BUILD_STATUSES.get(build_status, State.BUILDING), started=_stamp(start),
        ended=_stamp(end) if not running else "", message="", steps=steps,
        shutdown="Abort" if build_status == "ABORTED" else "",
    )
