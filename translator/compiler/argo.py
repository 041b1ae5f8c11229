"""Plan -> Argo Workflow and the ConfigMap it mounts.

The Workflow is written as plain data in Argo's field names. hera's models describe the same
objects, but importing them costs about 0.9 s, which alone would break the one-second budget
of `translator compile`; the test suite instead checks that every compiled Workflow
round-trips through hera's `Workflow` model unchanged, and validates it against Argo's own
JSON schema and CRD (see docs/architecture.md).

Shape, by the run's form (compiler/forms.py): one pod (the default) is a single containerSet
template `pipeline`, one container per step that runs, named by the step's id, requests split
to the peak stage, the workspace an `emptyDir`, every volume on that template rather than the
Workflow (compiler/argo_pod.py says why); pod-per-step (pinned,
or a shared claim when asked) is one DAG template `pipeline` with one container template and
one DAG task per step, named by the step's id. Either way every step of stage N depends on
every step of stage N-1, so stages run in order and the steps of a stage in parallel. In the
DAG a step whose `when` does not match is a task with `when: "false"` (Argo shows it Skipped,
later stages still run); in the one pod it is left out.

Argo evaluates `{{...}}` anywhere in a template, so nothing a user wrote is put where Argo
would read it as template syntax: scripts and generated files live in the ConfigMap
`<execution>-scripts` (mounted at /translator/scripts), and any env value containing `{{` is
read from that ConfigMap too (`configMapKeyRef`). Images are validated to contain none.

Argo refuses Workflow names over 63 characters (workflow/validate/validate.go,
`maxCharsInObjectName`) while executions may be named up to 253, so the Workflow is named
`workflow_name()`: the execution's name when it fits, else its first 54 characters and a hash
of the whole name; the full name is kept in the annotation `devops.cubepaas.io/execution`
(the label of that name holds `label_value()` of it). The ConfigMap is named the same way.

Each step container runs its script with `scripts.launch_command` (`sh -xe`, or the file
itself when it starts with `#!`), as Jenkins does. `spec.archiveLogs` is written only when a
log store exists: the setting's S3 endpoint (then each template has its `archiveLocation`) or
an `artifactRepositoryRef` the administrator made; without one Argo's executor fails every
step ("You need to configure artifact storage"). A shared workspace claim (the `pvc` form) is
deleted when the run ends, however it ends (`volumeClaimGC: OnWorkflowCompletion`; Argo's
default keeps it for failed runs until the TTL). A cached step holds one mutex per cache
directory (the one pod holds all of its run's), in the pipeline's own namespace
(`cache_mutex`), so steps using different directories run in parallel and two teams'
pipelines of one name never share a lock, even when their Workflows share a namespace. Every
field used here exists in the schema of each supported Argo version, 3.6 to 4.1
(`synchronization.mutexes` with `namespace` included).

Stored formats: ConfigMap keys `<step-id>.sh` (the script), the step's extra files by name,
and `env-<step-id>-<n>` for moved env values. Pod labels `devops.cubepaas.io/stage-index` and
`/step-index` tie each pod back to its stage and step in the execution's status. Mutex names
`translator-cache-<pipeline>-<cache key>` (the key of the cache's hostPath directory).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from translator.api.config_types import StepType
from translator.compiler import limits
from translator.compiler.argo_pod import anchor, container_set, pin_anchor, pin_follower, pin_task
from translator.compiler.forms import RunForm, pod_log_prefix, run_form, workspace_host_path
from translator.compiler.names import short_hash
from translator.compiler.plan import (
    LABEL_PREFIX,
    SCRIPTS_DIR,
    SOURCE_DIR,
    WORKSPACE,
    Plan,
    PlanStep,
    log_prefix,
)
from translator.compiler.pod import (
    account_fields,
    cache_seed_container,
    env_entry,
    node_affinity,
    shared_mounts,
    shared_volumes,
)
from translator.compiler.scripts import launch_command

ENTRYPOINT = "pipeline"
MAX_TEMPLATES = limits.ARGO_MAX_TEMPLATES  # Argo's CRD: templates maxItems, the DAG template included
MAX_NAME = 63  # argo-workflows workflow/validate/validate.go: maxCharsInObjectName
VOLUME_CLAIM_GC = "OnWorkflowCompletion"
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_NOT_DNS = re.compile(r"[^a-z0-9-]+")


@dataclass(frozen=True)
class ArgoOutput:
    workflow: dict[str, Any]
    config_map: dict[str, Any]

    def objects(self) -> list[dict[str, Any]]:
        return [self.workflow, self.config_map]


def bounded_name(name: str, suffix: str = "") -> str:
    """`name + suffix` when it is a DNS label of at most 63 characters; else a deterministic one
    that is: the start of `name` (made DNS-safe), 8 hex digits of the whole name's hash, `suffix`."""
    full = name + suffix
    if len(full) <= MAX_NAME and _DNS_LABEL.fullmatch(full):
        return full
    head = _NOT_DNS.sub("-", name.lower())[: MAX_NAME - 9 - len(suffix)].strip("-")
    return f"{head}-{short_hash(full)}{suffix}" if head else f"{short_hash(full)}{suffix}"


