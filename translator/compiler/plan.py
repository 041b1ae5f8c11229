"""The engine-neutral plan: what runs, in which order, with what, decided once.

Everything both engines need is resolved here — the clone stage Rancher added, `when`
conditions against the run's branch and event, `${CICD_*}` substitution in the fields Rancher
substituted, env and secrets (withheld on pull requests), resources with the setting's
defaults, cache mounts and node preference. The Argo and Jenkins back ends only render a Plan;
they never see the config models.

The trust rules are decided here too (docs/security.md): what a pull_request run's code gets
(`Trust`: no service-account token, its own cache copies; `_untrusted`: deploy and privileged
steps skipped with the reason, no registry credentials, no push), and which steps read secrets
and so run behind the masking wrapper (`_masked`, `secret_sources`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from translator.api import cache_paths
from translator.api.config_types import PipelineConfig, SourceCodeConfig, Stage, Step, StepType
from translator.api.setting_types import PipelineSettingSpec
from translator.cache.placement import (
    CacheMount,
    NodePreference,
    cache_mount,
    placement,
    pull_request_mount,
    pull_request_scope,
)
from translator.compiler import scripts, trust_scripts
from translator.compiler.conditions import constraint_matches, when_matches
from translator.compiler.context import ExecutionContext, cicd_env, substitute
from translator.compiler.names import label_value, template_name

WORKSPACE = cache_paths.WORKSPACE
SOURCE_DIR = cache_paths.SOURCE_DIR
SCRIPTS_DIR = f"{cache_paths.TRANSLATOR_DIR}/scripts"
DOCKER_CONFIG_DIR = f"{cache_paths.TRANSLATOR_DIR}/docker"
GIT_CREDENTIALS_DIR = f"{cache_paths.TRANSLATOR_DIR}/git"

LABEL_PREFIX = "devops.cubepaas.io"
SEED_CONTAINER = "seed-cache"  # a pull request's init container that seeds its cache copies (compiler.pod)
# Names a step id never takes: Argo's own containers in every pod (init, wait), the container
# Argo reads outputs from (main), the Workflow's entrypoint template (pipeline), and the seeding
# init container, which shares the one pod with the steps' containers.
RESERVED_IDS = frozenset({"init", "wait", "main", "pipeline", SEED_CONTAINER})
PULL_REQUEST = "pull_request"
DEPLOY_STEPS = (StepType.APPLY_YAML, StepType.APPLY_APP, StepType.PUBLISH_CATALOG)


class CompileError(Exception):
    """The config is valid but this run cannot be compiled (e.g. its branch gets no runs)."""


@dataclass(frozen=True)
class EnvVar:
    """One variable: a literal value or a Secret's key."""

    name: str
    value: str = ""
    secret_name: str = ""
    secret_key: str = ""


@dataclass(frozen=True)
class PlanStep:
    stage_index: int
    step_index: int
    kind: StepType
    id: str  # unique, template-name safe: the task name in Argo, the branch name in Jenkins
    display_name: str
    image: str
    script: str  # what /bin/sh runs; the user's own for runScriptConfig
    env: tuple[EnvVar, ...]
    privileged: bool
    resources: dict[str, dict[str, str]]
    caches: tuple[CacheMount, ...] = ()
    files: tuple[tuple[str, str], ...] = ()  # extra files beside the script: (name, content)
    skipped: bool = False
    skip_reason: str = ""
    mounts_registry_credentials: bool = False
    mounts_git_credentials: bool = False

    @property
    def cached(self) -> bool:
        return bool(self.caches)

    @property
    def script_file(self) -> str:
        return f"{self.id}.sh"


@dataclass(frozen=True)
class PlanStage:
    index: int
    name: str
    id: str
    steps: tuple[PlanStep, ...]
    skipped: bool = False
    skip_reason: str = ""


@dataclass(frozen=True)
class Trust:
    """What the run's code is trusted with (docs/security.md); both engines render it."""

    untrusted: bool = False  # a pull_request run: code nobody reviewed yet
    service_account: str = "pipeline"  # the account of every pod of the run
    mount_token: bool = True  # False: no service-account token in any step's container
    cache_scope: str = ""  # a pull request's own cache copies (`pr-<n>`)


@dataclass(frozen=True)
class SecretSource:
    """A Secret a step can read, whose values are masked in its log."""

    secret: str
    key: str = ""  # an envFrom key; "" for the credential Secrets (their kind says which keys)
    kind: str = "env"  # env | registry (a dockerconfigjson) | git (`password`)


