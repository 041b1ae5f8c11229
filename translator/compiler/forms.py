"""Which form a run takes on a cluster: one pod, pod-per-step pinned to one node, or a shared claim.

A run's steps share a workspace. On network block storage (the default class of managed
Kubernetes) a `ReadWriteOnce` claim shared by pods on different nodes makes the second pod wait
with a Multi-Attach error, and every move between nodes costs a detach and an attach. So:

- `POD` (the default): the whole run is one pod, a containerSet with one container per step,
  the workspace an `emptyDir` (as Rancher's Jenkins agent pod was);
- `PINNED`: when the run does not fit one pod — more steps than `argo.maxStepsPerPod`, a peak
  request above `argo.nodeCpu` / `argo.nodeMemory`, or `argo.runForm: pinned` — one pod per
  step, every pod after the first on the node the first ran on, the workspace a hostPath
  directory on that node (`workspace_host_path`), removed by the cache agent once the run ended;
- `PVC`: only when asked (`argo.runForm: pvc`): one pod per step sharing a `ReadWriteMany` claim.

The form depends only on the config and the setting (never on the cluster's state), so
`translator logs` finds the same log keys the compiler wrote.

Stored formats: the workspace of a pinned run is `<cache root>/.workspaces/<Workflow namespace>/<Workflow name>`
on its node (the cache agent's scan skips dot-directories); the log of a one-pod run's step is
`<namespace>/<pipeline>/<run>/<step id>.log` (Argo's executor writes `<key>/<container>.log` for
each container of a containerSet, and the containers are named by step id).
"""

from __future__ import annotations

import posixpath
from enum import Enum

from translator.compiler.plan import CompileError, Plan, PlanStep, log_prefix
from translator.compiler.requests import QuantityError, peak, units

WORKSPACES_DIR = ".workspaces"


class RunForm(Enum):
    POD = "pod"
    PINNED = "pinned"
    PVC = "pvc"


def running_stages(plan: Plan) -> list[list[PlanStep]]:
    """The stages that start something, each with its steps that run (skipped ones are not in the pod)."""
    stages = [[s for s in stage.steps if not s.skipped] for stage in plan.stages]
    return [stage for stage in stages if stage]


def peak_need(plan: Plan, resource: str) -> int:
    """The largest stage's sum of requests of `resource`, in whole units (millicores, bytes)."""
    try:
        return peak([[units(s.resources["requests"][resource], resource) for s in stage]
                     for stage in running_stages(plan)])
    except QuantityError as exc:
        raise CompileError(str(exc)) from None


def run_form(plan: Plan) -> RunForm:
    """The form this run compiles to (see the module docstring for the rules)."""
    argo = plan.setting.argo
    if argo.run_form != "auto":
        return RunForm(argo.run_form)
    if sum(len(stage) for stage in running_stages(plan)) > argo.max_steps_per_pod:
        return RunForm.PINNED
    for resource, budget in (("cpu", argo.node_cpu), ("memory", argo.node_memory)):
        if not budget:
            continue
        try:
            room = units(budget, resource)
        except QuantityError as exc:
            raise CompileError(f"argo.node{resource.capitalize()}: {exc}") from None
        if peak_need(plan, resource) > room:
            return RunForm.PINNED
    return RunForm.POD


def workspace_host_path(plan: Plan, namespace: str, workflow: str) -> str:
    """The node-local workspace of a pinned run, by its Workflow's namespace and name (stored
    format: the cache agent removes it once that Workflow is over)."""
    return posixpath.join(plan.setting.cache.host_path_root, WORKSPACES_DIR, namespace, workflow)


def pod_log_prefix(plan: Plan) -> str:
    """The archive key of a one-pod run: each container's log is `<prefix>/<container>.log`."""
    return f"{plan.namespace}/{plan.pipeline}/{plan.run}"


def step_log_key(plan: Plan, step: PlanStep) -> str:
    """Where the step's log is archived, in the run's form (stored format, docs/logs.md)."""
    if run_form(plan) is RunForm.POD:
        return f"{pod_log_prefix(plan)}/{step.id}.log"
    return f"{log_prefix(plan.namespace, plan.pipeline, plan.run, step.stage_index, step.step_index)}/main.log"
