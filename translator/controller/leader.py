"""Leader election on a coordination.k8s.io Lease, as client-go's leaderelection does it.

The leader renews every `renew_seconds`; a standby takes the Lease once it has seen no change
of it for `lease_seconds` (10 s by default, so a standby leads within 15 s of the leader's
loss) — counted, as client-go counts, from when it observed the last renewal on its own clock,
not from the renewTime the leader wrote (clocks of two nodes differ). Takeover is a
resourceVersion-guarded update, so two candidates never both win. A leader whose renewals have
not succeeded for `renew_deadline` (2/3 of the Lease, client-go's 10 s of 15) steps down on its
own, even while a renewal hangs: it has stopped before anyone else can take the Lease.

The Lease lives in `--lease-namespace`; when that namespace does not exist every create is
refused (404) and nobody would ever lead, so `check` refuses to start instead, in one line.
While the API server cannot be reached the candidate keeps trying every `renew_seconds` with
jitter (client-go's JitterUntil with a jitter factor: replicas never retry in step), logs the
failure once, then a summary at most once a minute, then the recovery (backoff.FailureLog).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from kubernetes import client

from translator.controller.backoff import FailureLog
from translator.kubeclient import Kube, explain

log = logging.getLogger("translator.leader")


class LeaseNamespaceMissing(Exception):
    """The namespace meant to hold the Lease does not exist: no replica could ever lead."""


def _now() -> datetime:
    return datetime.now(UTC)


class LeaderElector:
    def __init__(self, kube: Kube, *, namespace: str, name: str, identity: str, lease_seconds: int = 10,
                 renew_seconds: float = 2.0, clock: Callable[[], datetime] = _now, jitter: float = 0.2,
                 log_interval: float = 60.0, rand: Callable[[], float] = random.random,
                 renew_deadline: float | None = None) -> None:
        self.kube, self.namespace, self.name, self.identity = kube, namespace, name, identity
        self.lease_seconds, self.renew_seconds, self.clock = lease_seconds, renew_seconds, clock
        self.jitter, self.rand = jitter, rand
        self.failures = FailureLog(log, f"lease {namespace}/{name}", interval=log_interval)
        self.renew_deadline = renew_deadline if renew_deadline is not None else lease_seconds * 2 / 3
        self.leading = threading.Event()
        self._stop = threading.Event()
        self._observed: tuple[Any, float] | None = None  # (the holder's record, when this candidate saw it change)
        self._term = threading.Lock()  # the loop and the watchdog step down once
        self._leading_until = 0.0  # monotonic: the renew deadline of the current term

    def check(self) -> None:
        """Refuse to campaign where no Lease can be made (LeaseNamespaceMissing, naming the way out)."""
        try:
            self.kube.call(self.kube.core.read_namespace, self.namespace)
        except client.ApiException as exc:
            if exc.status == 404:
                raise LeaseNamespaceMissing(
                    f"the leader Lease's namespace {self.namespace!r} does not exist: create it "
                    f"(kubectl create namespace {self.namespace}), choose another with --lease-namespace, or run "
                    "a single replica with --no-leader-elect") from None
            if exc.status != 403:  # may not read namespaces: the Lease itself will tell
                raise

    @property
    def _timeout(self) -> tuple[float, float]:
        """Each request ends well within the lease: a leader that cannot renew steps down in time."""
        half = self.lease_seconds / 2
        return (min(self.kube.request_timeout[0], half), half)

    def _try(self) -> bool:
        api = self.kube.coordination
        now = self.clock()
        stamp = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        try:
            lease = api.read_namespaced_lease(self.name, self.namespace, _request_timeout=self._timeout)
        except client.ApiException as exc:
            if exc.status != 404:
                raise
            body: Any = {"metadata": {"name": self.name}, "spec": {
                "holderIdentity": self.identity, "leaseDurationSeconds": self.lease_seconds,
                "acquireTime": stamp, "renewTime": stamp, "leaseTransitions": 0}}
            try:
                api.create_namespaced_lease(self.namespace, body, _request_timeout=self._timeout)
                return True
            except client.ApiException as again:
                if again.status == 409:
                    return False
                raise
        spec = lease.spec
        assert spec is not None
        holder = spec.holder_identity
        renewed = spec.renew_time
        record = (holder, renewed, lease.metadata.resource_version if lease.metadata else None)
        seen_at = time.monotonic()
        if self._observed is None or self._observed[0] != record:
            self._observed = (record, seen_at)  # client-go's observedTime: the change as this candidate saw it
        duration = timedelta(seconds=spec.lease_duration_seconds or self.lease_seconds)
        expired = renewed is None or seen_at - self._observed[1] > duration.total_seconds()
        if holder != self.identity and not expired:
            return False
        if holder != self.identity:
            spec.lease_transitions = (spec.lease_transitions or 0) + 1
            spec.acquire_time = now
            spec.holder_identity = self.identity
        spec.renew_time = now
        spec.lease_duration_seconds = self.lease_seconds
        try:
            # carries resourceVersion
            api.replace_namespaced_lease(self.name, self.namespace, lease, _request_timeout=self._timeout)
            return True
        except client.ApiException as exc:
            if exc.status == 409:
                return False
            raise

    def _step_down(self, on_stopped: Callable[[], None], why: str) -> None:
        with self._term:
            if not self.leading.is_set():
                return
            log.warning("%s", why, extra={"identity": self.identity})
            self.leading.clear()
            on_stopped()

    def _watch_deadline(self, on_stopped: Callable[[], None]) -> None:
        """Step down when no renewal succeeded within the renew deadline, whatever the loop is stuck in."""
        while not self._stop.wait(min(self.renew_seconds, self.renew_deadline) / 4):
            if self.leading.is_set() and time.monotonic() > self._leading_until:
                self._step_down(on_stopped, "no renewal within the renew deadline: stepping down")

    def run(self, on_started: Callable[[], None], on_stopped: Callable[[], None]) -> None:
        """Block: campaign, lead while renewals succeed, hand over when they stop."""
        watchdog = threading.Thread(target=self._watch_deadline, args=(on_stopped,), daemon=True,
                                    name=f"lease-{self.name}")
        watchdog.start()
        while not self._stop.is_set():
            attempt = time.monotonic()
            try:
                won = self._try()
                self.failures.recovered()
            except Exception as exc:  # the API is down: we cannot prove we still lead
                self.failures.failed(explain(exc, self.kube.server))
                won = False
            if won:
                with self._term:
                    self._leading_until = attempt + self.renew_deadline
                    if not self.leading.is_set() and time.monotonic() < self._leading_until:
                        log.info("became leader", extra={"identity": self.identity})
                        self.leading.set()
                        on_started()
            else:
                self._step_down(on_stopped, "lost the lease")
            self._stop.wait(self.renew_seconds * (1 + self.jitter * self.rand()))
        self._step_down(on_stopped, "stopped")

    def stop(self) -> None:
        self._stop.set()
