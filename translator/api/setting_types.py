"""The PipelineSetting resource of `devops.cubepaas.io/v1alpha1`: how the pipelines of its
namespace run (engine, quota, resources, cache, logs, history), and which setting a Pipeline uses.

Part of the models `crds/` is made from (see `translator.api.crds`), beside resources_types.py.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from translator.api.base import APIModel
from translator.api.resources_types import API_VERSION, ObjectMeta, PipelineSpec
from translator.api.states import Engine


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
