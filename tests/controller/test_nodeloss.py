"""The node check's pure parts: which runs a Node's change wakes, and what counts as lost.
The controller-level behaviour (a lost node fails the run within seconds; a run on a healthy
node costs nothing while it waits) is in test_run_forms.py."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from translator.api.states import State
from translator.controller.nodeloss import NodeWatch, slim_node
from translator.status.argo import StepObservation, WorkflowObservation


def _node(name: str, ready: str, reason: str = "", **extra: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "uid": f"u-{name}", "resourceVersion": "7", "labels": {"a": "b"}},
            "status": {"conditions": [{"type": "MemoryPressure", "status": "False"},
                                      {"type": "Ready", "status": ready, "reason": reason}],
                       "images": [{"names": ["x" * 100]}] * 50, **extra}}


def _obs(**steps: tuple[State, str]) -> WorkflowObservation:
    found = {k: StepObservation(state=s, phase="", host_node=n) for k, (s, n) in steps.items()}
    return WorkflowObservation(name="wf", phase="Running", state=State.BUILDING, started="", ended="", message="",
                               steps=found)


class _World:
    def __init__(self) -> None:
        self.nodes: dict[str, dict[str, Any]] = {}
        self.synced = True
        self.woken: list[Hashable] = []
        self.watch = NodeWatch(self.nodes.get, lambda: self.synced, self.woken.append)


def test_a_node_that_stops_being_ready_or_goes_wakes_only_the_runs_on_it() -> None:
    w = _World()
    w.watch.follow("a", _obs(build=(State.BUILDING, "n1")))
    w.watch.follow("b", _obs(build=(State.BUILDING, "n2"), test=(State.WAITING, "")))
    w.watch.on_event("MODIFIED", _node("n1", "True"))
    assert w.woken == []  # a Ready node wakes no one
    w.watch.on_event("MODIFIED", _node("n1", "Unknown", "NodeStatusUnknown"))
    assert w.woken == ["a"]
    w.watch.on_event("DELETED", _node("n2", "True"))
    assert w.woken == ["a", "b"]
    w.watch.on_event("MODIFIED", _node("n3", "False"))  # no run there
    assert w.woken == ["a", "b"]


def test_a_run_is_followed_only_while_it_has_unfinished_steps_on_a_node() -> None:
    w = _World()
    w.watch.follow("a", _obs(build=(State.SUCCESS, "n1"), test=(State.BUILDING, "n2")))
    w.watch.on_event("MODIFIED", _node("n1", "False"))
    assert w.woken == []  # its step on n1 is done: n1 no longer matters to it
    w.watch.follow("a", _obs(test=(State.SUCCESS, "n2")))
    assert w.watch.watching() == 0
    w.watch.follow("a", _obs(test=(State.BUILDING, "n2")))
    w.watch.forget("a")
    w.watch.on_event("DELETED", _node("n2", "True"))
    assert w.woken == [] and w.watch.watching() == 0


def test_lost_means_not_ready_or_missing_from_a_whole_cache_and_nothing_before_the_cache_is_whole() -> None:
    w = _World()
    obs = _obs(build=(State.BUILDING, "n1"))
    w.nodes["n1"] = slim_node(_node("n1", "True"))
    assert w.watch.check(obs) == ("", "")
    w.nodes["n1"] = slim_node(_node("n1", "Unknown", "NodeStatusUnknown"))
    node, why = w.watch.check(obs)
    assert node == "n1" and "not Ready (NodeStatusUnknown" in why
    del w.nodes["n1"]
    assert w.watch.check(obs)[0] == "n1"  # gone
    w.synced = False
    assert w.watch.check(obs) == ("", "")  # a cache still listing (or a watch refused) loses no node


def test_a_cached_node_keeps_only_its_identity_and_ready_condition() -> None:
    slim = slim_node(_node("n1", "True"))
    assert slim == {"metadata": {"name": "n1", "uid": "u-n1", "resourceVersion": "7"},
                    "status": {"conditions": [{"type": "Ready", "status": "True", "reason": ""}]}}
