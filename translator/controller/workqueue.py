"""A work queue with Kubernetes' semantics: a key is queued once however often it is added,
and never processed by two workers at once (added again while processing, it runs again after)."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Hashable


class WorkQueue:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: deque[Hashable] = deque()
        self._dirty: set[Hashable] = set()
        self._processing: set[Hashable] = set()
        self._delayed: list[tuple[float, Hashable]] = []
        self._shutdown = False

    def add(self, key: Hashable) -> None:
        with self._cond:
            if key in self._dirty:
                return
            self._dirty.add(key)
            if key not in self._processing:
                self._queue.append(key)
                self._cond.notify()

    def add_after(self, key: Hashable, seconds: float) -> None:
        with self._cond:
            self._delayed.append((time.monotonic() + seconds, key))
            self._cond.notify()

    def get(self, timeout: float = 0.5) -> Hashable | None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                now = time.monotonic()
                due = [k for t, k in self._delayed if t <= now]
                if due:
                    self._delayed = [(t, k) for t, k in self._delayed if t > now]
                    for k in due:
                        if k not in self._dirty:
                            self._dirty.add(k)
                            if k not in self._processing:
                                self._queue.append(k)
                if self._queue:
                    key = self._queue.popleft()
                    self._dirty.discard(key)
                    self._processing.add(key)
                    return key
                if self._shutdown or now >= deadline:
                    return None
                waits = [deadline - now] + [t - now for t, _ in self._delayed]
                self._cond.wait(timeout=max(0.001, min(waits)))

    def done(self, key: Hashable) -> None:
        with self._cond:
            self._processing.discard(key)
            if key in self._dirty:
                self._queue.append(key)
                self._cond.notify()

    def __len__(self) -> int:
        with self._cond:
            return len(self._queue)

    def shutdown(self) -> None:
        with self._cond:
            self._shutdown = True
            self._cond.notify_all()
