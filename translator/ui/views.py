"""What the pages show, computed from the objects as the API server returned them: pure functions.

They read raw dicts (a history of 10,000 runs is not worth 10,000 model validations per render)
and take the clock as an argument. The run page's grid follows Rancher's: stages left to
right (the implicit Clone stage first, as `compiler.plan` adds it), each step a card with its
state, duration and why it was skipped or reused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from translator.controller.labels import stage_layout
from translator.ui.index import RunIndex, Selection

FINISHED = ("Success", "Failed", "Aborted", "Skipped")
STATES = ("Waiting", "Queueing", "Building", "Success", "Failed", "Aborted", "Skipped")


def parse_time(stamp: str) -> datetime | None:
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")) if stamp else None
    except ValueError:
        return None


def fmt_duration(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes}m{secs}s" if hours else f"{minutes}m{secs}s" if minutes else f"{secs}s"


def duration(started: str, ended: str, now: datetime) -> str:
    start = parse_time(started)
    if start is None:
        return ""
    return fmt_duration(((parse_time(ended) or now) - start).total_seconds())


def _status(obj: dict[str, Any]) -> dict[str, Any]:
    status = obj.get("status")
    return status if isinstance(status, dict) else {}


def _spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else {}


def state_of(obj: dict[str, Any]) -> str:
    return str(_status(obj).get("executionState") or "Waiting")


# ---------------------------------------------------------------------------- the stage grid


@dataclass(frozen=True)
class StepCard:
    stage: int
    index: int  # from 1, as `translator logs --step` counts
    label: str
    state: str
    duration: str
    note: str


@dataclass(frozen=True)
class StageColumn:
    index: int
    name: str
    state: str
    duration: str
    steps: tuple[StepCard, ...]


def grid(ex: dict[str, Any], now: datetime) -> tuple[StageColumn, ...]:
    layout = stage_layout(_spec(ex).get("pipelineConfig"))
    stages = [s for s in _status(ex).get("stages") or [] if isinstance(s, dict)]
    columns = []
    for si in range(max(len(layout), len(stages))):
        name, labels = layout[si] if si < len(layout) else ("", [])
        stage = stages[si] if si < len(stages) else {}
        steps = [s for s in stage.get("steps") or [] if isinstance(s, dict)]
        cards = []
        for ti in range(max(len(labels), len(steps))):
            step = steps[ti] if ti < len(steps) else {}
            cards.append(StepCard(si, ti + 1, labels[ti] if ti < len(labels) else f"step {ti + 1}",
                                  str(step.get("state") or "Waiting"),
                                  duration(str(step.get("started") or ""), str(step.get("ended") or ""), now),
                                  str(step.get("message") or "")))
        columns.append(StageColumn(si, str(stage.get("name") or name), str(stage.get("state") or "Waiting"),
                                   duration(str(stage.get("started") or ""), str(stage.get("ended") or ""), now),
                                   tuple(cards)))
    return tuple(columns)


# ---------------------------------------------------------------------------- conditions


@dataclass(frozen=True)
class Notice:
    level: str  # info, warn, error
    text: str


Queue = Callable[[], tuple[int, int]]  # (runs waiting ahead of this one, runs building): asked only when queued


def notices(ex: dict[str, Any], queue: Queue) -> tuple[Notice, ...]:
    status = _status(ex)
    out: list[Notice] = []
    state = state_of(ex)
    if state == "Queueing":
        ahead, building = queue()
        out.append(Notice("warn", f"Queued behind {ahead} run(s): {building} running in the namespace"
                                  " (the setting's executorQuota)"))
    conditions = {c.get("type"): c for c in status.get("conditions") or [] if isinstance(c, dict)}
    cached = conditions.get("Cached")
    if cached:
        reason, message = cached.get("reason", ""), cached.get("message", "")
        if reason == "WaitingForCache":
            out.append(Notice("warn", f"Waiting for a cache holder: {message}"))
        elif reason == "RanCold":
            out.append(Notice("warn", f"Ran cold: {message}"))
        elif message:
            out.append(Notice("info", f"Cache: {message}"))
    for kind, label in (("Initialized", "Not started"), ("Provisioned", "Engine"), ("Built", "Run")):
        cond = conditions.get(kind)
        if not cond or cond.get("status") != "False":
            continue
        message = str(cond.get("message") or cond.get("reason") or "")
        if kind == "Provisioned" and state not in FINISHED:
            out.append(Notice("error", f"Engine unreachable ({cond.get('reason', '')}): {message}"))
        else:
            out.append(Notice("error", f"{label}: {message}"))
    for kind in ("Notified", "Reported"):
        cond = conditions.get(kind)
        if cond and cond.get("message"):
            out.append(Notice("info" if cond.get("status") != "False" else "warn", f"{kind}: {cond['message']}"))
    return tuple(out)


# ---------------------------------------------------------------------------- the run page


def jenkins_base(namespace: str, setting: dict[str, Any] | None, jenkins_url: str) -> str:
    """Where users reach the run's Jenkins: the setting's external `jenkins.url`, else (the Jenkins the
    controller deploys in the namespace, `jenkins.<namespace>.svc`, not reachable from a browser) the UI's
    `--jenkins-url`, its `{namespace}` replaced by the run's namespace; "" when neither says."""
    configured = str((((setting or {}).get("spec") or {}).get("jenkins") or {}).get("url") or "")
    if configured:
        return configured.rstrip("/")
    return jenkins_url.replace("{namespace}", quote(namespace, safe="")).rstrip("/")


