"""Admission, pure: who may start (the namespace's executor quota, oldest first) and where a
cached run should go (the cache holders, the bounded wait for one of them, then cold).

`AdmissionQueue` decides over the `ExecutionIndex`: running executions plus those admitted
here whose Building status is not yet in the cache count against the quota; an execution may
start when fewer than `quota` are running and in line before it. A decision is a bisection in
the index, never a sort of the namespace. No client, no clock: the caller passes the time.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal

from translator.api.resources_types import Condition, RunCacheStatus
from translator.api.states import ConditionType
from translator.controller.index import ExecutionIndex

RESERVED_STATES = frozenset({"Waiting", "Queueing"})  # admitted here, not yet seen Building


def may_start(running: int, ahead: int, quota: int) -> bool:
    """The quota rule: the ones running and the ones in line first leave a slot for this one."""
    return running + ahead < quota


class AdmissionQueue:
    """The executor quota over the index, with the admissions not yet visible in the cache."""

    def __init__(self, index: ExecutionIndex) -> None:
        self.index = index
        self._lock = threading.Lock()
        self._reserved: dict[str, set[str]] = {}

    def try_admit(self, namespace: str, name: str, quota: int) -> bool:
        """True: the execution may start now and holds its slot until its status says Building.

        Asked again while it holds its slot (its submit or its Building write failed and the work
        queue retries it), the answer is yes again: its own reservation is not a run ahead of it.
        """
        with self._lock:
            reserved = self._reserved.setdefault(namespace, set())
            reserved -= {n for n in reserved if self.index.state(namespace, n) not in RESERVED_STATES}
            if name in reserved:
                return True
            running = self.index.running(namespace) + len(reserved)
            ahead = self.index.ahead_of(namespace, name, besides=reserved)
            if not may_start(running, ahead, quota):
                return False
            reserved.add(name)
            return True

    def release(self, namespace: str, name: str) -> None:
        """The admission did not happen (the engine refused), or the run is over."""
        with self._lock:
            self._reserved.get(namespace, set()).discard(name)

    def candidates(self, namespace: str, quota: int) -> list[str]:
        """After a slot freed: the waiting executions that could start, first in line first."""
        with self._lock:
            reserved = set(self._reserved.get(namespace, ()))
        line = self.index.waiting(namespace, limit=max(quota, 1) + len(reserved))
        return [n for n in line if n not in reserved][: max(quota, 1)]


# ---------------------------------------------------------------------- cache placement


@dataclass(frozen=True)
class Placement:
    """Where a run should go: the recency list, the inventory's holders, the bounded wait."""

    recency: tuple[str, ...] = ()
    holders: tuple[str, ...] = ()
    evicted: tuple[str, ...] = ()
    wait: bool = False
    suffix: str = ""


def placement(*, recency: tuple[str, ...], holders: tuple[str, ...], evicted: tuple[str, ...],
              ran_cold: bool, wait_seconds: int) -> Placement:
    """Wait for a holder only when one exists, the setting allows a wait, and the run did not give up already."""
    wait = bool(holders) and wait_seconds > 0 and not ran_cold
    return Placement(recency=recency, holders=holders, evicted=evicted, wait=wait, suffix="-cold" if ran_cold else "")


def submitted(where: Placement, wait_seconds: int, now: str) -> tuple[RunCacheStatus, Condition]:
    """The cache status and condition of a cached run as it is submitted."""
    cache = RunCacheStatus(holders=list(where.holders), waiting_since=now if where.wait else "")
    if where.wait:
        cond = Condition(type=ConditionType.CACHED, status="Unknown", reason="WaitingForCache",
                         message=f"waiting up to {wait_seconds} s for a node holding the cache: "
                                 f"{', '.join(where.holders)}")
    elif where.holders:
        cond = Condition(type=ConditionType.CACHED, status="Unknown", reason="PreferringHolders",
                         message=f"preferring the nodes holding the cache: {', '.join(where.holders)}")
    else:
        cond = Condition(type=ConditionType.CACHED, status="Unknown", reason="NoHolder",
                         message="no node holds this pipeline's cache yet"
                                 + (f"; preferring recent nodes {', '.join(where.recency)}" if where.recency else ""))
    return cache, cond


@dataclass(frozen=True)
class CacheWait:
    """The bounded wait for a cache holder: keep waiting, give up (run cold), or placed."""

    action: Literal["none", "wait", "give_up", "placed"]
    waited: float = 0.0
    remaining: float = 0.0


def cache_wait(*, waiting_for: float | None, placed: bool, wait_seconds: int) -> CacheWait:
    """`waiting_for`: seconds since the wait began (None: not waiting)."""
    if waiting_for is None:
        return CacheWait("none")
    if placed:
        return CacheWait("placed", waited=waiting_for)
    if waiting_for < wait_seconds:
        return CacheWait("wait", waited=waiting_for, remaining=max(0.05, wait_seconds - waiting_for))
    return CacheWait("give_up", waited=waiting_for)


def ran_cold(holders: list[str], wait_seconds: int) -> Condition:
    return Condition(type=ConditionType.CACHED, status="False", reason="RanCold",
                     message=f"no node holding the cache ({', '.join(holders)}) could take the run within "
                             f"{wait_seconds} s: it runs cold on any node")


def landed(cache: RunCacheStatus, node: str, wait_seconds: int) -> Condition:
    """The Cached condition once the run's cached steps are on a node: a hit, a miss, or cold."""
    if node in cache.holders:
        return Condition(type=ConditionType.CACHED, status="True", reason="CacheHit",
                         message=f"ran on {node}, which holds the cache")
    if cache.ran_cold:
        return Condition(type=ConditionType.CACHED, status="False", reason="RanCold",
                         message=f"ran cold on {node}: no node holding the cache ({', '.join(cache.holders)}) "
                                 f"could take it within {wait_seconds} s")
    return Condition(type=ConditionType.CACHED, status="False", reason="CacheMiss",
                     message=f"ran on {node}; " + (f"the cache was on {', '.join(cache.holders)}"
                                                  if cache.holders else "no node held the cache"))


def hit_by_affinity() -> Condition:
    """Placed by the required affinity: on one of the holders, whichever."""
    return Condition(type=ConditionType.CACHED, status="True", reason="CacheHit",
                     message="ran on a node holding the cache")
