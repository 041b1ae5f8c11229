"""A work queue with Kubernetes' semantics: a key is queued once however often it is added,
and never processed by two workers at once (added again while processing, it runs again after).

A key whose reconcile failed comes back with `add_rate_limited`: after a delay that doubles with
each consecutive failure of that key, capped, with jitter (client-go's
ItemExponentialFailureRateLimiter, plus jitter so keys that failed together do not retry
together): 0.5-1 s, 1-2 s, ... up to a minute (controller-runtime starts at 5 ms and caps at
1,000 s; a first retry sooner than about half a second here lets a Queueing run miss the
wake-up of a freed slot, found by test_resilience); `forget` resets it after a success. A key
that keeps failing, against an API server that is down, then costs one retry a minute.

Keys added for later wait in a heap, each key once: added again while it waits, it keeps the
sooner of its two times (client-go's delaying_queue.go: insert updates readyAt only when the new
one is earlier). A get costs O(log n) for each key that came due, however many wait.
"""

from __future__ import annotations

import heapq
import itertools
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable


class WorkQueue:
    def __init__(self, *, retry_base: float = 1.0, retry_cap: float = 60.0,
                 rand: Callable[[], float] = random.random) -> None:
        self.retry_base, self.retry_cap, self._rand = retry_base, retry_cap, rand
        self._failures: dict[Hashable, int] = {}
        self._cond = threading.Condition()
        self._queue: deque[Hashable] = deque()
        self._in_queue: set[Hashable] = set()  # the keys of _queue: a membership test without a scan
        self._urgent: deque[Hashable] = deque()  # served first: status sync before new admissions
        self._dirty: set[Hashable] = set()
        self._processing: set[Hashable] = set()
        self._delayed: list[tuple[float, int, Hashable]] = []  # a heap; entries no longer in _waiting are stale
        self._waiting: dict[Hashable, float] = {}  # key -> when it is due
        self._seq = itertools.count()
        self._shutdown = False
        self._streak = 0

    def add(self, key: Hashable, *, urgent: bool = False) -> None:
        with self._cond:
            if key in self._dirty:
                if urgent and key in self._in_queue:
                    self._queue.remove(key)
                    self._in_queue.discard(key)
                    self._urgent.append(key)
                return
            self._dirty.add(key)
            if key not in self._processing:
                if urgent:
                    self._urgent.append(key)
                else:
                    self._enqueue(key)
                self._cond.notify()

    def _enqueue(self, key: Hashable) -> None:
        self._queue.append(key)
        self._in_queue.add(key)

    def add_after(self, key: Hashable, seconds: float) -> None:
        due = time.monotonic() + seconds
        with self._cond:
            current = self._waiting.get(key)
            if current is not None and current <= due:
                return  # already waiting to come sooner
            self._waiting[key] = due
            heapq.heappush(self._delayed, (due, next(self._seq), key))
            self._cond.notify()

    def add_rate_limited(self, key: Hashable) -> float:
        """Queue `key` again after its failure backoff; returns the delay chosen."""
        with self._cond:
            failures = self._failures.get(key, 0)
            self._failures[key] = failures + 1
        ceiling = min(self.retry_cap, self.retry_base * 2 ** min(failures, 62))
        delay = ceiling * (0.5 + self._rand() / 2)  # "equal jitter": at least half the step
        self.add_after(key, delay)
        return delay

    def forget(self, key: Hashable) -> None:
        """`key` succeeded: its next failure starts from the base delay again."""
        with self._cond:
            self._failures.pop(key, None)

    def failures(self, key: Hashable) -> int:
        with self._cond:
            return self._failures.get(key, 0)

    def get(self, timeout: float = 0.5) -> Hashable | None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                now = time.monotonic()
                while self._delayed and self._delayed[0][0] <= now:
                    t, _, k = heapq.heappop(self._delayed)
                    if self._waiting.get(k) != t:
                        continue  # stale: the key was moved sooner
                    del self._waiting[k]
                    if k not in self._dirty:
                        self._dirty.add(k)
                        if k not in self._processing:
                            self._enqueue(k)
                if self._urgent or self._queue:
                    # urgent first, but never more than 2 in a row while others wait: no starvation
                    take_urgent = bool(self._urgent) and (not self._queue or self._streak < 2)
                    key = self._urgent.popleft() if take_urgent else self._queue.popleft()
                    self._in_queue.discard(key)
                    self._streak = self._streak + 1 if take_urgent else 0
                    self._dirty.discard(key)
                    self._processing.add(key)
                    return key
                if self._shutdown or now >= deadline:
                    return None
                wait = deadline - now if not self._delayed else min(deadline, self._delayed[0][0]) - now
                self._cond.wait(timeout=max(0.001, wait))

    def done(self, key: Hashable) -> None:
        with self._cond:
            self._processing.discard(key)
            if key in self._dirty:  # added while processing: never queued meanwhile (add and get skip it)
                self._enqueue(key)
                self._cond.notify()

    def __len__(self) -> int:
        with self._cond:
            return len(self._queue) + len(self._urgent)

    def shutdown(self) -> None:
        with self._cond:
            self._shutdown = True
            self._cond.notify_all()