def engine_link(ex: dict[str, Any], setting: dict[str, Any] | None, argo_url: str,
                jenkins_url: str = "") -> tuple[str, str, str]:
    """(engine, label, url or "") of the engine's object: the Argo UI's Workflow, or the Jenkins build."""
    ref = _status(ex).get("engineRef") or {}
    engine = str(ref.get("engine") or "")
    if engine == "argo" and ref.get("workflowName"):
        ns, name = str(ref.get("workflowNamespace") or ex["metadata"]["namespace"]), str(ref["workflowName"])
        url = f"{argo_url.rstrip('/')}/workflows/{quote(ns)}/{quote(name)}" if argo_url else ""
        return engine, f"Workflow {ns}/{name}", url
    if engine == "jenkins" and ref.get("jenkinsJob"):
        job, build = str(ref["jenkinsJob"]), int(ref.get("jenkinsBuild") or 0)
        base = jenkins_base(str(ex["metadata"].get("namespace") or ""), setting, jenkins_url)
        url = f"{base}/job/{quote(job)}/{build}/" if base and build else ""
        return engine, f"Jenkins job {job} #{build}" if build else f"Jenkins job {job}", url
    return engine, "", ""


@dataclass(frozen=True)
class RunView:
    namespace: str
    name: str
    pipeline: str
    run: int
    state: str
    branch: str
    commit: str
    event: str
    triggered_by: str
    started: str
    duration: str
    stages: tuple[StageColumn, ...]
    notices: tuple[Notice, ...]
    engine: str
    engine_label: str
    engine_url: str
    rerun_of: str
    finished: bool
    failed: bool


def run_view(ex: dict[str, Any], queue: Queue, setting: dict[str, Any] | None,
             argo_url: str, now: datetime, jenkins_url: str = "") -> RunView:
    spec, status = _spec(ex), _status(ex)
    state = state_of(ex)
    engine, label, url = engine_link(ex, setting, argo_url, jenkins_url)
    who = str(spec.get("triggeredBy") or "user")
    if spec.get("triggerUserName"):
        who += f" ({spec['triggerUserName']})"
    return RunView(
        namespace=ex["metadata"]["namespace"], name=ex["metadata"]["name"], pipeline=str(spec.get("pipelineName", "")),
        run=int(spec.get("run") or 0), state=state, branch=str(spec.get("branch") or ""),
        commit=str(spec.get("commit") or ""), event=str(spec.get("event") or "push"), triggered_by=who,
        started=str(status.get("started") or ""),
        duration=str(status.get("duration") or "") or duration(str(status.get("started") or ""),
                                                              str(status.get("ended") or ""), now),
        stages=grid(ex, now), notices=notices(ex, queue), engine=engine, engine_label=label, engine_url=url,
        rerun_of=str(spec.get("rerunOf") or ""), finished=state in FINISHED, failed=state in ("Failed", "Aborted"),
    )


