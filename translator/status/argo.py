"""Pure: an Argo Workflow object -> what each step did. One table from Argo's phases to ours.

Argo records a DAG task as a node named `<workflow>.<task>` (display name `<task>`): a `Pod`
node, a `Retry` node whose children are the attempts (`<task>(0)`, `<task>(1)`…), or a
`Skipped` node (phase Skipped, or Omitted when its dependencies failed). Large workflows keep
the node map gzip+base64 in `status.compressedNodes`. A one-pod run (a containerSet as the
entrypoint) is one `Pod` node named `<workflow>` and a `Container` node `<workflow>.<container>`
per step, its `boundaryID` the pod's node (workflow/controller/container_set_template.go
executeContainerSet); the containers are named by step id, so they are found the same way.

The pod that ran a node is named by Argo's rule (argo-workflows workflow/util/pod_name.go
GeneratePodName, the same in v3.6, v3.7, v4.0 and v4.1): with v2 pod names (the default,
recorded in the Workflow's annotation `workflows.argoproj.io/pod-name-format`),
`<workflow>-<template>` cut to 242 characters, then `-` and the decimal FNV-1a 32-bit hash of
the node's *name*; the root node's pod is the Workflow's name; with v1 names, the node id.
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

# argo-workflows workflow/util/pod_name.go: maxK8sResourceNameLength - k8sNamingHashLength - 1
MAX_POD_NAME_PREFIX = 253 - 10 - 1
POD_NAME_FORMAT = "workflows.argoproj.io/pod-name-format"  # workflow/common/common.go


@dataclass(frozen=True)
class StepObservation:
    state: State
    phase: str
    started: str = ""
    ended: str = ""
    message: str = ""
    host_node: str = ""
    pod_name: str = ""
    container: str = "main"  # the container of `pod_name` that ran the step


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
    offloaded: str = ""  # Argo's status.offloadNodeStatusVersion when the nodes are in its database

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


def fnv1a_32(text: str) -> int:
    """Go's hash/fnv New32a over the UTF-8 bytes of `text`."""
    value = 0x811C9DC5
    for byte in text.encode("utf-8"):
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


def pod_name(workflow_name: str, node: dict[str, Any], version: str = "v2") -> str:
    """The pod Argo made for a Pod node (workflow/util/pod_name.go GeneratePodName)."""
    node_name = str(node.get("name", ""))
    if version == "v1":
        return str(node.get("id", ""))
    if node_name == workflow_name:
        return workflow_name
    # workflow/util/util.go GetTemplateFromNode: a templateRef's template wins
    template = str((node.get("templateRef") or {}).get("template") or node.get("templateName") or "")
    prefix = f"{workflow_name}-{template}" if template else workflow_name
    return f"{prefix[:MAX_POD_NAME_PREFIX]}-{fnv1a_32(node_name)}"


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
    steps: dict[str, Any] = {}
    for task in tasks:
        node = by_name.get(f"{name}.{task}") or by_display.get(task)
        if node is not None:
            steps[task] = node
    phase = status.get("phase") or ""
    version = (workflow.get("metadata", {}).get("annotations") or {}).get(POD_NAME_FORMAT, "v2")
    graph = container_graph(workflow)
    shutdown = (workflow.get("spec") or {}).get("shutdown") or ""
    containers = {n.get("displayName"): n for n in nodes.values() if n.get("type") == "Container"}
    observed = {task: _container_step(name, node, nodes, version, graph, containers, shutdown=bool(shutdown))
                if node.get("type") == "Container" else _step(name, node, nodes, version)
                for task, node in steps.items()}
    steps = {task: seen for task, seen in observed.items() if seen is not None}
    return WorkflowObservation(
        name=name, phase=phase, state=WORKFLOW_PHASES.get(phase, State.BUILDING),
        started=status.get("startedAt") or "", ended=status.get("finishedAt") or "",
        message=status.get("message") or "", steps=steps,
        shutdown=shutdown,
    )


def _step(workflow_name: str, node: dict[str, Any], nodes: dict[str, Any], version: str) -> StepObservation:
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
        pod_name=pod_name(workflow_name, pod, version) if pod.get("type") == "Pod" else "",
    )


def container_graph(workflow: dict[str, Any]) -> dict[str, list[str]]:
    """Each containerSet container's dependencies, by container name (empty: no containerSet)."""
    return {c["name"]: list(c.get("dependencies") or [])
            for t in (workflow.get("spec") or {}).get("templates") or [] if "containerSet" in t
            for c in t["containerSet"].get("containers") or []}


def _container_step(workflow_name: str, node: dict[str, Any], nodes: dict[str, Any], version: str,
                    graph: dict[str, list[str]], seen: dict[str, Any], *, shutdown: bool) -> StepObservation | None:
    """A step of a one-pod run. Argo writes each container's phase from the pod's container
    statuses (workflow/controller/operator.go podReconciliation), and a container waiting for
    its dependencies is Running to Argo (the emissary runs and waits:
    cmd/argoexec/commands/emissary.go); to us the step has not started until every dependency
    succeeded, and then it started when the last of them finished. A dependent of a failed
    step ends Failed too (its emissary exits with the dependency's code); to us it never ran.
    A step that has not started is None: not observed, as a DAG task Argo has not reached."""
    pod = nodes.get(node.get("boundaryID") or "") or {}
    deps = [seen.get(d) for d in graph.get(str(node.get("displayName")), [])]
    pod_fields = {"host_node": pod.get("hostNodeName") or "", "container": str(node.get("displayName") or ""),
                  "pod_name": pod_name(workflow_name, pod, version) if pod.get("type") == "Pod" else ""}
    if any(d is None or d.get("phase") != "Succeeded" for d in deps):
        return None
    phase = node.get("phase") or "Pending"
    started = max([d.get("finishedAt") or "" for d in deps if d] + [pod.get("startedAt") or ""])
    message = node.get("message") or ""
    if phase == "Pending" and not message:  # the pod's waiting reason (operator.go getPendingReason)
        message = pod.get("message") or ""
    if shutdown and phase in ("Failed", "Error"):
        message = f"terminated by the run's shutdown ({message})" if message else "terminated by the run's shutdown"
    return StepObservation(
        state=NODE_PHASES.get(phase, State.BUILDING), phase=phase, started=started,
        ended=node.get("finishedAt") or "", message=message, **pod_fields)
