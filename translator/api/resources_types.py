"""The six custom resources of `devops.cubepaas.io/v1alpha1`, all namespaced.

These models are the single source of `crds/` (see `translator.api.crds`). Secrets are only
ever referenced by name; no token or password is a field of any resource here.

Stored formats, in one place:
- labels on Workflows and pods: `devops.cubepaas.io/pipeline`, `/execution`, `/run`, `/branch`
  (a label-safe form of the branch; the exact branch is the annotation of the same name);
- `Pipeline.status.cacheNodes`: newest first, bounded by the setting's `cache.maxNodes`;
- `Pipeline.spec.config`: the user's pipeline file as written (an open object), validated
  with `config_validation` when a run is made; `PipelineExecution.spec.pipelineConfig` is its
  normalised snapshot.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field

from translator.api.base import APIModel
from translator.api.config_types import PipelineConfig
from translator.api.states import ConditionType, Engine, Event, State, TriggerType

GROUP = "devops.cubepaas.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"


class ObjectMeta(APIModel):
    """The part of Kubernetes' ObjectMeta this code reads; the rest passes through."""

    model_config = ConfigDict(**{**APIModel.model_config, "extra": "allow"})

    name: str = ""
    namespace: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    resource_version: str | None = None
    uid: str | None = None


# --- PipelineSetting ---------------------------------------------------------------------


class ResourceDefaults(APIModel):
    """Step resources used where a step names none."""

    cpu_request: str = Field(default="100m", description="Default CPU request of a step.")
    cpu_limit: str = Field(default="1", description="Default CPU limit of a step.")
    memory_request: str = Field(default="128Mi", description="Default memory request of a step.")
    memory_limit: str = Field(default="1Gi", description="Default memory limit of a step.")


class Toleration(APIModel):
    """A Kubernetes toleration for build pods."""

    key: str | None = None
    operator: Literal["Exists", "Equal"] | None = None
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = None


class CacheSetting(APIModel):
    """hostPath build caches and the node preference that keeps them warm."""

    enabled: bool = Field(default=True, description="Honour `cache` sections in pipeline files.")
    host_path_root: str = Field(
        default="/var/lib/translator/cache",
        description="Directory on every node under which caches live; chosen by the administrator.",
    )
    max_nodes: int = Field(default=3, ge=1, le=100, description="How many recent nodes a run prefers.")
    max_bytes_per_node: int = Field(
        default=0, ge=0, description="Disk budget of the caches under hostPathRoot on each node; 0: none. The cache "
                                     "agent evicts least recently used caches no running pod uses.")
    min_free_bytes: int = Field(
        default=0, ge=0, description="Free-space floor of the node's disk holding hostPathRoot; the agent evicts "
                                     "until it is met.")
    wait_seconds: int = Field(
        default=120, ge=0, description="How long a run waits for a node holding its cache before running cold; "
                                       "0: never waits.")


class ArtifactRepositoryRef(APIModel):
    """Argo's artifactRepositoryRef: a ConfigMap key describing where logs are archived."""

    config_map: str = Field(default="artifact-repositories", description="ConfigMap name.")
    key: str = Field(default="translator-logs", description="Key in the ConfigMap.")


class ArgoSetting(APIModel):
    """How runs become Argo Workflows."""

    namespace: str = Field(
        default="",
        description="Namespace of the Workflows; the pipeline's when empty. Another namespace must exist and be "
                    "of the pipeline's project, labelled `devops.cubepaas.io/project=<the pipeline's namespace>`; "
                    "the controller makes the service account there and copies the Secrets the runs use.",
    )
    service_account: str = Field(default="pipeline", description="Service account the step pods run as.")
    artifact_repository_ref: ArtifactRepositoryRef | None = Field(
        default=None, description="Where Argo archives step logs."
    )
    archive_logs: bool = Field(default=True, description="Archive every step's log.")
    pod_gc_strategy: str = Field(default="OnPodCompletion", description="Argo podGC strategy.")
    ttl_seconds_after_finished: int = Field(default=86400, ge=0, description="Workflow TTL after it ends.")
    workspace_size: str = Field(default="1Gi", description="Size of the shared workspace volume.")
    workspace_storage_class: str = Field(default="", description="Storage class of the workspace volume.")
    run_form: Literal["auto", "pod", "pinned", "pvc"] = Field(
        default="auto",
        description="auto: one pod per run (a containerSet) when it fits, else pod-per-step pinned to one node; "
                    "pod / pinned: always that; pvc: pod-per-step sharing a ReadWriteMany claim "
                    "(workspaceStorageClass).",
    )
    max_steps_per_pod: int = Field(
        default=24, ge=1, le=199, description="auto: a run with more steps than this runs pinned.")
    node_cpu: str = Field(default="", description="auto: a run whose peak CPU request exceeds this runs pinned.")
    node_memory: str = Field(
        default="", description="auto: a run whose peak memory request exceeds this runs pinned.")


