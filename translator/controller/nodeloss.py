"""The execution reconciler's node check: a run on a lost node fails within seconds, `NodeLost`.

A lost node changes nothing Argo writes (its pods keep their last status), so no Workflow event
would wake the reconciler: a Building Argo run with steps on a node is looked at again every
`CHECK_SECONDS`. The Nodes are listed at most once per `CHECK_SECONDS` for all runs together
(one request, however many runs), through an injected clock. The decision itself is pure:
translator.status.nodes.lost_node.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from kubernetes import client

from translator.api.resources_types import PipelineExecutionStatus
from translator.controller import lifecycle
from translator.kubeclient import Kube
from translator.status.argo import WorkflowObservation
from translator.status.nodes import NodeHealth, hosts, lost_node

log = logging.getLogger("translator.controller")
REASON = "NodeLost"
CHECK_SECONDS = 2.0


def _health(node: object) -> NodeHealth:
    status = getattr(node, "status", None)
    ready = next((c for c in (getattr(status, "conditions", None) or []) if c.type == "Ready"), None)
    if ready is None:
        return NodeHealth(ready="Unknown", message="no Ready condition")
    return NodeHealth(ready=ready.status or "Unknown", reason=ready.reason or "", message=ready.message or "")


class NodeWatch:
    """The cluster's nodes and their Ready condition, listed at most once per `ttl` seconds."""

    def __init__(self, kube: Kube, *, clock: Callable[[], float] = time.monotonic, ttl: float = CHECK_SECONDS) -> None:
        self.kube, self.clock, self.ttl = kube, clock, ttl
        self._lock = threading.Lock()
        self._at = -ttl
        self._nodes: dict[str, NodeHealth] = {}

    def nodes(self) -> dict[str, NodeHealth]:
        with self._lock:
            now = self.clock()
            if now - self._at >= self.ttl:
                listed = self.kube.call(self.kube.core.list_node)
                self._nodes = {n.metadata.name: _health(n) for n in listed.items}
                self._at = now
            return dict(self._nodes)

    def check(self, obs: WorkflowObservation | None) -> tuple[str, str]:
        """(node, message) when the run is on a lost node, else ("", "")."""
        if obs is None or obs.finished or not hosts(obs):
            return "", ""
        try:
            nodes = self.nodes()
        except client.ApiException as exc:  # the API stumbled: the run is looked at again in CHECK_SECONDS
            log.info("cannot list nodes (%s); the node check waits for the next sync", exc.status)
            return "", ""
        return lost_node(obs, nodes)


def watched(obs: WorkflowObservation | None) -> bool:
    """Whether the run has steps on nodes, so it is looked at again in `CHECK_SECONDS`."""
    return obs is not None and not obs.finished and bool(hosts(obs))


def failed(status: PipelineExecutionStatus, node: str, message: str, *, now: str) -> PipelineExecutionStatus:
    """The run's status once its node is lost: steps running there Failed, the rest Aborted."""
    return lifecycle.engine_lost(status, REASON, f"{message}; the run cannot continue there",
                                 step_message=f"node {node} lost", now=now)