@dataclass(frozen=True)
class Plan:
    namespace: str
    pipeline: str
    execution: str
    run: int
    branch: str
    event: str
    timeout_seconds: int
    stages: tuple[PlanStage, ...]
    labels: dict[str, str]
    annotations: dict[str, str]
    node_preferences: tuple[NodePreference, ...]
    setting: PipelineSettingSpec
    warnings: tuple[str, ...] = field(default=())
    node_requirement: tuple[str, ...] = ()  # the bounded wait: only these nodes (cache holders)
    run_name: str = ""  # name of the engine objects; the execution's name unless resubmitted
    trust: Trust = field(default_factory=Trust)

    @property
    def object_name(self) -> str:
        return self.run_name or self.execution

    @property
    def steps(self) -> list[PlanStep]:
        return [step for stage in self.stages for step in stage.steps]

    @property
    def cached(self) -> bool:
        return any(step.caches for step in self.steps)


def build_plan(config: PipelineConfig, ctx: ExecutionContext, setting: PipelineSettingSpec) -> Plan:
    """The plan of one run. Raises CompileError when the run's branch gets no runs."""
    if not constraint_matches(config.branch, ctx.branch):
        raise CompileError(
            f"branch {ctx.branch!r} does not match the pipeline's top-level `branch`; no run is created"
        )
    variables = cicd_env(ctx)
    if setting.local_registry:  # Rancher set it in every step: deploy steps refer to what was built
        variables["CICD_LOCAL_REGISTRY"] = setting.local_registry
    stages = list(config.stages)
    first = stages[0].steps[0] if stages and stages[0].steps else None
    has_clone = first is not None and first.source_code_config is not None
    warnings: list[str] = []
    if not has_clone:
        stages.insert(0, Stage(name="Clone", steps=[Step(source_code_config=SourceCodeConfig())]))
    inserted = 0 if has_clone else 1  # findings name the user's file: its stages[0] is the plan's 1 then

    trust = decide_trust(ctx, setting)
    used_ids: set[str] = set(RESERVED_IDS)
    reused = {(stage, step): run for stage, step, run in ctx.reused}
    plan_stages = []
    for si, stage in enumerate(stages):
        stage_runs, why = when_matches(stage.when, branch=ctx.branch, event=ctx.event)
        stage_id = _unique(template_name(stage.name, max_length=50, fallback=f"stage-{si}"), si, used_ids)
        steps = []
        for ti, step in enumerate(stage.steps):
            step_id = stage_id if len(stage.steps) == 1 else f"{stage_id}-{ti + 1}"
            if len(stage.steps) > 1:
                used_ids.add(step_id)
            runs, step_why = when_matches(step.when, branch=ctx.branch, event=ctx.event)
            skipped = not stage_runs or not runs
            reason = why.replace("the step's", "the stage's") if not stage_runs else step_why
            if not skipped and (si, ti) in reused:
                skipped, reason = True, f"reused from run {reused[(si, ti)]}"
            where = f"stages[{si - inserted}].steps[{ti}]" if si >= inserted else "the clone step"
            planned = _plan_step(
                step, si, ti, step_id, stage.cache, ctx, setting, variables, warnings,
                skipped=skipped, reason=reason,
                where=where,
            )
            steps.append(_masked(_untrusted(planned, trust, ctx, setting, warnings, where=where), setting))
        plan_stages.append(PlanStage(
            index=si, name=stage.name, id=stage_id, steps=tuple(steps),
            skipped=not stage_runs or all(s.skipped for s in steps),
            skip_reason=why.replace("the step's", "the stage's") if not stage_runs else _all_skipped(steps),
        ))

    execution = ctx.execution_name
    labels = {
        f"{LABEL_PREFIX}/pipeline": label_value(ctx.pipeline),
        f"{LABEL_PREFIX}/execution": label_value(execution),
        f"{LABEL_PREFIX}/run": str(ctx.run),
        f"{LABEL_PREFIX}/branch": label_value(ctx.branch),
    }
    annotations = {f"{LABEL_PREFIX}/branch": ctx.branch, f"{LABEL_PREFIX}/event": ctx.event}
    if ctx.commit:
        annotations[f"{LABEL_PREFIX}/commit"] = ctx.commit
    cached = any(s.caches for st in plan_stages for s in st.steps)
    prefs = placement(ctx.cache_holders, ctx.cache_nodes, frozenset(ctx.cache_evicted),
                      setting.cache.max_nodes) if cached else ()
    required = tuple(dict.fromkeys(ctx.cache_holders)) if cached and ctx.cache_wait else ()
    return Plan(
        namespace=ctx.namespace, pipeline=ctx.pipeline, execution=execution, run=ctx.run,
        branch=ctx.branch, event=ctx.event, timeout_seconds=config.timeout * 60,
        stages=tuple(plan_stages), labels=labels, annotations=annotations,
        node_preferences=prefs, setting=setting, warnings=tuple(warnings),
        node_requirement=required, run_name=f"{execution}{ctx.run_suffix}" if ctx.run_suffix else "",
        trust=trust,
    )


