"""The execution reconciler's node check: a run on a lost node fails within one sync, `NodeLost`.

I/O only: reads the Node objects of the nodes the run's unfinished steps are on (one GET each,
only while the run has such steps); the decision is translator.status.nodes.lost_node.
"""

from __future__ import annotations

from kubernetes import client

from translator.api.resources_types import PipelineExecutionStatus
from translator.controller import lifecycle
from translator.kubeclient import Kube
from translator.status.argo import WorkflowObservation
from translator.status.nodes import NodeHealth, hosts, lost_node

REASON = "NodeLost"


def node_health(kube: Kube, names: list[str]) -> dict[str, NodeHealth]:
    out: dict[str, NodeHealth] = {}
    for name in names:
        try:
            node = kube.call(kube.core.read_node, name)
        except client.ApiException as exc:
            if exc.status == 404:
                out[name] = NodeHealth(ready="")
                continue
            raise
        ready = next((c for c in (node.status.conditions or []) if c.type == "Ready"), None) if node.status else None
        out[name] = NodeHealth(ready=ready.status if ready else "Unknown", reason=(ready.reason or "") if ready else "",
                               message=(ready.message or "") if ready else "no Ready condition")
    return out


def check(kube: Kube, obs: WorkflowObservation | None) -> tuple[str, str]:
    """(node, message) when the run is on a lost node, else ("", "")."""
    if obs is None or obs.finished:
        return "", ""
    names = hosts(obs)
    return lost_node(obs, node_health(kube, names)) if names else ("", "")


def failed(status: PipelineExecutionStatus, node: str, message: str, *, now: str) -> PipelineExecutionStatus:
    """The run's status once its node is lost: steps running there Failed, the rest Aborted."""
    return lifecycle.engine_lost(status, REASON, f"{message}; the run cannot continue there",
                                 step_message=f"node {node} lost", now=now)