class JenkinsSetting(APIModel):
    """An external Jenkins, or none (then the controller deploys one)."""

    url: str = Field(default="", description="Jenkins URL; empty deploys one in the namespace.")
    credentials_secret: str = Field(default="", description="Secret with `username` and `token`.")
    job_retention_seconds: int = Field(
        default=86400, ge=0,
        description="Jobs of finished executions are deleted this long after their build ended; 0 keeps them.")


class LogsSetting(APIModel):
    """The S3/MinIO bucket that keeps every step's log."""

    endpoint: str = Field(default="", description="host:port of the S3 endpoint.")
    bucket: str = Field(default="pipeline-logs", description="Bucket name.")
    credentials_secret: str = Field(default="", description="Secret with `accesskey` and `secretkey`.")
    insecure: bool = Field(default=False, description="Plain HTTP instead of TLS.")


class ToolImages(APIModel):
    """Images of the steps translator writes itself."""

    git_clone: str = Field(default="docker.io/alpine/git:2.45.2", description="Clones the repository.")
    image_builder: str = Field(default="docker.io/moby/buildkit:v0.15.2", description="Builds images.")
    kubectl: str = Field(default="docker.io/alpine/k8s:1.30.4", description="Applies YAML.")
    helm: str = Field(default="docker.io/alpine/k8s:1.30.4", description="Installs catalog apps.")


class PullRequestSetting(APIModel):
    """What a pull_request run (code nobody reviewed yet) may use; docs/security.md."""

    deploy_steps: bool = Field(
        default=False, description="Run applyYamlConfig, applyAppConfig and publishCatalogConfig on pull requests, "
                                   "and let publishImage push with the registry credentials; else they are skipped "
                                   "(publishImage builds without pushing).")
    privileged: bool = Field(
        default=False, description="Allow privileged steps (publishImage's BuildKit, `privileged: true`) on pull "
                                   "requests; else they are skipped: a privileged container owns the node.")
    service_account: str = Field(
        default="translator-untrusted",
        description="Service account of pull-request pods; its token is never mounted in a step's container. "
                    "The setting's reconciler creates it with Argo's executor rights only.")
    cache_max_age_seconds: int = Field(
        default=7 * 86400, ge=0, description="A pull request's cache copy unused this long is evicted; 0: only "
                                             "under disk pressure (pull-request caches always go first).")


class HistorySetting(APIModel):
    """How many finished runs each pipeline keeps (Jenkins' "discard old builds"): a run beyond the
    newest `keepRuns` or ended more than `keepSeconds` ago is deleted with its Workflow, ConfigMap
    and Jenkins job; its logs stay in the log store, found by the execution's name."""

    keep_runs: int = Field(default=100, ge=0, description="Finished runs kept per pipeline, newest first; 0: no "
                                                           "limit by count.")
    keep_seconds: int = Field(default=0, ge=0, description="Finished runs older than this (since they ended) are "
                                                           "deleted; 0: no limit by age.")


class PipelineSettingSpec(APIModel):
    """Settings for every pipeline in its namespace."""

    engine: str = Field(
        default=Engine.ARGO.value,
        description="argo or jenkins: a name in the controller's engine registry (an unknown one fails runs "
                    "with a Provisioned condition that says so).",
    )
    executor_quota: int = Field(default=2, ge=1, description="Executions running at once in the namespace.")
    default_resources: ResourceDefaults = Field(default_factory=ResourceDefaults)
    node_selector: dict[str, str] = Field(default_factory=dict, description="Build pods' node selector.")
    tolerations: list[Toleration] = Field(default_factory=list, description="Build pods' tolerations.")
    image_pull_secrets: list[str] = Field(default_factory=list, description="Pull secrets of build pods.")
    registry_credentials_secret: str = Field(
        default="", description="dockerconfigjson Secret used to push images.",
    )
    local_registry: str = Field(
        default="", description="Registry images go to without pushRemote, host[:port].",
    )
    git_credentials_secret: str = Field(default="", description="Secret with `username`/`password` for clone.")
    notifiers_secret: str = Field(
        default="pipeline-notifiers",
        description="Secret whose keys are notifier ids (a recipient's `notifier`), each a JSON object: "
                    "{type: webhook, url} or {type: smtp, host, port, from, username, password, starttls}.",
    )
    catalogs: dict[str, str] = Field(
        default_factory=dict, description="Catalog name -> Helm repository URL, for applyAppConfig.",
    )
    max_pipeline_file_bytes: int = Field(
        default=1024 * 1024, ge=1024, le=16 * 1024 * 1024,
        description="Largest pipeline file read from a repository or given inline, in bytes (1 MiB by default, at "
                    "most 16 MiB); a larger one fails its run with InvalidConfig.",
    )
    cache: CacheSetting = Field(default_factory=CacheSetting)
    argo: ArgoSetting = Field(default_factory=ArgoSetting)
    jenkins: JenkinsSetting = Field(default_factory=JenkinsSetting)
    logs: LogsSetting = Field(default_factory=LogsSetting)
    images: ToolImages = Field(default_factory=ToolImages)
    pull_requests: PullRequestSetting = Field(default_factory=PullRequestSetting)
    history: HistorySetting = Field(default_factory=HistorySetting)


