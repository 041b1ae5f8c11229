"""The execution reconciler's node check: a run on a lost node fails within seconds, `NodeLost`.

A lost node changes nothing Argo writes (its pods keep their last status), so no Workflow event
would wake the reconciler; the Node's own object does change: the node lifecycle controller sets
its Ready condition to Unknown (or the Node is deleted). So the controller watches Nodes (an
informer: a Node is written when its conditions change, the kubelet's heartbeat goes to a Lease
since Kubernetes 1.17, so the watch is quiet), remembers which Building runs have unfinished
steps on which node (from each sync), and wakes those runs when their node stops being Ready or
goes. A run costs nothing while its node is well: no timer, no request. The decision itself is
pure: translator.status.nodes.lost_node.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable
from typing import Any

from translator.api.resources_types import PipelineExecutionStatus
from translator.controller import lifecycle
from translator.status.argo import WorkflowObservation
from translator.status.nodes import NodeHealth, hosts, lost_node

log = logging.getLogger("translator.controller")
REASON = "NodeLost"


def ready_condition(node: dict[str, Any]) -> dict[str, Any] | None:
    return next((c for c in ((node.get("status") or {}).get("conditions") or [])
                 if isinstance(c, dict) and c.get("type") == "Ready"), None)


def health(node: dict[str, Any]) -> NodeHealth:
    ready = ready_condition(node)
    if ready is None:
        return NodeHealth(ready="Unknown", message="no Ready condition")
    return NodeHealth(ready=str(ready.get("status") or "Unknown"), reason=str(ready.get("reason") or ""),
                      message=str(ready.get("message") or ""))


def slim_node(node: dict[str, Any]) -> dict[str, Any]:
    """What the node check reads of a Node: its identity and its Ready condition (a Node's images,
    addresses and capacity are most of its bytes)."""
    meta = node.get("metadata") or {}
    ready = ready_condition(node)
    return {"metadata": {k: meta[k] for k in ("name", "uid", "resourceVersion") if k in meta},
            "status": {"conditions": [ready] if ready else []}}


class NodeWatch:
    """Which runs are on which node, and the nodes' health as the Node informer caches it.

    `cached(name)` reads a Node from the informer's cache, `synced()` says whether the cache is
    whole (before that, no node counts as gone), `wake(key)` queues a run again."""

    def __init__(self, cached: Callable[[str], dict[str, Any] | None], synced: Callable[[], bool],
                 wake: Callable[[Hashable], None]) -> None:
        self.cached, self.synced, self.wake = cached, synced, wake
        self._lock = threading.Lock()
        self._runs_on: dict[str, set[Hashable]] = {}  # node -> runs with unfinished steps there
        self._nodes_of: dict[Hashable, tuple[str, ...]] = {}

    def on_event(self, kind: str, obj: dict[str, Any]) -> None:
        """A Node changed: the runs on it are looked at again when it is gone or not Ready."""
        name = (obj.get("metadata") or {}).get("name", "")
        if kind != "DELETED" and health(obj).ready == "True":
            return
        with self._lock:
            runs = list(self._runs_on.get(name, ()))
        for key in runs:
            self.wake(key)

    def follow(self, key: Hashable, obs: WorkflowObservation | None) -> None:
        """Remember the nodes the run's unfinished steps are on (none once it is over)."""
        on = tuple(hosts(obs)) if obs is not None and not obs.finished else ()
        with self._lock:
            before = self._nodes_of.get(key, ())
            if before == on:
                return
            for node in before:
                runs = self._runs_on.get(node)
                if runs is not None:
                    runs.discard(key)
                    if not runs:
                        del self._runs_on[node]
            for node in on:
                self._runs_on.setdefault(node, set()).add(key)
            if on:
                self._nodes_of[key] = on
            else:
                self._nodes_of.pop(key, None)

    def forget(self, key: Hashable) -> None:
        self.follow(key, None)

    def watching(self) -> int:
        with self._lock:
            return len(self._nodes_of)

    def check(self, obs: WorkflowObservation | None) -> tuple[str, str]:
        """(node, message) when the run is on a lost node, else ("", "")."""
        if obs is None or obs.finished or not self.synced():
            return "", ""
        on = hosts(obs)
        if not on:
            return "", ""
        seen: dict[str, NodeHealth] = {}
        for node in on:
            found = self.cached(node)
            if found is not None:
                seen[node] = health(found)
        return lost_node(obs, seen)


def failed(status: PipelineExecutionStatus, node: str, message: str, *, now: str) -> PipelineExecutionStatus:
    """The run's status once its node is lost: steps running there Failed, the rest Aborted."""
    return lifecycle.engine_lost(status, REASON, f"{message}; the run cannot continue there",
                                 step_message=f"node {node} lost", now=now)
