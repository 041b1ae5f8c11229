"""Retrying against a server that is down, quietly: backoff with jitter, and logs that summarise.

Against a dead API server every informer, the leader election and every queued key fail at
once and keep failing. Without care that is thousands of warning lines a minute and retries in
lockstep from every replica. Here:

- `Backoff`: exponential, capped, with "full jitter" (each wait uniform in [0, min(cap,
  base * 2^n)], AWS's "Exponential Backoff And Jitter"), as client-go's wait.Backoff with
  Jitter does for informers and leader election;
- `FailureLog`: one line when a loop starts failing (the state change), then at most one
  summary per `interval` ("still failing: 412 attempts in the last 60 s, last: connection
  refused"), and one line when it recovers.

Clock and randomness are injected, so tests run with short intervals and fixed draws.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable

from translator.kubeclient import explain, is_transient


class Backoff:
    """Waits for successive failures: uniform in [0, min(cap, base * 2**n)]; `reset` on success."""

    def __init__(self, base: float = 0.2, cap: float = 30.0, *, rand: Callable[[], float] = random.random) -> None:
        self.base, self.cap, self.rand = base, cap, rand
        self.failures = 0

    def next(self) -> float:
        ceiling = min(self.cap, self.base * (2 ** min(self.failures, 62)))
        self.failures += 1
        return ceiling * self.rand()

    def reset(self) -> None:
        self.failures = 0


class FailureLog:
    """Logs a failing loop's state changes once, and a summary at most every `interval` seconds."""

    def __init__(self, logger: logging.Logger, what: str, *, interval: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger, self.what, self.interval, self.clock = logger, what, interval, clock
        self._lock = threading.Lock()
        self._failing_since: float | None = None
        self._last_report = 0.0
        self._count = 0

    @property
    def failing(self) -> bool:
        return self._failing_since is not None

    def failed(self, reason: str) -> None:
        with self._lock:
            now = self.clock()
            self._count += 1
            if self._failing_since is None:
                self._failing_since, self._last_report, self._count = now, now, 0
                self.logger.warning("%s failing: %s (retrying with backoff; a summary follows at most every %gs)",
                                    self.what, reason, self.interval)
            elif now - self._last_report >= self.interval:
                self.logger.warning("%s still failing: %d attempts in the last %.0fs, for %.0fs in all; last: %s",
                                    self.what, self._count, now - self._last_report, now - self._failing_since,
                                    reason)
                self._last_report, self._count = now, 0

    def recovered(self) -> None:
        with self._lock:
            if self._failing_since is None:
                return
            self.logger.info("%s recovered after %.0fs", self.what, self.clock() - self._failing_since)
            self._failing_since, self._count = None, 0


def transient_reason(exc: BaseException, server: str) -> str | None:
    """The one-line reason of a failure that is the API server's (down, overloaded), else None."""
    return explain(exc, server) if is_transient(exc) else None
