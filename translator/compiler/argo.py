"""Plan -> Argo Workflow (built with hera's models) and the ConfigMap it mounts.

Shape: one DAG template `pipeline`; one container template and one DAG task per step, named
by the step's id; every step of stage N depends on every step of stage N-1, so stages run in
order and the steps of a stage in parallel. A step whose `when` does not match is a task with
`when: "false"`, which Argo shows as Skipped, and which still lets later stages run.

Argo evaluates `{{...}}` anywhere in a template, so nothing a user wrote is put where Argo
would read it as template syntax: scripts and generated files live in the ConfigMap
`<execution>-scripts` (mounted at /translator/scripts), and any env value containing `{{` is
read from that ConfigMap too (`configMapKeyRef`). Images are validated to contain none.

Stored formats: ConfigMap keys `<step-id>.sh` (the script), the step's extra files by name,
and `env-<step-id>-<n>` for moved env values. Pod labels `devops.cubepaas.io/stage-index` and
`/step-index` tie each pod back to its stage and step in the execution's status.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hera.workflows import models as m

from translator.api.config_types import PipelineConfig, StepType
from translator.api.resources_types import PipelineSettingSpec
from translator.cache.placement import preferred_affinity
from translator.compiler.context import ExecutionContext
from translator.compiler.plan import (
    DOCKER_CONFIG_DIR,
    GIT_CREDENTIALS_DIR,
    LABEL_PREFIX,
    SCRIPTS_DIR,
    SOURCE_DIR,
    WORKSPACE,
    CompileError,
    Plan,
    PlanStep,
    build_plan,
)

ENTRYPOINT = "pipeline"
MAX_TEMPLATES = 200  # Argo's CRD: templates maxItems, the DAG template included


@dataclass(frozen=True)
class ArgoOutput:
    workflow: dict[str, Any]
    config_map: dict[str, Any]

    def objects(self) -> list[dict[str, Any]]:
        return [self.workflow, self.config_map]


def compile_argo(
    config: PipelineConfig, ctx: ExecutionContext, setting: PipelineSettingSpec
) -> tuple[Plan, ArgoOutput]:
    """Config + context + setting -> (plan, Argo objects)."""
    plan = build_plan(config, ctx, setting)
    return plan, render(plan)


def scripts_config_map_name(execution: str) -> str:
    return f"{execution}-scripts"


def render(plan: Plan) -> ArgoOutput:
    steps = plan.steps
    if len(steps) + 1 > MAX_TEMPLATES:
        raise CompileError(
            f"the run has {len(steps)} steps (the clone step included); "
            f"an Argo Workflow holds at most {MAX_TEMPLATES - 1}"
        )
    setting = plan.setting
    namespace = setting.argo.namespace or plan.namespace
    cm_name = scripts_config_map_name(plan.execution)
    data: dict[str, str] = {}

    templates = [_dag(plan)]
    for step in steps:
        templates.append(_step_template(plan, step, cm_name, data))

    volumes = [m.Volume(name="scripts", config_map=m.ConfigMapVolumeSource(name=cm_name, default_mode=0o555))]
    if any(s.mounts_registry_credentials for s in steps):
        volumes.append(m.Volume(name="registry-credentials", secret=m.SecretVolumeSource(
            secret_name=setting.registry_credentials_secret,
            items=[m.KeyToPath(key=".dockerconfigjson", path="config.json")],
        )))
    if any(s.mounts_git_credentials for s in steps):
        volumes.append(m.Volume(name="git-credentials", secret=m.SecretVolumeSource(
            secret_name=setting.git_credentials_secret, default_mode=0o400,
        )))
    seen: set[str] = set()
    for step in steps:
        for cache in step.caches:
            if cache.volume_name not in seen:
                seen.add(cache.volume_name)
                volumes.append(m.Volume(name=cache.volume_name, host_path=m.HostPathVolumeSource(
                    path=cache.host_path, type="DirectoryOrCreate",
                )))

    spec = m.WorkflowSpec(
        entrypoint=ENTRYPOINT,
        service_account_name=setting.argo.service_account or None,
        active_deadline_seconds=plan.timeout_seconds,
        pod_metadata=m.Metadata(labels=dict(plan.labels)),
        node_selector=dict(setting.node_selector) or None,
        tolerations=[m.Toleration(**t.model_dump(exclude_none=True)) for t in setting.tolerations] or None,
        image_pull_secrets=[m.LocalObjectReference(name=n) for n in setting.image_pull_secrets] or None,
        affinity=_affinity(plan),
        pod_gc=m.PodGC(strategy=setting.argo.pod_gc_strategy) if setting.argo.pod_gc_strategy else None,
        ttl_strategy=m.TTLStrategy(seconds_after_completion=setting.argo.ttl_seconds_after_finished),
        archive_logs=setting.argo.archive_logs,
        artifact_repository_ref=(
            m.ArtifactRepositoryRef(
                config_map=setting.argo.artifact_repository_ref.config_map,
                key=setting.argo.artifact_repository_ref.key,
            ) if setting.argo.artifact_repository_ref else None
        ),
        volume_claim_templates=[m.PersistentVolumeClaim(
            metadata=m.ObjectMeta(name="workspace"),
            spec=m.PersistentVolumeClaimSpec(
                access_modes=["ReadWriteOnce"],
                resources=m.VolumeResourceRequirements(requests={"storage": m.Quantity(setting.argo.workspace_size)}),
                storage_class_name=setting.argo.workspace_storage_class or None,
            ),
        )],
        volumes=volumes,
        templates=templates,
    )
    workflow = m.Workflow(
        api_version="argoproj.io/v1alpha1",
        kind="Workflow",
        metadata=m.ObjectMeta(
            name=plan.execution, namespace=namespace,
            labels=dict(plan.labels), annotations=dict(plan.annotations),
        ),
        spec=spec,
    )
    wf = workflow.model_dump(by_alias=True, exclude_none=True, mode="json")
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": cm_name, "namespace": namespace, "labels": dict(plan.labels)},
        "data": dict(sorted(data.items())),
    }
    return ArgoOutput(workflow=wf, config_map=config_map)


def _affinity(plan: Plan) -> m.Affinity | None:
    if not plan.node_preferences:
        return None
    # One place for every pod of the run: the workspace volume is ReadWriteOnce, and the
    # first pod (the clone) decides where it lives, so the whole run prefers the cache nodes.
    terms = preferred_affinity(plan.node_preferences)
    return m.Affinity(node_affinity=m.NodeAffinity(
        preferred_during_scheduling_ignored_during_execution=[m.PreferredSchedulingTerm(**t) for t in terms]
    ))


def _dag(plan: Plan) -> m.Template:
    tasks = []
    previous: list[str] = []
    for stage in plan.stages:
        current = []
        for step in stage.steps:
            tasks.append(m.DAGTask(
                name=step.id, template=step.id,
                dependencies=list(previous) or None,
                when="false" if step.skipped else None,
            ))
            current.append(step.id)
        previous = current
    return m.Template(name=ENTRYPOINT, dag=m.DAGTemplate(tasks=tasks))


def _step_template(plan: Plan, step: PlanStep, cm_name: str, data: dict[str, str]) -> m.Template:
    data[step.script_file] = step.script
    for name, content in step.files:
        data[name] = content
    env = []
    for i, var in enumerate(step.env):
        if var.secret_name:
            env.append(m.EnvVar(name=var.name, value_from=m.EnvVarSource(
                secret_key_ref=m.SecretKeySelector(name=var.secret_name, key=var.secret_key)
            )))
        elif "{{" in var.value:
            key = f"env-{step.id}-{i}"
            data[key] = var.value
            env.append(m.EnvVar(name=var.name, value_from=m.EnvVarSource(
                config_map_key_ref=m.ConfigMapKeySelector(name=cm_name, key=key)
            )))
        else:
            env.append(m.EnvVar(name=var.name, value=var.value))
    mounts = [
        m.VolumeMount(name="workspace", mount_path=WORKSPACE),
        m.VolumeMount(name="scripts", mount_path=SCRIPTS_DIR, read_only=True),
    ]
    if step.mounts_registry_credentials:
        mounts.append(m.VolumeMount(name="registry-credentials", mount_path=DOCKER_CONFIG_DIR, read_only=True))
    if step.mounts_git_credentials:
        mounts.append(m.VolumeMount(name="git-credentials", mount_path=GIT_CREDENTIALS_DIR, read_only=True))
    mounts += [m.VolumeMount(name=c.volume_name, mount_path=c.container_path) for c in step.caches]
    labels = {
        f"{LABEL_PREFIX}/stage-index": str(step.stage_index),
        f"{LABEL_PREFIX}/step-index": str(step.step_index),
    }
    if step.caches:
        labels[f"{LABEL_PREFIX}/cache"] = "true"
    return m.Template(
        name=step.id,
        metadata=m.Metadata(labels=labels),
        container=m.Container(
            name="main",
            image=step.image,
            command=["/bin/sh", f"{SCRIPTS_DIR}/{step.script_file}"],
            working_dir=WORKSPACE if step.kind is StepType.SOURCE_CODE else SOURCE_DIR,
            env=env,
            resources=m.ResourceRequirements(
                requests={k: m.Quantity(v) for k, v in step.resources["requests"].items()},
                limits={k: m.Quantity(v) for k, v in step.resources["limits"].items()},
            ),
            security_context=m.SecurityContext(privileged=True) if step.privileged else None,
            volume_mounts=mounts,
        ),
    )