def workflow_name(plan: Plan) -> str:
    """The name of the run's Workflow (stored format: the engine finds its Workflow by it)."""
    return bounded_name(plan.object_name)


def scripts_config_map_name(workflow: str) -> str:
    return bounded_name(workflow, "-scripts")


def render(plan: Plan) -> ArgoOutput:
    steps = plan.steps
    limits.check_argo_steps(plan)
    setting = plan.setting
    argo = setting.argo
    namespace = argo.namespace or plan.namespace
    name = workflow_name(plan)
    cm_name = scripts_config_map_name(name)
    form = run_form(plan)
    data: dict[str, str] = {}
    step_templates = [_step_template(step, cm_name, data, plan) for step in steps]
    log_store = bool(setting.logs.endpoint) and argo.archive_logs
    if form is RunForm.POD:
        pod = container_set(plan, ENTRYPOINT, {t["name"]: t["container"] for t in step_templates})
        mutexes = [m for t in step_templates for m in (t.get("synchronization") or {}).get("mutexes", [])]
        if mutexes:
            pod["synchronization"] = {"mutexes": list({m["name"]: m for m in mutexes}.values())}
        pod["metadata"] = {"labels": {f"{LABEL_PREFIX}/form": form.value}}
        seed = cache_seed_container(plan, [c for step in steps if not step.skipped for c in step.caches])
        if seed:  # a pull request's cache copies, seeded before any step of the pod starts
            pod["initContainers"] = [seed]
        if log_store:
            pod["archiveLocation"] = _archive_location(plan, pod_log_prefix(plan))
        templates = [pod]
    else:
        for template, step in zip(step_templates, steps, strict=True):
            seed = cache_seed_container(plan, list(step.caches))
            if seed:  # a pull request's cache copies, seeded before the step starts
                template["initContainers"] = [seed]
        if form is RunForm.PINNED:
            _pin(plan, step_templates)
        if log_store:
            for template, step in zip(step_templates, steps, strict=True):
                template["archiveLocation"] = _archive_location(plan, log_prefix(
                    plan.namespace, plan.pipeline, plan.run, step.stage_index, step.step_index))
        templates = [_dag(plan, form), *step_templates]
    # argo-workflows workflow/executor SaveLogs: archiving with no repository errors every step
    archive_logs = log_store or (argo.archive_logs and argo.artifact_repository_ref is not None)

    volumes: list[dict[str, Any]] = [
        {"name": "scripts", "configMap": {"name": cm_name, "defaultMode": 0o555}},
    ]
    volumes += shared_volumes(plan)
    claims: list[dict[str, Any]] = []
    if form is RunForm.POD:
        volumes.append({"name": "workspace", "emptyDir": {}})
        # Argo puts a containerSet's own `volumes` in its pod, but takes from the Workflow's only
        # those the set-level `volumeMounts` name (workflowpod.go createVolumes, addVolumeReferences):
        # the containers' own mounts would name volumes the pod lacks.
        templates[0]["volumes"], volumes = volumes, []
    elif form is RunForm.PINNED:
        volumes.append({"name": "workspace", "hostPath": {"path": workspace_host_path(plan, namespace, name),
                                                          "type": "DirectoryOrCreate"}})
    else:
        pvc_spec: dict[str, Any] = {
            "accessModes": ["ReadWriteMany"],
            "resources": {"requests": {"storage": argo.workspace_size}},
        }
        if argo.workspace_storage_class:
            pvc_spec["storageClassName"] = argo.workspace_storage_class
        claims = [{"metadata": {"name": "workspace"}, "spec": pvc_spec}]
    spec: dict[str, Any] = {
        "entrypoint": ENTRYPOINT,
        **account_fields(plan),
        # no token in the steps: Argo's executor (wait container) gets the account's own (docs/security.md)
        "executor": {"serviceAccountName": plan.trust.service_account} if not plan.trust.mount_token else None,
        "activeDeadlineSeconds": plan.timeout_seconds,
        "podMetadata": {"labels": dict(plan.labels)},
        "nodeSelector": dict(setting.node_selector),
        "tolerations": [t.model_dump(by_alias=True, exclude_none=True) for t in setting.tolerations],
        "imagePullSecrets": [{"name": n} for n in setting.image_pull_secrets],
        "affinity": node_affinity(plan),
        "podGC": {"strategy": argo.pod_gc_strategy} if argo.pod_gc_strategy else None,
        "ttlStrategy": {"secondsAfterCompletion": argo.ttl_seconds_after_finished},
        "archiveLogs": True if archive_logs else None,
        "artifactRepositoryRef": (
            {"configMap": argo.artifact_repository_ref.config_map, "key": argo.artifact_repository_ref.key}
            if argo.artifact_repository_ref else None
        ),
        "volumeClaimTemplates": claims,
        "volumeClaimGC": {"strategy": VOLUME_CLAIM_GC} if claims else None,
        "volumes": volumes,
        "templates": templates,
    }
    # The names users wrote, by task: the Argo UI shows task names, this keeps the originals
    # (annotations of the Workflow's own metadata are not templated by Argo).
    display = {s.id: {"stage": plan.stages[s.stage_index].name, "step": s.display_name} for s in steps}
    execution = {f"{LABEL_PREFIX}/execution": plan.execution}  # the full name; the label may be shortened
    annotations = {**plan.annotations, **execution,
                   f"{LABEL_PREFIX}/display-names": json.dumps(display, ensure_ascii=False)}
    workflow = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {
            "name": name, "namespace": namespace,
            "labels": dict(plan.labels), "annotations": annotations,
        },
        "spec": {k: v for k, v in spec.items() if v not in (None, "", [], {})},
    }
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": cm_name, "namespace": namespace, "labels": dict(plan.labels),
                     "annotations": execution},
        "data": dict(sorted(data.items())),
    }
    limits.check_argo_objects(plan, workflow, config_map)
    return ArgoOutput(workflow=workflow, config_map=config_map)


