"""The periodic resync: every execution not yet final goes back on the work queue now and then.

Waking is event-driven (a freed slot wakes the first in line, a Workflow event its execution), so
a wake-up lost on the way (a write that failed after the decision, an event that never came)
would leave a run Queueing for good. Like an informer's resync, this puts every running or
waiting execution back on the queue every `seconds`, read from the index: no request, and a
finished execution is never looked at again (finished is finished).
"""

from __future__ import annotations

import threading

from translator.controller.index import ExecutionIndex
from translator.controller.workqueue import WorkQueue


class Resync:
    def __init__(self, index: ExecutionIndex, queue: WorkQueue, seconds: float) -> None:
        self.index = index
        self.queue = queue
        self.seconds = seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def once(self) -> int:
        """Queue every execution not yet final; returns how many."""
        keys = self.index.unfinished()
        for namespace, name in keys:
            self.queue.add(("execution", namespace, name))
        return len(keys)

    def _run(self) -> None:
        while not self._stop.wait(self.seconds):
            self.once()

    def start(self) -> Resync:
        if self.seconds > 0:
            self._thread = threading.Thread(target=self._run, daemon=True, name="resync-executions")
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