def _unique(base: str, index: int, used: set[str]) -> str:
    name = base
    if name in used:
        name = f"{base[:50]}-{index}"
    used.add(name)
    return name


def _plan_step(
    step: Step, si: int, ti: int, step_id: str, stage_cache: object, ctx: ExecutionContext,
    setting: PipelineSettingSpec, variables: dict[str, str], warnings: list[str], *,
    skipped: bool, reason: str, where: str,
) -> PlanStep:
    """The plan's step `si`/`ti`; warnings name it `where`, its path in the user's file."""
    (kind,) = step.step_types()
    defaults = setting.default_resources
    resources = {
        "requests": {
            "cpu": step.cpu_request or defaults.cpu_request,
            "memory": step.memory_request or defaults.memory_request,
        },
        "limits": {
            "cpu": step.cpu_limit or defaults.cpu_limit,
            "memory": step.memory_limit or defaults.memory_limit,
        },
    }
    env = [EnvVar(k, v) for k, v in sorted(variables.items())]
    env += [EnvVar(k, substitute(v, variables)) for k, v in step.env.items()]
    if step.env_from:
        if ctx.event == "pull_request":
            warnings.append(
                f"{where}: envFrom withheld on a pull_request run "
                f"({', '.join(dict.fromkeys(e.source_name for e in step.env_from))})"
            )
        else:
            env += [
                EnvVar(e.target_key or e.source_key, secret_name=e.source_name, secret_key=e.source_key)
                for e in step.env_from
            ]
    caches: tuple[CacheMount, ...] = ()
    cache = step.cache if step.cache is not None else stage_cache
    if cache is not None and setting.cache.enabled and getattr(cache, "enabled", False):
        caches = tuple(
            cache_mount(setting.cache.host_path_root, ctx.namespace, ctx.pipeline, p)
            for p in _cache_container_paths(cache.paths, step_id)  # type: ignore[attr-defined]
        )
    tool = scripts.for_step(kind, step, ctx=ctx, setting=setting, variables=variables, step_id=step_id)
    env += [EnvVar(k, v) for k, v in tool.env]
    if tool.warning:
        warnings.append(f"{where}: {tool.warning}")
    return PlanStep(
        stage_index=si, step_index=ti, kind=kind, id=step_id, display_name=tool.display_name,
        image=tool.image, script=tool.script, env=tuple(env), privileged=step.privileged or tool.privileged,
        resources=resources, caches=caches, files=tool.files, skipped=skipped, skip_reason=reason,
        mounts_registry_credentials=tool.registry_credentials and bool(setting.registry_credentials_secret),
        mounts_git_credentials=tool.git_credentials and bool(setting.git_credentials_secret),
    )


def _cache_container_paths(paths: list[str], step_id: str) -> list[str]:
    """Each cache's container path, normalised first and then de-duplicated (one mount per
    directory). The validator already refused paths on our own mounts, with their lines;
    this is the compiler's own guard for configs that did not come through it."""
    normal = list(dict.fromkeys(cache_paths.container_path(p) for p in paths))
    for path in normal:
        conflict = cache_paths.reserved_conflict(path)
        if conflict:
            raise CompileError(f"step {step_id}: cache path {path} {conflict}")
    return normal


def _all_skipped(steps: list[PlanStep]) -> str:
    """Why a stage whose own condition holds is skipped: its steps' reasons, when every one is."""
    if not steps or not all(s.skipped for s in steps):
        return ""
    return "; ".join(dict.fromkeys(s.skip_reason for s in steps if s.skip_reason))


