"""The two shapes of a run's Argo templates besides the plain DAG: one pod, and pinned pods.

One pod (`containerSet`, argo-workflows docs/container-set-template.md; controller
workflow/controller/container_set_template.go): the entrypoint template is the run's only pod,
one container per step that runs, named by the step's id, each depending on every container of
the previous running stage (the emissary starts a container's command only once each dependency
wrote exit code 0: cmd/argoexec/commands/emissary.go). What a containerSet cannot do, and what
is done instead:
- no `when` per container and no enhanced `depends`: a skipped step is compiled out of the pod
  and the status layer records it Skipped from the plan (status.execution.initial_stages); the
  next stage depends on the last stage that runs;
- outputs only from a container named `main`: the run has none (a step id is never `main`);
- `retryStrategy` only for the whole set: none is written (Rancher had no retries either);
- every container holds its requests for the whole pod's life, so requests are split
  (compiler.requests) so the pod asks for the peak stage, not the sum;
- cache mutexes are the pod's: the run holds its caches' mutexes from start to end;
- a Workflow-level volume reaches the pod only if the set-level `volumeMounts` name it
  (workflowpod.go addVolumeReferences, Template.GetVolumeMounts): the pod's volumes are the
  template's own `volumes` (compiler/argo.py), which Argo always adds (createVolumes).

Pinned (pod-per-step on one node): the first running step (the anchor, normally the clone)
writes the node it runs on (the downward API's `spec.nodeName`) to a file that Argo reads as
the output parameter `node` (executor: outputs.parameters valueFrom.path); every other step
takes it as the input parameter `node` and requires that node by `matchFields metadata.name`
(Argo substitutes `{{inputs.parameters.*}}` across the whole template, affinity included:
workflow/common/util.go SubstituteParams; examples/node-selector.yaml). The anchor's own
stage-mates depend on it so they can be pinned too.
"""

from __future__ import annotations

from typing import Any

from translator.compiler.forms import running_stages
from translator.compiler.plan import Plan, PlanStep
from translator.compiler.pod import split_resources

NODE_PARAMETER = "node"
NODE_FILE = "/tmp/translator-node"
NODE_ENV = "TRANSLATOR_NODE_NAME"


def container_set(plan: Plan, name: str, containers: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The run's one pod: `containers` (by step id, each a full container) in stage order,
    requests split to the peak stage."""
    resources = split_resources(plan)
    nodes: list[dict[str, Any]] = []
    previous: list[str] = []
    for stage in running_stages(plan):
        for step in stage:
            node = {**containers[step.id], "name": step.id, "resources": resources[step.id]}
            if previous:
                node["dependencies"] = list(previous)
            nodes.append(node)
        previous = [s.id for s in stage]
    return {"name": name, "containerSet": {"containers": nodes}}


def anchor(plan: Plan) -> PlanStep | None:
    """The first step that runs: it picks the node the pinned run stays on."""
    stages = running_stages(plan)
    return stages[0][0] if stages else None


def pin_anchor(template: dict[str, Any]) -> None:
    """The anchor publishes its node: written before its own command runs, read as an output."""
    container = template["container"]
    node = {"name": NODE_ENV, "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}
    container["env"] = [*container["env"], node]
    container["command"] = ["sh", "-c", f'printf %s "${NODE_ENV}" > {NODE_FILE} && exec "$@"', "sh",
                            *container["command"]]
    template["outputs"] = {"parameters": [{"name": NODE_PARAMETER, "valueFrom": {"path": NODE_FILE}}]}


def pin_follower(template: dict[str, Any]) -> None:
    """A later step: on the anchor's node, required (its workspace is a hostPath there)."""
    template["inputs"] = {"parameters": [{"name": NODE_PARAMETER}]}
    template["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchFields": [
            {"key": "metadata.name", "operator": "In", "values": [f"{{{{inputs.parameters.{NODE_PARAMETER}}}}}"]}]}]}}}


def pin_task(task: dict[str, Any], anchor_id: str, *, anchor_stage: bool) -> None:
    """A later step's DAG task: takes the anchor's node; the anchor's stage-mates wait for it
    (later stages descend from it already, which is all Argo's validation asks:
    workflow/validate/validate.go validateDAGTaskArgumentDependency checks the ancestry)."""
    task["arguments"] = {"parameters": [
        {"name": NODE_PARAMETER, "value": f"{{{{tasks.{anchor_id}.outputs.parameters.{NODE_PARAMETER}}}}}"}]}
    if anchor_stage:
        task["dependencies"] = [*task.get("dependencies", []), anchor_id]
