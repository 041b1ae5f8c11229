"""Steps that cannot start: since when, and when their run gives up (`--start-deadline`).

A step whose pod waits on a bad image or a missing Secret would otherwise hold its run until
the whole run's timeout. The engine already says why in the step's message
(status.pending); this remembers, by the controller's injected clock, when each such step was
first seen unable to start, and hands the ones past the deadline to `status.execution.derive`,
which fails the run with the kubelet's reason. The memory is the controller's own: after a
restart (or a leader change) the count starts again, so a run is never failed early, at worst
one deadline late.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

from translator.controller.config import START_DEADLINE_SECONDS
from translator.status.argo import WorkflowObservation
from translator.status.pending import CannotStart, cannot_start, overdue

_MAX_TRACKED = 10_000  # runs with a step that cannot start, at most (then the oldest memory goes)


class StartWatch:
    def __init__(self, clock: Callable[[], datetime], limit_seconds: float = START_DEADLINE_SECONDS) -> None:
        self.clock = clock
        self.limit = limit_seconds
        self._since: dict[tuple[str, str], dict[str, float]] = {}
        self._lock = threading.Lock()

    def follow(self, key: tuple[str, str], obs: WorkflowObservation | None
               ) -> tuple[dict[str, CannotStart], float | None]:
        """(steps past the deadline, seconds until the next one will be) for the run `key`."""
        blocked = cannot_start(obs)
        now = self.clock().timestamp()
        with self._lock:
            seen = self._since.get(key, {})
            # a step keeps its first moment while it stays blocked, whatever the reason says now
            current = {step: seen.get(step, now) for step in blocked}
            if current:
                if key not in self._since and len(self._since) >= _MAX_TRACKED:
                    self._since.pop(next(iter(self._since)))
                self._since[key] = current
            else:
                self._since.pop(key, None)
        late, wait = overdue(current, now, self.limit)
        return {step: blocked[step] for step in late}, wait

    def forget(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._since.pop(key, None)
