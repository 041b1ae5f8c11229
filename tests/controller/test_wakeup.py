"""Waking queued runs: the resync finds what a lost wake-up left behind, and neither a relist nor
a late write takes the cache (and the index) back before what the API server stored last."""

from __future__ import annotations

import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from tests.controller.harness import System, wait_for
from tests.controller.test_index import ex
from tests.kube_double.server import KubeDouble
from translator.controller import runs
from translator.controller.index import ExecutionIndex
from translator.controller.informer import Informer
from translator.controller.resync import Resync
from translator.controller.workqueue import WorkQueue


def test_the_resync_queues_every_execution_not_yet_final_and_no_finished_one() -> None:
    index = ExecutionIndex()
    for name, state in (("web-1", "Success"), ("web-2", "Building"), ("web-3", "Queueing"), ("web-4", ""),
                        ("web-5", "Failed")):
        index.update("team", ex(name, state=state))
    index.update("other", ex("api-1", state="Waiting"))
    assert sorted(index.unfinished()) == [("other", "api-1"), ("team", "web-2"), ("team", "web-3"),
                                          ("team", "web-4")]
    queue = WorkQueue()
    assert Resync(index, queue, 30.0).once() == 4
    taken = {queue.get(timeout=0.01) for _ in range(5)}
    assert taken == {("execution", "other", "api-1"), ("execution", "team", "web-2"),
                     ("execution", "team", "web-3"), ("execution", "team", "web-4"), None}
    for key in taken - {None}:
        queue.done(key)
    # the running ones only every running_every-th time: their engine wakes them
    assert Resync(index, queue, 30.0).once(running=False) == 3
    assert {queue.get(timeout=0.01) for _ in range(4)} == {
        ("execution", "other", "api-1"), ("execution", "team", "web-3"), ("execution", "team", "web-4"), None}


def test_the_resync_looks_at_running_executions_every_tenth_time() -> None:
    index = ExecutionIndex()
    index.update("team", ex("web-1", state="Building"))
    index.update("team", ex("web-2", state="Queueing"))
    queue = WorkQueue()
    resync = Resync(index, queue, 0.02, running_every=3).start()
    seen: list[str] = []
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        key = queue.get(timeout=0.05)
        if key is not None:
            seen.append(key[2])  # type: ignore[index]
            queue.done(key)
    resync.stop()
    assert seen.count("web-2") >= 9 and 1 <= seen.count("web-1") <= seen.count("web-2") // 3 + 1, seen


class _Listing:
    """A kube whose namespaced list answers with the given items (what a list served earlier saw)."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items
        self.custom = SimpleNamespace(list_namespaced_custom_object=self.list)

    def list(self, *_args: Any, **_kwargs: Any) -> dict[str, Any]:
        return {"metadata": {"resourceVersion": "10"}, "items": self.items}

    def call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)


def _stored(state: str, rv: str) -> dict[str, Any]:
    obj = ex("web-1", state=state)
    obj["metadata"].update(uid="u1", resourceVersion=rv)
    return obj


def test_a_relist_older_than_our_own_write_leaves_the_cache_at_the_write() -> None:
    seen: list[str] = []
    inf = Informer(_Listing([_stored("Queueing", "7")]), plural="pipelineexecutions",  # type: ignore[arg-type]
                   group="g", version="v", namespaces=["team"],
                   handler=lambda _k, o: seen.append(o["status"]["executionState"]))
    inf.cache[("team", "web-1")] = _stored("Building", "9")  # our write, stored by the API server as rv 9
    inf._relist("team")
    assert inf.get("team", "web-1")["status"]["executionState"] == "Building"  # type: ignore[index]
    assert seen == [], "no event takes the index back to Queueing"
    inf.cache[("team", "web-1")] = _stored("Building", "5")
    inf._relist("team")
    assert inf.get("team", "web-1")["status"]["executionState"] == "Queueing" and seen == ["Queueing"]


def test_our_write_is_cached_only_over_an_older_version_and_never_brings_back_a_deleted_one() -> None:
    inf = Informer(_Listing([]), plural="pipelineexecutions", group="g", version="v")  # type: ignore[arg-type]
    assert inf.store(_stored("Building", "9")) is None, "its DELETED event came first: it stays gone"
    assert inf.get("team", "web-1") is None
    inf.cache[("team", "web-1")] = _stored("Building", "11")  # a later watch event was seen first
    assert inf.store(_stored("Queueing", "9"))["status"]["executionState"] == "Building"  # type: ignore[index]
    assert inf.store(_stored("Success", "12"))["metadata"]["resourceVersion"] == "12"  # type: ignore[index]


@pytest.fixture
def double() -> Iterator[KubeDouble]:
    with KubeDouble() as kube:
        yield kube


def test_a_lost_wake_up_is_found_by_the_resync(double: KubeDouble) -> None:
    system = System(double, quota=1, step_seconds=0.05)
    system.apply_pipeline("web")
    controller = system.start_controller(resync_seconds=0.3)
    controller.shared.wake_waiting = lambda _namespace: None  # type: ignore[method-assign]  # every wake-up lost
    try:
        names = [runs.create_run(system.kube, "team", "web")["metadata"]["name"] for _ in range(3)]
        wait_for(lambda: all(system.state(n) == "Success" for n in names), timeout=30,
                 what="the queued runs to start after the resync, with no wake-up")
    finally:
        system.close()