def _archive_location(plan: Plan, key: str) -> dict[str, Any]:
    """A complete S3 location (so Argo uses it instead of the repository's keyFormat): the
    executor writes `<key>/<container>.log` for each container (`main` of a step pod)."""
    logs = plan.setting.logs
    s3: dict[str, Any] = {"endpoint": logs.endpoint, "bucket": logs.bucket, "insecure": logs.insecure, "key": key}
    if logs.credentials_secret:
        s3["accessKeySecret"] = {"name": logs.credentials_secret, "key": "accesskey"}
        s3["secretKeySecret"] = {"name": logs.credentials_secret, "key": "secretkey"}
    return {"archiveLogs": True, "s3": s3}


def _dag(plan: Plan, form: RunForm) -> dict[str, Any]:
    tasks: list[dict[str, Any]] = []
    previous: list[str] = []
    first = anchor(plan) if form is RunForm.PINNED else None
    for stage in plan.stages:
        current = []
        for step in stage.steps:
            task: dict[str, Any] = {"name": step.id, "template": step.id}
            if previous:
                task["dependencies"] = list(previous)
            if step.skipped:
                task["when"] = "false"
            elif first is not None and step is not first:
                pin_task(task, first.id, anchor_stage=step.stage_index == first.stage_index)
            tasks.append(task)
            current.append(step.id)
        previous = current
    return {"name": ENTRYPOINT, "dag": {"tasks": tasks}}


def _pin(plan: Plan, templates: list[dict[str, Any]]) -> None:
    """Pod-per-step on one node: the anchor publishes its node, every other running step requires it."""
    first = anchor(plan)
    for template, step in zip(templates, plan.steps, strict=True):
        if step.skipped or first is None:
            continue
        if step is first:
            pin_anchor(template)
        else:
            pin_follower(template)


def _step_template(step: PlanStep, cm_name: str, data: dict[str, str], plan: Plan) -> dict[str, Any]:
    data[step.script_file] = step.script
    for name, content in step.files:
        data[name] = content
    env: list[dict[str, Any]] = []
    for i, var in enumerate(step.env):
        if not var.secret_name and "{{" in var.value:
            key = f"env-{step.id}-{i}"
            data[key] = var.value
            env.append({"name": var.name, "valueFrom": {"configMapKeyRef": {"name": cm_name, "key": key}}})
        else:
            env.append(env_entry(var))
    mounts = [
        {"name": "workspace", "mountPath": WORKSPACE},
        {"name": "scripts", "mountPath": SCRIPTS_DIR, "readOnly": True},
    ]
    mounts += shared_mounts(step)
    labels = {
        f"{LABEL_PREFIX}/stage-index": str(step.stage_index),
        f"{LABEL_PREFIX}/step-index": str(step.step_index),
    }
    if step.caches:
        labels[f"{LABEL_PREFIX}/cache"] = "true"
    container: dict[str, Any] = {
        "name": "main",
        "image": step.image,
        "command": launch_command(step.script, f"{SCRIPTS_DIR}/{step.script_file}"),
        "workingDir": WORKSPACE if step.kind is StepType.SOURCE_CODE else SOURCE_DIR,
        "env": env,
        "resources": {"requests": dict(step.resources["requests"]), "limits": dict(step.resources["limits"])},
        "volumeMounts": mounts,
    }
    if step.privileged:
        container["securityContext"] = {"privileged": True}
    template: dict[str, Any] = {"name": step.id, "metadata": {"labels": labels}, "container": container}
    if step.caches:
        # One writer at a time per cache directory: two steps never write one directory at once
        # (Argo holds the step Pending until all its mutexes are free, and takes them together).
        template["synchronization"] = {"mutexes": [
            {"name": cache_mutex(plan.pipeline, cache.volume_name), "namespace": plan.namespace}
            for cache in step.caches]}
    return template


def cache_mutex(pipeline: str, cache_volume: str) -> str:
    """The Argo mutex of one cache directory of a pipeline (stored format); its namespace is the
    pipeline's, written beside it (Argo defaults it to the Workflow's)."""
    return f"translator-cache-{pipeline}-{cache_volume.removeprefix('cache-')}"
