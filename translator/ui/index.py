"""A namespace's executions indexed for the pages that list them: by pipeline, newest first.

A pipeline's page shows 25 of its runs; with 10,000 of them, filtering and ordering the whole
cache on every render (each visit, and each live update of the page) cost more than the page.
The session's informer hands every change to `apply`, which keeps, per pipeline, the runs'
order keys sorted (an insertion is a binary search) and a count per (branch, state): page 1 is
then the last 25 keys, the total of a filter a sum over a few counts, and a later page or a
filter walks back only as far as the page it shows. Queue positions (how many wait ahead of a
run) come from the waiting runs of the namespace, kept apart.

The index holds the informer's own cached summaries (no copies) and the order keys; pure data,
no I/O: the informer's thread writes, page renders read, under one lock.
"""

from __future__ import annotations

import threading
from bisect import bisect_left, insort
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

WAITING = ("", "Waiting", "Queueing")

Key = tuple[int, str, str]  # (run, creationTimestamp, name): ascending, the newest last


def _spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else {}


def _state(obj: dict[str, Any]) -> str:
    status = obj.get("status")
    return str((status if isinstance(status, dict) else {}).get("executionState") or "Waiting")


def order_key(obj: dict[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    return int(_spec(obj).get("run") or 0), str(meta.get("creationTimestamp", "")), str(meta.get("name", ""))


def _created_key(obj: dict[str, Any]) -> tuple[str, int, str]:
    """The order the controller admits waiting runs in: oldest first."""
    run, created, name = order_key(obj)
    return created, run, name


class _Run(NamedTuple):
    pipeline: str
    key: Key
    branch: str
    state: str
    summary: dict[str, Any]  # the informer's cached object


@dataclass
class _Pipeline:
    keys: list[Key] = field(default_factory=list)  # sorted ascending
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)  # (branch, state) -> runs


@dataclass(frozen=True)
class Selection:
    """One page of a pipeline's runs (newest first), and what the page says about the rest."""

    runs: tuple[dict[str, Any], ...]
    total: int
    page: int
    pages: int
    branches: tuple[str, ...]


class RunIndex:
    def __init__(self, executions: Iterable[dict[str, Any]] = ()) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, _Run] = {}
        self._pipelines: dict[str, _Pipeline] = {}
        self._waiting: dict[str, tuple[str, int, str]] = {}  # name -> created key, of runs not started yet
        self._building: set[str] = set()
        for obj in executions:
            self.put(obj)

    def put(self, obj: dict[str, Any]) -> None:
        """An execution was added or changed (`obj`: what the cache holds now)."""
        name = str((obj.get("metadata") or {}).get("name", ""))
        spec = _spec(obj)
        pipeline, key = str(spec.get("pipelineName") or ""), order_key(obj)
        branch, state = str(spec.get("branch") or ""), _state(obj)
        with self._lock:
            self._drop(name)
            self._runs[name] = _Run(pipeline, key, branch, state, obj)
            entry = self._pipelines.setdefault(pipeline, _Pipeline())
            if not entry.keys or entry.keys[-1] < key:
                entry.keys.append(key)  # the usual case: a new run is the newest
            else:
                insort(entry.keys, key)
            entry.counts[(branch, state)] += 1
            if state in WAITING:
                self._waiting[name] = _created_key(obj)
            elif state == "Building":
                self._building.add(name)

    def remove(self, name: str) -> None:
        with self._lock:
            self._drop(name)

    def _drop(self, name: str) -> None:
        old = self._runs.pop(name, None)
        self._waiting.pop(name, None)
        self._building.discard(name)
        if old is None:
            return
        pipeline, key, branch, state, _ = old
        entry = self._pipelines[pipeline]
        at = bisect_left(entry.keys, key)
        if at < len(entry.keys) and entry.keys[at] == key:
            del entry.keys[at]
        entry.counts[(branch, state)] -= 1
        if entry.counts[(branch, state)] <= 0:
            del entry.counts[(branch, state)]
        if not entry.keys:
            del self._pipelines[pipeline]

    def page(self, pipeline: str, *, branch: str = "", state: str = "", page: int = 1,
             per_page: int = 25) -> Selection:
        """The pipeline's runs newest first, filtered by branch and state, page `page` of them (a page past
        the end is the last)."""
        with self._lock:
            entry = self._pipelines.get(pipeline)
            if entry is None:
                return Selection((), 0, 1, 1, ())
            total = sum(n for (b, s), n in entry.counts.items() if (not branch or b == branch)
                        and (not state or s == state))
            pages = max(1, -(-total // per_page))
            page = min(max(page, 1), pages)
            skip = (page - 1) * per_page
            if not branch and not state:
                end = len(entry.keys) - skip
                keys = entry.keys[max(0, end - per_page):end][::-1]
                runs = tuple(self._runs[k[2]].summary for k in keys)
            else:
                chosen: list[dict[str, Any]] = []
                for key in reversed(entry.keys):
                    run = self._runs[key[2]]
                    if (branch and run.branch != branch) or (state and run.state != state):
                        continue
                    if skip:
                        skip -= 1
                        continue
                    chosen.append(run.summary)
                    if len(chosen) == per_page:
                        break
                runs = tuple(chosen)
            branches = tuple(sorted({b for b, _ in entry.counts} - {""}))
        return Selection(runs, total, page, pages, branches)

    def queue(self, name: str) -> tuple[int, int]:
        """(runs of the namespace waiting ahead of `name`, runs building): the controller admits oldest first."""
        with self._lock:
            mine = self._waiting.get(name)
            ahead = sum(1 for k in self._waiting.values() if k < mine) if mine is not None else 0
            return ahead, len(self._building)

    def __len__(self) -> int:
        with self._lock:
            return len(self._runs)
