"""Indexes over the PipelineExecution cache, kept current from informer events (and from the
controller's own writes), so no decision scans or sorts a namespace.

- running executions (Building) per namespace: a count for the quota;
- waiting executions (no state yet, Waiting, Queueing) per namespace, in admission order
  (creationTimestamp, run, name) as a sorted list: an execution's place in line is a bisection;
- every execution per (namespace, pipeline), by run: the newest for the Pipeline's `last*`
  roll-up, and the previous finished run for the "changed" notification rule.

Pure data: no client, no clock. One lock; every method is O(log n) but the list insertions and
removals, which move pointers only.
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass
from typing import Any

from translator.controller.lifecycle import FINAL_STATES, RUNNING_STATE, WAITING_STATES

Key = tuple[str, str]  # (namespace, name)
Order = tuple[str, int, str]  # (creationTimestamp, run, name): who was first
NOTIFY_STATES = frozenset({"Success", "Failed", "Aborted"})  # what "the previous run" means for notifications


@dataclass(frozen=True)
class Entry:
    state: str
    pipeline: str
    run: int
    order: Order
    ended: str = ""  # when a finished run ended (history pruning by age)


@dataclass(frozen=True)
class Change:
    """What one update did: the state before ("" also for an object not seen before) and after."""

    known: bool
    before: str
    after: str
    exists: bool = True  # False: the execution was deleted

    @property
    def finished_now(self) -> bool:
        """Seen running or waiting before, final now: the run's finish step is due."""
        return self.known and self.exists and self.before not in FINAL_STATES and self.after in FINAL_STATES

    @property
    def freed_a_slot(self) -> bool:
        """A running or waiting execution ended or went away: someone queued may go now."""
        holds = (self.before == RUNNING_STATE or self.before in WAITING_STATES)
        return self.known and holds and (not self.exists or (self.after != RUNNING_STATE
                                                               and self.after not in WAITING_STATES))


def entry_of(obj: dict[str, Any]) -> Entry:
    meta, spec = obj["metadata"], obj.get("spec") or {}
    try:
        run = int(spec.get("run") or 0)
    except (TypeError, ValueError):
        run = 0
    status = obj["status"] if isinstance(obj.get("status"), dict) else {}
    state = str(status.get("executionState") or "")
    return Entry(state=state, pipeline=str(spec.get("pipelineName") or ""), run=run,
                 order=(str(meta.get("creationTimestamp") or ""), run, str(meta["name"])),
                 ended=str(status.get("ended") or "") if state in FINAL_STATES else "")


