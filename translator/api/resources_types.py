"""Six of the seven custom resources of `devops.cubepaas.io/v1alpha1`, all namespaced (the seventh,
PipelineSetting, is in setting_types.py).

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
from translator.api.states import ConditionType, Event, State, TriggerType

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
