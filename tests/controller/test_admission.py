"""Admission, pure: the executor quota in order of arrival, and the bounded wait for a cache holder."""

from __future__ import annotations

from tests.controller.test_index import ex
from translator.api.resources_types import RunCacheStatus
from translator.controller.admission import (
    AdmissionQueue,
    Placement,
    cache_wait,
    landed,
    may_start,
    placement,
    submitted,
)
from translator.controller.index import ExecutionIndex


def line(*states: str) -> tuple[ExecutionIndex, AdmissionQueue]:
    index = ExecutionIndex()
    for i, state in enumerate(states, start=1):
        index.update("team", ex(f"web-{i}", run=i, state=state, created=f"2024-01-01T00:00:{i:02d}Z"))
    return index, AdmissionQueue(index)


def test_the_quota_counts_running_and_earlier_arrivals() -> None:
    assert may_start(0, 0, 1) and not may_start(1, 0, 1) and not may_start(0, 2, 2) and may_start(1, 0, 2)


def test_the_oldest_waiting_run_goes_first() -> None:
    _, queue = line("Building", "Waiting", "Waiting")
    assert not queue.try_admit("team", "web-3", 2), "web-2 arrived first and takes the free slot"
    assert queue.try_admit("team", "web-2", 2)
    assert not queue.try_admit("team", "web-3", 2), "the slot web-2 took is held until its Building shows"


def test_an_admission_holds_its_slot_until_the_cache_says_building() -> None:
    index, queue = line("Waiting", "Waiting")
    assert queue.try_admit("team", "web-1", 1)
    assert not queue.try_admit("team", "web-2", 1)
    index.update("team", ex("web-1", run=1, state="Building", created="2024-01-01T00:00:01Z"))
    assert not queue.try_admit("team", "web-2", 1)  # now it counts as running
    index.update("team", ex("web-1", run=1, state="Success", created="2024-01-01T00:00:01Z"))
    assert queue.try_admit("team", "web-2", 1)


def test_a_refused_submission_gives_the_slot_back() -> None:
    _, queue = line("Waiting", "Waiting")
    assert queue.try_admit("team", "web-1", 1)
    queue.release("team", "web-1")
    assert queue.try_admit("team", "web-2", 2)


def test_a_retried_admission_keeps_its_own_slot() -> None:
    # the submit of web-2 failed after it was admitted (a 409 on the Workflow create, then a 404):
    # the work queue retries it while it still holds its slot, which is not a run ahead of it
    _, queue = line("Building", "Queueing", "Queueing")
    assert queue.try_admit("team", "web-2", 2)
    assert queue.try_admit("team", "web-2", 2), "its own reservation must not count against it"
    assert not queue.try_admit("team", "web-3", 2), "the slot is still taken, once"
    assert queue.candidates("team", 2) == ["web-3"]


def test_after_a_slot_frees_only_those_that_could_start_are_woken() -> None:
    _, queue = line("Building", "Queueing", "Queueing", "Queueing", "Queueing")
    assert queue.candidates("team", 2) == ["web-2", "web-3"]
    assert queue.try_admit("team", "web-2", 3)
    assert queue.candidates("team", 2) == ["web-3", "web-4"]  # the admitted one is no longer in line


def test_a_run_waits_for_a_holder_only_when_there_is_one_and_it_did_not_give_up() -> None:
    holders = ("node-a",)
    assert placement(recency=(), holders=holders, evicted=(), ran_cold=False, wait_seconds=30).wait
    assert not placement(recency=(), holders=(), evicted=(), ran_cold=False, wait_seconds=30).wait
    assert not placement(recency=(), holders=holders, evicted=(), ran_cold=False, wait_seconds=0).wait
    cold = placement(recency=(), holders=holders, evicted=(), ran_cold=True, wait_seconds=30)
    assert (cold.wait, cold.suffix) == (False, "-cold")


def test_the_cache_wait_is_bounded() -> None:
    assert cache_wait(waiting_for=None, placed=False, wait_seconds=30).action == "none"
    waiting = cache_wait(waiting_for=10.0, placed=False, wait_seconds=30)
    assert (waiting.action, waiting.remaining) == ("wait", 20.0)
    assert cache_wait(waiting_for=30.0, placed=False, wait_seconds=30).action == "give_up"
    placed = cache_wait(waiting_for=12.5, placed=True, wait_seconds=30)
    assert (placed.action, placed.waited) == ("placed", 12.5)


def test_submitted_and_landed_conditions_say_where_the_cache_was() -> None:
    cache, cond = submitted(Placement(holders=("node-a",), wait=True), 30, "2024-01-01T00:00:00Z")
    assert (cache.waiting_since, cond.reason) == ("2024-01-01T00:00:00Z", "WaitingForCache")
    assert submitted(Placement(recency=("node-b",)), 30, "t")[1].reason == "NoHolder"
    assert landed(RunCacheStatus(holders=["node-a"]), "node-a", 30).reason == "CacheHit"
    assert landed(RunCacheStatus(holders=["node-a"]), "node-b", 30).reason == "CacheMiss"
    assert landed(RunCacheStatus(holders=["node-a"], ran_cold=True), "node-b", 30).reason == "RanCold"
