"""The execution index: kept from events, it answers admission and roll-up without a scan."""

from __future__ import annotations

from typing import Any

from translator.controller.index import ExecutionIndex


def ex(name: str, *, state: str = "", run: int = 1, created: str = "2024-01-01T00:00:00Z",
       pipeline: str = "web") -> dict[str, Any]:
    obj: dict[str, Any] = {"metadata": {"name": name, "namespace": "team", "creationTimestamp": created},
                           "spec": {"pipelineName": pipeline, "run": run}}
    if state:
        obj["status"] = {"executionState": state}
    return obj


def test_waiting_executions_are_in_admission_order() -> None:
    index = ExecutionIndex()
    index.update("team", ex("web-3", run=3, created="2024-01-01T00:00:03Z"))
    index.update("team", ex("web-1", run=1, created="2024-01-01T00:00:01Z", state="Queueing"))
    index.update("team", ex("web-2", run=2, created="2024-01-01T00:00:01Z", state="Waiting"))
    index.update("other", ex("web-0", run=0, created="2023-01-01T00:00:00Z"))
    assert index.waiting("team") == ["web-1", "web-2", "web-3"]  # same second: the run decides
    assert [index.ahead_of("team", n) for n in ("web-1", "web-2", "web-3")] == [0, 1, 2]
    assert index.ahead_of("team", "web-3", besides={"web-1"}) == 1
    assert index.ahead_of("team", "nobody") == 0
    assert index.waiting("team", limit=1) == ["web-1"]


def test_a_state_change_moves_an_execution_between_waiting_and_running() -> None:
    index = ExecutionIndex()
    first = index.update("team", ex("web-1", state="Waiting"))
    assert not first.known and not first.freed_a_slot  # first seen (a list): nothing freed
    assert index.update("team", ex("web-1", state="Building")).before == "Waiting"
    assert (index.running("team"), index.waiting("team")) == (1, [])
    done = index.update("team", ex("web-1", state="Success"))
    assert done.freed_a_slot and done.finished_now
    assert index.running("team") == 0
    again = index.update("team", ex("web-1", state="Success"))
    assert not again.freed_a_slot and not again.finished_now  # a resync changes nothing


def test_listing_a_finished_execution_is_not_a_transition() -> None:
    index = ExecutionIndex()
    change = index.update("team", ex("web-1", state="Failed"))
    assert not change.finished_now and not change.freed_a_slot


def test_deleting_a_running_execution_frees_its_slot() -> None:
    index = ExecutionIndex()
    index.update("team", ex("web-1", state="Building"))
    gone = index.remove("team", "web-1")
    assert gone.freed_a_slot and index.running("team") == 0 and index.state("team", "web-1") is None
    assert not index.remove("team", "web-1").known
    assert index.newest("team", "web") is None


def test_a_renumbered_execution_takes_its_new_place_in_line() -> None:
    index = ExecutionIndex()
    index.update("team", ex("web-a", run=0, created="2024-01-01T00:00:01Z"))
    index.update("team", ex("web-b", run=5, created="2024-01-01T00:00:01Z"))
    assert index.waiting("team") == ["web-a", "web-b"]
    index.update("team", ex("web-a", run=6, created="2024-01-01T00:00:01Z"))  # the run number was taken
    assert index.waiting("team") == ["web-b", "web-a"]
    assert index.newest("team", "web") == "web-a"
    assert len(index) == 2


def test_newest_run_and_previous_finished_run_per_pipeline() -> None:
    index = ExecutionIndex()
    for run, state in ((1, "Success"), (2, "Failed"), (3, "Skipped"), (4, "Building")):
        index.update("team", ex(f"web-{run}", run=run, state=state))
    index.update("team", ex("api-9", run=9, state="Aborted", pipeline="api"))
    assert index.newest("team", "web") == "web-4"
    assert index.newest("team", "api") == "api-9"
    assert index.previous_finished("team", "web", 4) == "Failed"  # Skipped runs are not "the previous run"
    assert index.previous_finished("team", "web", 2) == "Success"
    assert index.previous_finished("team", "web", 1) is None
    assert index.previous_finished("team", "nothing", 5) is None
