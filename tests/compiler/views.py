"""Views of a compiled Workflow by step, whatever its form (one pod, or a pod per step)."""

from __future__ import annotations

from typing import Any


def is_one_pod(wf: dict[str, Any]) -> bool:
    return any("containerSet" in t for t in wf["spec"]["templates"])


def containers(wf: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each step's container, by step id: a containerSet's containers, else each step template's."""
    templates = wf["spec"]["templates"]
    if is_one_pod(wf):
        return {c["name"]: c for t in templates if "containerSet" in t for c in t["containerSet"]["containers"]}
    return {t["name"]: t["container"] for t in templates if "container" in t}


def dependencies(wf: dict[str, Any]) -> dict[str, list[str]]:
    """What each step waits for, by step id (an empty list: nothing)."""
    if is_one_pod(wf):
        return {name: list(c.get("dependencies", [])) for name, c in containers(wf).items()}
    dag = next(t for t in wf["spec"]["templates"] if "dag" in t)
    return {task["name"]: list(task.get("dependencies", [])) for task in dag["dag"]["tasks"]}


def init_containers(wf: dict[str, Any], step_id: str) -> list[dict[str, Any]]:
    """The init containers that run before the step: the one pod's, else the step template's."""
    templates = wf["spec"]["templates"]
    if is_one_pod(wf):
        return [c for t in templates if "containerSet" in t for c in t.get("initContainers", [])]
    return list(next(t for t in templates if t["name"] == step_id).get("initContainers", []))


def volumes(wf: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every volume a step's pod can mount, by name: the Workflow's and its templates' own."""
    found = {v["name"]: v for v in wf["spec"].get("volumes", [])}
    for template in wf["spec"]["templates"]:
        found.update({v["name"]: v for v in template.get("volumes", [])})
    return found