def decide_trust(ctx: ExecutionContext, setting: PipelineSettingSpec) -> Trust:
    """A pull_request run runs code nobody reviewed: no service-account token in its steps (its
    pods run as the setting's pull-request account, which has Argo's executor rights only), and
    its caches are copies of its own."""
    if ctx.event != PULL_REQUEST:
        return Trust(service_account=setting.argo.service_account)
    return Trust(untrusted=True, service_account=setting.pull_requests.service_account, mount_token=False,
                 cache_scope=pull_request_scope(ctx.ref, ctx.commit))


def _untrusted(step: PlanStep, trust: Trust, ctx: ExecutionContext, setting: PipelineSettingSpec,
               warnings: list[str], *, where: str) -> PlanStep:
    """A pull request's step: deploy and privileged steps skipped with the reason, unless the
    setting allows them; publishImage builds without the registry credentials and without
    pushing; each cache is the pull request's own copy, seeded from the pipeline's."""
    if not trust.untrusted:
        return step
    allowed = setting.pull_requests
    changes: dict[str, object] = {}
    if not step.skipped and step.kind in DEPLOY_STEPS and not allowed.deploy_steps:
        changes.update(skipped=True, skip_reason=f"{step.kind.value} does not run on a pull_request run "
                                                 "(PipelineSetting spec.pullRequests.deploySteps)")
    elif not step.skipped and step.privileged and not allowed.privileged:
        changes.update(skipped=True, skip_reason="a privileged step does not run on a pull_request run "
                                                 "(PipelineSetting spec.pullRequests.privileged)")
    if step.kind is StepType.PUBLISH_IMAGE and not allowed.deploy_steps:
        env = tuple(v for v in step.env if v.name != "PLUGIN_PUSH")  # nothing the user set turns it back on
        changes.update(mounts_registry_credentials=False, env=(*env, EnvVar("PLUGIN_PUSH", "false")))
        if not changes.get("skipped"):
            warnings.append(f"{where}: publishImage builds without pushing on a pull_request run "
                            "(PipelineSetting spec.pullRequests.deploySteps)")
    if step.caches:
        root = setting.cache.host_path_root
        changes["caches"] = tuple(pull_request_mount(c, root, ctx.namespace, ctx.pipeline, trust.cache_scope)
                                  for c in step.caches)
    return dataclasses.replace(step, **changes) if changes else step  # type: ignore[arg-type]


def secret_sources(step: PlanStep, setting: PipelineSettingSpec) -> tuple[SecretSource, ...]:
    """Every Secret the step can read: its envFrom keys, the registry and git credentials it mounts."""
    found = [SecretSource(v.secret_name, v.secret_key) for v in step.env if v.secret_name]
    if step.mounts_registry_credentials:
        found.append(SecretSource(setting.registry_credentials_secret, kind="registry"))
    if step.mounts_git_credentials:
        found.append(SecretSource(setting.git_credentials_secret, kind="git"))
    return tuple(dict.fromkeys(found))


def _masked(step: PlanStep, setting: PipelineSettingSpec) -> PlanStep:
    """A step that can read secrets runs its script behind the masking wrapper (trust_scripts)."""
    if step.skipped or not secret_sources(step, setting):
        return step
    files = []
    if step.mounts_registry_credentials:
        files.append(f"{DOCKER_CONFIG_DIR}/config.json")
    if step.mounts_git_credentials:
        files.append(f"{GIT_CREDENTIALS_DIR}/password")
    inner = f"{step.id}-unmasked.sh"
    env = (
        EnvVar(trust_scripts.SCRIPT_VAR, inner),
        EnvVar(trust_scripts.RUN_VAR, " ".join(scripts.launch_command(step.script, inner)[:-1])),
        EnvVar(trust_scripts.ENV_VAR, " ".join(dict.fromkeys(v.name for v in step.env if v.secret_name))),
        EnvVar(trust_scripts.FILES_VAR, " ".join(files)),
    )
    return dataclasses.replace(
        step, script=trust_scripts.MASK_WRAPPER, env=(*step.env, *env),
        files=(*step.files, (inner, step.script), (trust_scripts.AWK_FILE, trust_scripts.MASK_AWK)),
    )


def log_prefix(namespace: str, pipeline: str, run: int, stage: int, step: int) -> str:
    """Where a step's log is archived in the log store (stored format, docs/logs.md); the log
    itself is `<prefix>/main.log` (Argo's executor appends the file name, the Jenkins engine
    writes the same name)."""
    return f"{namespace}/{pipeline}/{run}/{stage}/{step}"
