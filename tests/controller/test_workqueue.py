"""The work queue: a key once however often added, urgent keys first without starving the rest,
keys added for later each once at the sooner of their times (client-go's delaying queue)."""

from __future__ import annotations

import time

from translator.controller.workqueue import WorkQueue


def test_a_queued_key_added_again_as_urgent_moves_ahead_and_comes_once() -> None:
    queue = WorkQueue()
    for key in ("a", "b", "c"):
        queue.add(key)
    queue.add("c", urgent=True)
    queue.add("b")  # already queued: nothing changes
    got = []
    while (key := queue.get(timeout=0.05)) is not None:
        got.append(key)
        queue.done(key)
    assert got == ["c", "a", "b"]


def test_a_key_added_while_processing_runs_again_after_and_only_once() -> None:
    queue = WorkQueue()
    queue.add("k")
    assert queue.get(timeout=0.1) == "k"
    queue.add("k")
    queue.add("k", urgent=True)
    assert queue.get(timeout=0.05) is None  # never by two workers at once
    queue.done("k")
    assert queue.get(timeout=0.1) == "k"
    queue.done("k")
    assert queue.get(timeout=0.05) is None


def test_a_key_waiting_comes_once_at_the_sooner_of_its_times() -> None:
    queue = WorkQueue()
    queue.add_after("k", 0.3)
    queue.add_after("k", 5.0)  # later: the key keeps its sooner time
    queue.add_after("j", 0.4)
    queue.add_after("j", 0.1)  # sooner: moved up
    began = time.monotonic()
    assert queue.get(timeout=2) == "j"
    queue.done("j")
    assert queue.get(timeout=2) == "k"
    queue.done("k")
    assert time.monotonic() - began < 1.0
    assert queue.get(timeout=0.6) is None  # neither comes again from its other time


def test_many_waiting_keys_come_due_in_order() -> None:
    queue = WorkQueue()
    for i in reversed(range(200)):
        queue.add_after(i, 0.05 + i / 10000)
    queue.add("now")
    assert queue.get(timeout=1) == "now"
    time.sleep(0.1)
    got = []
    while (key := queue.get(timeout=0.05)) is not None:
        got.append(key)
        queue.done(key)
    assert got == list(range(200))
