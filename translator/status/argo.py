"""Pure: an Argo Workflow object -> what each step did. One table from Argo's phases to ours.

Argo records a DAG task as a node named `<workflow>.<task>` (display name `<task>`): a `Pod`
node, a `Retry` node whose children are the attempts (`<task>(0)`, `<task>(1)`…), or a
`Skipped` node (phase Skipped, or Omitted when its dependencies failed). Large workflows keep
the node map gzip+base64 in `status.compressedNodes`. The pod that ran a node is named, with
Argo's v2 pod names, `<workflow>-<template>-<hash>` where `<hash>` ends the node id.
"""

from __future__ import annotations

import base64
import gzip
import json
from dataclasses import dataclass
from typing import Any

from translator.api.states import State

# Argo node phase -> step state (shutdown and fail-fast aborts are decided in status.execution)
NODE_PHASES: dict[str, State] = {
    "Pending": State.WAITING,
    "Running": State.BUILDING,
    "Succeeded": State.SUCCESS,
    "Skipped": State.SKIPPED,
    "Omitted": State.SKIPPED,
    "Failed": State.FAILED,
    "Error": State.FAILED,
}

# Argo workflow phase -> whether the run is over, and how
WORKFLOW_PHASES: dict[str, State] = {
    "": State.BUILDING,
    "Pending": State.BUILDING,
    "Running": State.BUILDING,
    "Succeeded": State.SUCCESS,
    "Failed": State.FAILED,
    "Error": State.FAILED,
}

STEP_NODE_TYPES = ("Pod", "Retry", "Skipped", "Container")


@dataclass(frozen=True)
class StepObservation:
    state: State
    phase: str
    started: str = ""
    ended: str = ""
    message: str = ""
    host_node: str = ""
    pod_name: str = ""


@dataclass(frozen=True)
class WorkflowObservation:
    name: str
    phase: str
    state: State
    started: str
    ended: str
    message: str
    steps: dict[str, StepObservation]  # by DAG task name
    shutdown: str = ""
    number: int = 0  # the engine's build number, where it has one (Jenkins)
    placed: bool | None = None  # the run got a node; None: judge by the steps' host nodes

    @property
    def finished(self) -> bool:
        return self.state.finished


def decode_nodes(status: dict[str, Any]) -> dict[str, Any]:
    """`status.nodes`, or the same map decoded from `status.compressedNodes`."""
    if status.get("nodes"):
        return dict(status["nodes"])
    packed = status.get("compressedNodes")
    if not packed:
        return {}
    decoded: dict[str, Any] = json.loads(gzip.decompress(base64.b64decode(packed)))
    return decoded


def pod_name(workflow_name: str, node: dict[str, Any]) -> str:
    """Argo's v2 pod name of a Pod node."""
    node_id = str(node.get("id", ""))
    template = str(node.get("templateName", ""))
    if not template or "-" not in node_id:
        return node_id
    prefix = f"{workflow_name}-{template}"
    if len(prefix) > 63 - 11:
        prefix = prefix[: 63 - 11].rstrip("-")
    return f"{prefix}-{node_id.rsplit('-', 1)[1]}"


def observe(workflow: dict[str, Any], tasks: list[str]) -> WorkflowObservation:
    """What Argo says about each of `tasks` (the DAG task names the compiler wrote)."""
    name = workflow.get("metadata", {}).get("name", "")
    status = workflow.get("status") or {}
    nodes = decode_nodes(status)
    by_name = {n.get("name"): n for n in nodes.values()}
    by_display: dict[str, dict[str, Any]] = {}
    for n in nodes.values():
        if n.get("type") in STEP_NODE_TYPES and n.get("displayName") and "(" not in n["displayName"]:
            by_display.setdefault(n["displayName"], n)
    steps = {}
    for task in tasks:
        node = by_name.get(f"{name}.{task}") or by_display.get(task)
        if node is None:
            continue
        steps[task] = _step(name, node, nodes)
    phase = status.get("phase") or ""
    return WorkflowObservation(
        name=name, phase=phase, state=WORKFLOW_PHASES.get(phase, State.BUILDING),
        started=status.get("startedAt") or "", ended=status.get("finishedAt") or "",
        message=status.get("message") or "", steps=steps,
        shutdown=(workflow.get("spec") or {}).get("shutdown") or "",
    )


def _step(workflow_name: str, node: dict[str, Any], nodes: dict[str, Any]) -> StepObservation:
    pod = node
    if node.get("type") == "Retry":
        attempts = [nodes[c] for c in node.get("children", []) if c in nodes and nodes[c].get("type") == "Pod"]
        if attempts:
            pod = attempts[-1]
    phase = node.get("phase") or "Pending"
    return StepObservation(
        state=NODE_PHASES.get(phase, State.BUILDING),
        phase=phase,
        started=node.get("startedAt") or "",
        ended=node.get("finishedAt") or "",
        message=node.get("message") or pod.get("message") or "",
        host_node=pod.get("hostNodeName") or "",
        pod_name=pod_name(workflow_name, pod) if pod.get("type") == "Pod" else "",
    )