class PipelineSetting(APIModel):
    """Settings for every pipeline in its namespace."""

    api_version: str = API_VERSION
    kind: str = "PipelineSetting"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: PipelineSettingSpec = Field(default_factory=PipelineSettingSpec)


# --- Pipeline ----------------------------------------------------------------------------


class PipelineSpec(APIModel):
    """A repository and how its pipeline is triggered."""

    display_name: str = Field(default="", description="Name shown to users.")
    repository_url: str = Field(description="Git URL of the repository.")
    source_code_credential_name: str = Field(default="", description="SourceCodeCredential used to clone.")
    trigger_webhook_push: bool = Field(default=True, description="Run on push.")
    trigger_webhook_pr: bool = Field(default=False, description="Run on pull requests.")
    trigger_webhook_tag: bool = Field(default=False, description="Run on tags.")
    default_branch: str = Field(default="master", description="Branch of runs started by hand.")
    setting_name: str = Field(default="", description="PipelineSetting to use; `default` when empty.")
    config: dict[str, Any] | None = Field(
        default=None, description="Inline pipeline file, stored as written (the API server neither prunes nor "
                                  "types it): `translator validate`'s rules judge it when a run is made. Read from "
                                  "the repository when absent.",
    )
    cron: CronTrigger | None = Field(default=None, description="Run on a schedule.")


class CronTrigger(APIModel):
    """A schedule (5-field cron expression) that starts runs."""

    schedule: str = Field(description="Cron expression, e.g. `0 3 * * *`.")
    branch: str = Field(default="", description="Branch of scheduled runs; the pipeline's defaultBranch when empty.")
    timezone: str = Field(default="UTC", description="IANA time zone the schedule is read in.")


class CacheNode(APIModel):
    """A node that ran this pipeline's cached steps."""

    node: str = Field(description="Node name.")
    run: int = Field(description="Run number.")
    time: str = Field(description="When the run ended, RFC 3339.")


class PipelineStatus(APIModel):
    """What the controller knows about a pipeline's runs."""

    pipeline_state: Literal["active", "inactive"] = Field(default="active", description="inactive: no new runs.")
    next_run: int = Field(default=1, description="Run number the next execution gets.")
    last_execution_id: str = Field(default="", description="Name of the newest PipelineExecution.")
    last_run_state: State | None = Field(default=None, description="State of the newest run.")
    last_started: str = Field(default="", description="When the newest run started, RFC 3339.")
    webhook_id: str = Field(default="", description="Id of the repository webhook, once created.")
    webhook_events: str = Field(default="", description="The events that webhook was created for (push,pr,tag).")
    last_run_request: str = Field(
        default="", description="The last `devops.cubepaas.io/run` annotation value acted on.",
    )
    cache_nodes: list[CacheNode] = Field(default_factory=list, description="Newest first.")
    last_cron_time: str = Field(default="", description="The last scheduled time a run was made for, RFC 3339.")
    cron_message: str = Field(default="", description="Why the schedule cannot be used, when it cannot.")


class Pipeline(APIModel):
    """A repository's pipeline."""

    api_version: str = API_VERSION
    kind: str = "Pipeline"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: PipelineSpec
    status: PipelineStatus = Field(default_factory=PipelineStatus)


# --- PipelineExecution -------------------------------------------------------------------


class ReusedStep(APIModel):
    """A step a rerun does not run again (`translator rerun --from-failed`)."""

    stage: int = Field(description="Stage index, the clone stage being 0.")
    step: int = Field(description="Step index in the stage.")
    from_run: int = Field(description="The run whose result stands.")


