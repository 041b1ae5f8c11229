"""Bounded history, pure: which finished runs of a pipeline to delete (Jenkins' LogRotator, Argo's
TTL, Tekton's pruner give their users the same).

A run goes when it is finished and either beyond the newest `keep_runs` finished runs of its
pipeline (by run number) or ended more than `keep_seconds` ago (0 turns a limit off). A run that
is not finished is never deleted, nor is the pipeline's newest run (its `lastExecutionId`).

The archive index (stored format, in the log store beside the logs): `<namespace>/_index/<execution>.json`,
written before a pruned execution is deleted, so `translator logs <execution>` still finds its
logs by name: {"execution", "namespace", "pipeline", "run", "state", "started", "ended",
"stages": [{"name", "steps": [{"name", "state", "log"}]}]}, `log` being the step's key in the store.

No client, no clock: the caller passes the time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from translator.controller.lifecycle import FINAL_STATES, parse_time

INDEX_DIR = "_index"


@dataclass(frozen=True)
class Run:
    name: str
    run: int
    state: str
    ended: str  # RFC 3339, "" when not known


def to_prune(runs: list[Run], *, keep_runs: int, keep_seconds: int, now: datetime, newest: str = "") -> list[str]:
    """The names of the runs to delete, oldest first."""
    finished = sorted((r for r in runs if r.state in FINAL_STATES), key=lambda r: (r.run, r.name), reverse=True)
    doomed = []
    for position, r in enumerate(finished):
        if r.name == newest:
            continue
        beyond = keep_runs > 0 and position >= keep_runs
        old = False
        if keep_seconds > 0 and r.ended:
            try:
                old = (now - parse_time(r.ended)).total_seconds() > keep_seconds
            except ValueError:
                old = False
        if beyond or old:
            doomed.append(r.name)
    return list(reversed(doomed))


def index_key(namespace: str, execution: str) -> str:
    return f"{namespace}/{INDEX_DIR}/{execution}.json"


def index_entry(obj: dict[str, Any], keys: dict[tuple[int, int], str]) -> dict[str, Any]:
    """The archive index of one execution: its identity and where each step's log is (`keys` by
    (stage, step) index: the key each step's status names, or the shared layout)."""
    meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
    stages = []
    for si, stage in enumerate(status.get("stages") or []):
        steps = [{"name": step.get("name", ""), "state": step.get("state", ""), "log": keys.get((si, ti), "")}
                 for ti, step in enumerate(stage.get("steps") or [])]
        stages.append({"name": stage.get("name", ""), "steps": steps})
    return {"execution": meta["name"], "namespace": meta.get("namespace", ""), "pipeline": spec.get("pipelineName", ""),
            "run": spec.get("run", 0), "state": status.get("executionState", ""), "started": status.get("started", ""),
            "ended": status.get("ended", ""), "stages": stages}
