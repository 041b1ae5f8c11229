"""One `translator controller` process: a warm standby that leads while it holds its shard's Lease.

Standing by, the replica lists and watches everything its shard owns (caches and indexes
current, no worker started), so taking over costs the Lease's expiry and not a list of 50,000
executions. Winning starts the workers of that standby; losing stops the whole controller and
a fresh standby lists again: a new term never trusts what a lost one held in memory (admission
reservations, notification claims, cached plans). With `--shard i/n` the Lease is the shard's
own (`<lease>-<i>-of-<n>`), so each shard fails over on its own; without leader election the
replica leads at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from translator.controller.config import ControllerConfig
from translator.controller.leader import LeaderElector
from translator.controller.manager import Controller
from translator.controller.metrics import Metrics
from translator.kubeclient import Kube

log = logging.getLogger("translator.controller")

Factory = Callable[[], Controller]


class Replica:
    def __init__(self, kube: Kube, config: ControllerConfig, *, metrics: Metrics,
                 factory: Factory | None = None) -> None:
        self.kube, self.config, self.metrics = kube, config, metrics
        self.factory = factory or (lambda: Controller(kube, config, metrics=metrics))
        self._lock = threading.Lock()
        self._term: Controller | None = None
        self._leading = False
        self._closed = False
        metrics.watch_states(lambda: self.current.states() if self.current is not None else {})

    @property
    def current(self) -> Controller | None:
        with self._lock:
            return self._term

    # ---------------------------------------------------------------- terms

    def stand_by(self) -> Controller:
        """A fresh controller that lists and watches (in the background) and leads once elected."""
        ctrl = self.factory()
        with self._lock:
            self._term = ctrl
        threading.Thread(target=self._warm, args=(ctrl,), daemon=True, name="standby").start()
        return ctrl

    def _warm(self, ctrl: Controller) -> None:
        ctrl.watch()
        with self._lock:
            if self._term is ctrl and self._leading and not ctrl.leading:
                ctrl.lead()

    def started_leading(self) -> None:
        with self._lock:
            self._leading = True
            ctrl = self._term
            if ctrl is not None and ctrl.watched.is_set() and not ctrl.leading:
                ctrl.lead()  # else the standby leads as soon as its caches are whole
        if ctrl is None:
            self.stand_by()

    def stopped_leading(self) -> None:
        with self._lock:
            self._leading = False
            old, self._term = self._term, None
        if old is not None:
            old.stop()
        if not self._closed:
            self.stand_by()

    # ---------------------------------------------------------------- the process

    def run(self, done: threading.Event, *, leader_elect: bool, lease_namespace: str, lease_name: str,
            lease_seconds: int = 10, renew_seconds: float = 2.0) -> None:
        """Block until `done`: campaign for the shard's Lease (or lead at once), then stop whole."""
        self.stand_by()
        if not leader_elect:
            self.started_leading()
            done.wait()
            self.close()
            return
        elector = LeaderElector(self.kube, namespace=lease_namespace, name=self.config.shard.lease_name(lease_name),
                                identity=self.config.identity, lease_seconds=lease_seconds,
                                renew_seconds=renew_seconds)
        thread = threading.Thread(target=elector.run, args=(self.started_leading, self.stopped_leading),
                                  daemon=True, name="elector")
        thread.start()
        done.wait()
        self._closed = True
        elector.stop()
        thread.join(timeout=lease_seconds)
        self.close()

    def close(self) -> None:
        self._closed = True
        with self._lock:
            old, self._term = self._term, None
            self._leading = False
        if old is not None:
            old.stop()