class ExecutionIndex:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[Key, Entry] = {}
        self._running: dict[str, set[str]] = {}
        self._waiting: dict[str, list[Order]] = {}
        self._runs: dict[Key, list[tuple[int, str]]] = {}  # (ns, pipeline) -> sorted (run, name)
        self._counts: dict[str, int] = {}  # by state ("Waiting" for none yet)

    # ---------------------------------------------------------------- maintained from events

    def update(self, namespace: str, obj: dict[str, Any]) -> Change:
        new = entry_of(obj)
        key = (namespace, new.order[2])
        with self._lock:
            old = self._entries.get(key)
            if old == new:
                return Change(True, old.state, new.state)
            if old is not None:
                self._forget(namespace, old)
            self._entries[key] = new
            self._counts[new.state or "Waiting"] = self._counts.get(new.state or "Waiting", 0) + 1
            if new.state == RUNNING_STATE:
                self._running.setdefault(namespace, set()).add(new.order[2])
            elif new.state in WAITING_STATES:
                bisect.insort(self._waiting.setdefault(namespace, []), new.order)
            bisect.insort(self._runs.setdefault((namespace, new.pipeline), []), (new.run, new.order[2]))
        return Change(old is not None, old.state if old else "", new.state)

    def remove(self, namespace: str, name: str) -> Change:
        with self._lock:
            old = self._entries.pop((namespace, name), None)
            if old is not None:
                self._forget(namespace, old)
        return Change(old is not None, old.state if old else "", "", exists=False)

    def _forget(self, namespace: str, old: Entry) -> None:
        name = old.order[2]
        self._counts[old.state or "Waiting"] -= 1
        self._running.get(namespace, set()).discard(name)
        waiting = self._waiting.get(namespace, [])
        at = bisect.bisect_left(waiting, old.order)
        if at < len(waiting) and waiting[at] == old.order:
            del waiting[at]
        runs = self._runs.get((namespace, old.pipeline), [])
        at = bisect.bisect_left(runs, (old.run, name))
        if at < len(runs) and runs[at] == (old.run, name):
            del runs[at]
        if not runs:
            self._runs.pop((namespace, old.pipeline), None)

    # ---------------------------------------------------------------- queries

    def state(self, namespace: str, name: str) -> str | None:
        with self._lock:
            entry = self._entries.get((namespace, name))
            return entry.state if entry else None

    def running(self, namespace: str) -> int:
        with self._lock:
            return len(self._running.get(namespace, ()))

    def waiting(self, namespace: str, limit: int | None = None) -> list[str]:
        """Names of the waiting executions, first in line first."""
        with self._lock:
            line = self._waiting.get(namespace, [])
            return [o[2] for o in (line if limit is None else line[:limit])]

    def ahead_of(self, namespace: str, name: str, *, besides: set[str] | frozenset[str] = frozenset()) -> int:
        """How many waiting executions are in line before this one (not counting `besides`)."""
        with self._lock:
            entry = self._entries.get((namespace, name))
            if entry is None or entry.state not in WAITING_STATES:
                return 0
            at = bisect.bisect_left(self._waiting.get(namespace, []), entry.order)
            skipped = 0
            for other in besides:
                o = self._entries.get((namespace, other))
                if o is not None and o.state in WAITING_STATES and o.order < entry.order:
                    skipped += 1
            return at - skipped

    def unfinished(self, *, running: bool = True) -> list[Key]:
        """Every execution not yet final (running or waiting; only the waiting ones with `running`
        False), in every namespace: what a resync looks at."""
        with self._lock:
            found = [(ns, name) for ns, names in self._running.items() for name in names] if running else []
            return found + [(ns, o[2]) for ns, line in self._waiting.items() for o in line]

    def newest(self, namespace: str, pipeline: str) -> str | None:
        """The pipeline's execution with the highest run number."""
        with self._lock:
            runs = self._runs.get((namespace, pipeline))
            return runs[-1][1] if runs else None

    def pipelines(self) -> list[Key]:
        """(namespace, pipeline) of every pipeline with executions."""
        with self._lock:
            return list(self._runs)

    def runs_of(self, namespace: str, pipeline: str) -> list[tuple[str, int, str, str]]:
        """(name, run, state, ended) of each of the pipeline's executions, by run."""
        with self._lock:
            found = []
            for run, name in self._runs.get((namespace, pipeline), []):
                entry = self._entries.get((namespace, name))
                if entry is not None:
                    found.append((name, run, entry.state, entry.ended))
            return found

    def previous_finished(self, namespace: str, pipeline: str, run: int) -> str | None:
        """The state of the pipeline's latest run before `run` that ended Success, Failed or Aborted."""
        with self._lock:
            runs = self._runs.get((namespace, pipeline), [])
            at = bisect.bisect_left(runs, (run, ""))
            for i in range(at - 1, -1, -1):  # in practice the first one looked at is the answer
                prior_run, name = runs[i]
                if prior_run <= 0:
                    break
                entry = self._entries.get((namespace, name))
                if entry is not None and entry.state in NOTIFY_STATES:
                    return entry.state
            return None

    def states(self) -> dict[str, int]:
        """How many executions are in each state ("Waiting" for those with none yet)."""
        with self._lock:
            return {state: n for state, n in self._counts.items() if n}

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
