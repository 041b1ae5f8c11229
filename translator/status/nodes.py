"""Pure: is a node a run is on gone? A lost node fails the run now, not at its deadline.

When a node dies, its kubelet stops reporting: the pods on it keep their last status (Running)
and Argo's view of the run goes stale, until the node lifecycle controller evicts them after
their `tolerationSeconds` (300 s by default for `node.kubernetes.io/unreachable`). The Node's
`Ready` condition says it first: `Unknown` (the kubelet stopped posting status) or `False`
within the node monitor grace period (kubernetes pkg/controller/nodelifecycle). A run whose
unfinished step is on a node that is not Ready, or no longer exists, has lost its workspace and
its cache there, so it fails with `NodeLost` naming the node; `rerun --from-failed` runs the
rest elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from translator.status.argo import WorkflowObservation


@dataclass(frozen=True)
class NodeHealth:
    ready: str  # the Ready condition's status: "True", "False", "Unknown"; "" when the Node is gone
    reason: str = ""
    message: str = ""


def hosts(obs: WorkflowObservation) -> list[str]:
    """The nodes the run's unfinished steps are on, in step order."""
    return list(dict.fromkeys(s.host_node for s in obs.steps.values() if s.host_node and not s.state.finished))


def lost_node(obs: WorkflowObservation, health: Mapping[str, NodeHealth]) -> tuple[str, str]:
    """(node, why) of the first node an unfinished step is on that is gone or not Ready; ("", "")."""
    if obs.finished:
        return "", ""
    for node in hosts(obs):
        seen = health.get(node)
        if seen is None or seen.ready == "":
            return node, f"node {node} is gone (deleted while the run was on it)"
        if seen.ready != "True":
            detail = f": {seen.message}" if seen.message else ""
            return node, f"node {node} is not Ready ({seen.reason or seen.ready}{detail})"
    return "", ""