class PipelineExecutionSpec(APIModel):
    """One run of a pipeline."""

    pipeline_name: str = Field(description="The Pipeline in the same namespace.")
    run: int = Field(default=0, ge=0, description="Run number; assigned from Pipeline.status.nextRun when 0.")
    pipeline_config: PipelineConfig | None = Field(default=None, description="The snapshot that runs.")
    repository_url: str = ""
    triggered_by: TriggerType = TriggerType.USER
    trigger_user_name: str = ""
    commit: str = ""
    event: Event = Event.PUSH
    branch: str = ""
    ref: str = ""
    message: str = ""
    author: str = ""
    rerun_of: str = Field(default="", description="The execution this one reruns.")
    reused_steps: list[ReusedStep] = Field(
        default_factory=list, description="Steps not run again: their result comes from an earlier run.",
    )


class Condition(APIModel):
    """Initialized, Provisioned, Built or Notified."""

    type: ConditionType = Field(description="Initialized, Provisioned, Built or Notified.")
    status: Literal["True", "False", "Unknown"] = Field(default="Unknown", description="True, False or Unknown.")
    reason: str = Field(default="", description="A CamelCase word for programs.")
    message: str = Field(default="", description="What happened, for people.")
    last_update_time: str = Field(default="", description="RFC 3339.")
    last_transition_time: str = Field(default="", description="When status last changed, RFC 3339.")


class StepStatus(APIModel):
    """One step's state and times."""

    state: State = Field(default=State.WAITING, description="Waiting, Building, Success, Failed, Skipped, Aborted.")
    started: str = Field(default="", description="RFC 3339.")
    ended: str = Field(default="", description="RFC 3339.")
    message: str = Field(default="", description="Why the step ended as it did (e.g. why it was skipped).")
    log: str = Field(default="", description="Key of the step's archived log in the log store, once copied there.")


class StageStatus(APIModel):
    """One stage's state, times and steps."""

    name: str = Field(default="", description="The stage name from the pipeline file.")
    state: State = Field(default=State.WAITING, description="Waiting, Building, Success, Failed, Skipped, Aborted.")
    started: str = Field(default="", description="RFC 3339.")
    ended: str = Field(default="", description="RFC 3339.")
    steps: list[StepStatus] = Field(default_factory=list, description="The stage's steps, in file order.")


class EngineRef(APIModel):
    """Which engine ran the execution, and its object there."""

    engine: str = Field(description="argo or jenkins.")
    workflow_name: str = Field(default="", description="Argo Workflow name.")
    workflow_namespace: str = ""
    jenkins_job: str = Field(default="", description="Jenkins job name.")
    jenkins_build: int = Field(default=0, description="Jenkins build number.")


class RunCacheStatus(APIModel):
    """Where a cached run went, and why (see docs/cache.md)."""

    holders: list[str] = Field(default_factory=list, description="Nodes holding the cache when it was submitted.")
    waiting_since: str = Field(default="", description="While it waits for a holder (RFC 3339); empty otherwise.")
    waited_seconds: int = Field(default=0, description="How long it waited for a holder.")
    ran_cold: bool = Field(default=False, description="No holder could take it within the wait: it ran anywhere.")
    node: str = Field(default="", description="The node its cached steps ran on.")
    result: str = Field(default="", description="Hit (ran on a holder), Miss, or empty until placed.")


class PipelineExecutionStatus(APIModel):
    """What the run is doing, per stage and step."""

    execution_state: State = Field(default=State.WAITING, description="The run's state (Rancher's names).")
    started: str = Field(default="", description="RFC 3339.")
    ended: str = Field(default="", description="RFC 3339.")
    conditions: list[Condition] = Field(default_factory=list, description="Initialized, Provisioned, Built, Notified.")
    stages: list[StageStatus] = Field(default_factory=list, description="Per stage (the clone stage first).")
    duration: str = Field(default="", description="How long the run took, e.g. 3m12s, once ended.")
    engine_ref: EngineRef | None = Field(default=None, description="The Workflow or Jenkins build that ran it.")
    cache: RunCacheStatus | None = Field(default=None, description="Cache placement of a run with cached steps.")


class PipelineExecution(APIModel):
    """One run of a pipeline."""

    api_version: str = API_VERSION
    kind: str = "PipelineExecution"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: PipelineExecutionSpec
    status: PipelineExecutionStatus = Field(default_factory=PipelineExecutionStatus)


# --- Source code providers, credentials, repositories (after Rancher's) ------------------