# ---------------------------------------------------------------------------- lists


@dataclass(frozen=True)
class HistoryRow:
    name: str
    run: int
    state: str
    branch: str
    commit: str
    triggered_by: str
    started: str
    duration: str


@dataclass(frozen=True)
class HistoryPage:
    rows: tuple[HistoryRow, ...]
    total: int
    page: int
    pages: int
    branches: tuple[str, ...] = field(default=())


def history_page(selection: Selection, now: datetime) -> HistoryPage:
    rows = []
    for o in selection.runs:
        spec, status = _spec(o), _status(o)
        rows.append(HistoryRow(o["metadata"]["name"], int(spec.get("run") or 0), state_of(o),
                               str(spec.get("branch") or ""), str(spec.get("commit") or "")[:7],
                               str(spec.get("triggerUserName") or spec.get("triggeredBy") or ""),
                               str(status.get("started") or ""),
                               str(status.get("duration") or "") or duration(str(status.get("started") or ""),
                                                                            str(status.get("ended") or ""), now)))
    return HistoryPage(tuple(rows), selection.total, selection.page, selection.pages, selection.branches)


def history(executions: list[dict[str, Any]], pipeline: str, now: datetime, *, branch: str = "", state: str = "",
            page: int = 1, per_page: int = 25) -> HistoryPage:
    """The pipeline's runs, newest first, filtered by branch and state, one page of them (pages read a
    session's RunIndex, kept current from its watch, instead of indexing a list per render)."""
    selection = RunIndex(executions).page(pipeline, branch=branch, state=state, page=page, per_page=per_page)
    return history_page(selection, now)


@dataclass(frozen=True)
class PipelineRow:
    namespace: str
    name: str
    repository: str
    branch: str
    last_run: str
    last_state: str
    last_duration: str
    triggers: str


def triggers(spec: dict[str, Any]) -> str:
    names = [n for n, on in (("push", spec.get("triggerWebhookPush", True)), ("pull request",
             spec.get("triggerWebhookPr", False)), ("tag", spec.get("triggerWebhookTag", False))) if on]
    cron = spec.get("cron") or {}
    if isinstance(cron, dict) and cron.get("schedule"):
        names.append(f"cron {cron['schedule']}")
    return ", ".join(names) or "manual only"


def pipeline_rows(namespace: str, pipelines: list[dict[str, Any]],
                  execution: Callable[[str], dict[str, Any] | None], now: datetime) -> list[PipelineRow]:
    """A row per pipeline; `execution(name)` looks its last run up (None: not known)."""
    rows = []
    for p in sorted(pipelines, key=lambda o: o["metadata"]["name"]):
        spec, status = _spec(p), _status(p)
        last = execution(str(status.get("lastExecutionId") or "")) if status.get("lastExecutionId") else None
        last_state = state_of(last) if last else str(status.get("lastRunState") or "")
        last_duration = ""
        if last is not None:
            ls = _status(last)
            last_duration = str(ls.get("duration") or "") or duration(str(ls.get("started") or ""),
                                                                       str(ls.get("ended") or ""), now)
        rows.append(PipelineRow(namespace, p["metadata"]["name"], str(spec.get("repositoryUrl") or ""),
                                str(spec.get("defaultBranch") or "master"), str(status.get("lastExecutionId") or ""),
                                last_state, last_duration, triggers(spec)))
    return rows
