"""The periodic resync: every execution not yet final goes back on the work queue now and then.

Waking is event-driven (a freed slot wakes the first in line, a Workflow event its execution), so
a wake-up lost on the way (a write that failed after the decision, an event that never came)
would leave a run Queueing for good. Like an informer's resync, this puts every running or
waiting execution back on the queue every `seconds`, read from the index: no request, and a
finished execution is never looked at again (finished is finished).

The waiting ones (not yet admitted: a lost wake-up keeps them waiting) come every `seconds`; the
running ones only every `running_every`-th time: each has its engine's own wake-ups (a Workflow
event; a Jenkins poll; a start-deadline or node check when due), and a thousand Building runs
looked at every 30 s were a quarter of the controller's reconciles in benchmarks/controller.py.
controller-runtime's default resync is 10 hours; 30 s x 10 here.
"""

from __future__ import annotations

import threading

from translator.controller.index import ExecutionIndex
from translator.controller.workqueue import WorkQueue


class Resync:
    def __init__(self, index: ExecutionIndex, queue: WorkQueue, seconds: float, *, running_every: int = 10) -> None:
        self.index = index
        self.queue = queue
        self.seconds = seconds
        self.running_every = max(1, running_every)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def once(self, *, running: bool = True) -> int:
        """Queue every execution not yet final (without `running`, only those not admitted yet); how many."""
        keys = self.index.unfinished(running=running)
        for namespace, name in keys:
            self.queue.add(("execution", namespace, name))
        return len(keys)

    def _run(self) -> None:
        tick = 0
        while not self._stop.wait(self.seconds):
            tick += 1
            self.once(running=tick % self.running_every == 0)

    def start(self) -> Resync:
        if self.seconds > 0:
            self._thread = threading.Thread(target=self._run, daemon=True, name="resync-executions")
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