class SourceCodeProviderConfigSpec(APIModel):
    """A git host the project's pipelines use."""

    type: Literal["github", "gitlab", "bitbucket", "git"] = Field(description="Provider type.")
    hostname: str = Field(default="", description="Host, e.g. github.com or git.example.com.")
    tls: bool = Field(default=True, description="Use https.")
    enabled: bool = True
    client_id: str = Field(default="", description="OAuth application id.")
    client_secret_name: str = Field(default="", description="Secret holding the OAuth client secret.")
    api_url: str = Field(default="", description="API base URL; from the type and hostname when empty.")


class SourceCodeProviderConfig(APIModel):
    """A git host the project's pipelines use."""

    api_version: str = API_VERSION
    kind: str = "SourceCodeProviderConfig"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: SourceCodeProviderConfigSpec


class SourceCodeCredentialSpec(APIModel):
    """A user's account on a provider; the token stays in a Secret."""

    source_code_type: Literal["github", "gitlab", "bitbucket", "git"] = Field(description="Provider type.")
    user_name: str = Field(default="", description="Account name on the provider.")
    display_name: str = ""
    avatar_url: str = ""
    html_url: str = ""
    login_name: str = ""
    secret_name: str = Field(description="Secret with `token` (or `username`/`password`).")


class SourceCodeCredential(APIModel):
    """A user's account on a provider."""

    api_version: str = API_VERSION
    kind: str = "SourceCodeCredential"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: SourceCodeCredentialSpec


class RepositoryPermissions(APIModel):
    """What the credential may do with the repository."""

    pull: bool = False
    push: bool = False
    admin: bool = False


class SourceCodeRepositorySpec(APIModel):
    """A repository a credential can see."""

    source_code_type: Literal["github", "gitlab", "bitbucket", "git"]
    url: str = Field(description="Clone URL.")
    source_code_credential_name: str = ""
    default_branch: str = "master"
    language: str = ""
    permissions: RepositoryPermissions = Field(default_factory=RepositoryPermissions)


class SourceCodeRepository(APIModel):
    """A repository a credential can see."""

    api_version: str = API_VERSION
    kind: str = "SourceCodeRepository"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: SourceCodeRepositorySpec


class CacheEntry(APIModel):
    """One pipeline's caches on a node."""

    pipeline: str = Field(description="<namespace>/<pipeline>.")
    bytes: int = Field(default=0, description="Size of the pipeline's cache directories on the node.")
    last_used: str = Field(default="", description="When a pod last used them, RFC 3339.")


class CacheInventoryStatus(APIModel):
    """What the cache agent found on its node."""

    node: str = Field(default="", description="The node.")
    root: str = Field(default="", description="hostPathRoot scanned.")
    used_bytes: int = Field(default=0, description="Bytes of every cache under the root.")
    budget_bytes: int = Field(default=0, description="The budget enforced; 0: none.")
    free_bytes: int = Field(default=0, description="Free bytes on the disk holding the root.")
    evictions: int = Field(default=0, description="Caches evicted by the agent, in total.")
    evicted_bytes: int = Field(default=0, description="Bytes evicted, in total.")
    updated: str = Field(default="", description="When the agent last published, RFC 3339.")
    truncated: bool = Field(default=False, description="More caches than MAX_ENTRIES: the least recent omitted.")
    caches: list[CacheEntry] = Field(default_factory=list, description="Most recently used first.")


class CacheInventory(APIModel):
    """A node's build caches, published by the cache agent (cluster-scoped, named after the node)."""

    api_version: str = API_VERSION
    kind: str = "CacheInventory"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    status: CacheInventoryStatus = Field(default_factory=CacheInventoryStatus)


def parse_setting(obj: dict[str, Any] | None) -> PipelineSettingSpec:
    """A PipelineSetting's spec with defaults filled; built-in defaults for None."""
    if obj is None:
        return PipelineSettingSpec()
    return PipelineSettingSpec.model_validate(obj.get("spec", obj))


def select_setting(pipeline: PipelineSpec, settings: dict[str, dict[str, Any]]) -> tuple[PipelineSettingSpec, str]:
    """The setting a Pipeline uses, and where it came from.

    `settings` maps the names of the PipelineSettings in the pipeline's namespace to their
    objects. The one the spec names wins, else the one named `default`, else built-in
    defaults. A named setting that does not exist is an error, not a silent fallback.
    """
    if pipeline.setting_name:
        if pipeline.setting_name not in settings:
            raise LookupError(f"PipelineSetting {pipeline.setting_name!r} named by the pipeline does not exist")
        return parse_setting(settings[pipeline.setting_name]), pipeline.setting_name
    if "default" in settings:
        return parse_setting(settings["default"]), "default"
    return PipelineSettingSpec(), "(built-in defaults)"
