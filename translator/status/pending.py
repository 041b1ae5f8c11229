"""Pure: which waiting steps cannot start, and why, from what the engine reports.

Argo copies a pending pod's container waiting reason into the node's message as
`<Reason>: <message>` (argo-workflows workflow/controller/operator.go: assessNodeStatus and
getPendingReason), so a step that waits on a bad image or a missing Secret says so at once.
Some of those reasons are worth waiting out, some mean the pod will never start; only the
kubelet reasons below count against the controller's start deadline (`translator controller
--start-deadline`). Waiting for a lock ("Waiting for lock") or for a node ("Unschedulable: ...",
which the cache wait and the cluster autoscaler resolve) never does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from translator.api.states import State
from translator.status.argo import WorkflowObservation

# kubernetes pkg/kubelet/images/types.go and pkg/kubelet/container/sync_result.go: waiting
# reasons of a container the kubelet cannot pull, configure or create
CANNOT_START_REASONS = frozenset({
    "ErrImagePull", "ImagePullBackOff", "ImageInspectError", "ErrImageNeverPull", "InvalidImageName",
    "CreateContainerConfigError", "CreateContainerError",
})


@dataclass(frozen=True)
class CannotStart:
    """A step whose pod cannot start: the kubelet's reason word and the whole message."""

    reason: str
    message: str


def waiting_reason(message: str) -> str:
    """The kubelet reason that begins a pending node's message, when it is one that blocks the start."""
    word = message.split(":", 1)[0].strip()
    return word if word in CANNOT_START_REASONS else ""


def cannot_start(obs: WorkflowObservation | None) -> dict[str, CannotStart]:
    """The steps that wait on a pod which cannot start, by step id."""
    if obs is None or obs.finished:
        return {}
    found = {}
    for step_id, step in obs.steps.items():
        reason = waiting_reason(step.message) if step.state is State.WAITING else ""
        if reason:
            found[step_id] = CannotStart(reason, step.message)
    return found


def overdue(first_seen: Mapping[str, float], now: float, limit: float) -> tuple[list[str], float | None]:
    """The steps unable to start for at least `limit` seconds, and how long until the next one is."""
    late = sorted(step for step, since in first_seen.items() if now - since >= limit)
    waiting = [since + limit - now for step, since in first_seen.items() if step not in late]
    return late, (min(waiting) if waiting else None)
