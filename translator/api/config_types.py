"""The pipeline config file: Rancher 2.x's `.rancher-pipeline.yml`, read as-is, plus `cache`.

Field names and meanings follow Rancher's `v3.PipelineConfig` so existing files keep their
meaning. What is new is marked so in the field description. These models are the single
source for the validator (known keys, types, required fields) and for the CRD schema of
`Pipeline.spec.config` and `PipelineExecution.spec.pipelineConfig`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict, Field, model_validator

from translator.api.base import APIModel


class StepType(StrEnum):
    """The step configs; a step carries exactly one of them."""

    SOURCE_CODE = "sourceCodeConfig"
    RUN_SCRIPT = "runScriptConfig"
    PUBLISH_IMAGE = "publishImageConfig"
    APPLY_YAML = "applyYamlConfig"
    PUBLISH_CATALOG = "publishCatalogConfig"
    APPLY_APP = "applyAppConfig"


def one_or_many(value: Any) -> Any:
    """Rancher's `stringorslice`: a lone scalar is a list of one."""
    return [value] if isinstance(value, str | int | float | bool) else value


# A list of strings, or one string: Rancher's `stringorslice` (pipeline_types.go), which it used
# for `include`, `exclude` (inside Constraint.UnmarshalYAML) and `notification.condition`.
StringOrSlice = Annotated[list[str], BeforeValidator(one_or_many)]


class Constraint(APIModel):
    """Glob lists a value must match: any `include` (an empty one matches all), no `exclude`.

    Rancher's shorthand is accepted: a bare string or a list means `include`, and `include`
    and `exclude` each take a string or a list.
    """

    model_config = ConfigDict(**APIModel.model_config, json_schema_extra={"x-kubernetes-preserve-unknown-fields": True})

    include: StringOrSlice = Field(default_factory=list, description="Globs; the value must match one.")
    exclude: StringOrSlice = Field(default_factory=list, description="Globs; the value must match none. Wins.")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"include": [value]}
        if isinstance(value, list):
            return {"include": value}
        return value


class Constraints(APIModel):
    """`when` on a stage or step: conditions on the run's branch and event."""

    branch: Constraint | None = Field(default=None, description="Branch globs, e.g. master, feature/*.")
    event: Constraint | None = Field(default=None, description="push, pull_request or tag.")


class CacheConfig(APIModel):
    """New in translator: directories kept between runs on the node that ran the step."""

    enabled: bool = Field(default=True, description="Set false to turn off a cache inherited from the stage.")
    paths: list[str] = Field(
        default_factory=list,
        description="Container paths to keep, absolute or relative to the workspace; no `..`.",
    )


class SourceCodeConfig(APIModel):
    """Clone the repository at the run's commit into the workspace."""


class RunScriptConfig(APIModel):
    """Run a shell script in an image, in the workspace."""

    image: str = Field(description="Image to run the script in.")
    shell_script: str = Field(
        default="",
        description="Script run by `sh -xe` in the checkout, as Rancher ran it: each command echoed, the "
                    "first failing one ends the step. A script starting with `#!` is run by that interpreter.",
    )


class PublishImageConfig(APIModel):
    """Build an image from a Dockerfile (BuildKit, daemonless) and push it."""

    dockerfile_path: str = Field(default="./Dockerfile", description="Dockerfile, relative to the workspace.")
    build_context: str = Field(default=".", description="Build context, relative to the workspace.")
    tag: str = Field(description="Image name and tag, e.g. me/app:${CICD_EXECUTION_SEQUENCE}.")
    push_remote: bool = Field(default=False, description="Push to `registry` instead of the local registry.")
    registry: str = Field(default="", description="Registry host when pushRemote is true.")


class ApplyYamlConfig(APIModel):
    """Apply Kubernetes YAML, with ${VARIABLES} substituted first."""

    path: str = Field(default="", description="YAML file in the workspace.")
    content: str = Field(default="", description="Inline YAML, used when path is empty.")
    namespace: str = Field(default="", description="Namespace to apply into.")


class PublishCatalogConfig(APIModel):
    """Push a Helm chart from the workspace to a git catalog repository."""

    path: str = Field(description="Chart directory in the workspace.")
    catalog_template: str = Field(description="Template name in the catalog.")
    version: str = Field(description="Chart version to publish.")
    git_url: str = Field(description="Catalog repository URL.")
    git_branch: str = Field(default="master", description="Catalog branch.")
    git_author: str = Field(default="", description="Commit author name.")
    git_email: str = Field(default="", description="Commit author e-mail.")


class ApplyAppConfig(APIModel):
    """Install or upgrade a catalog app with Helm."""

    catalog_template: str = Field(description="`[ns:]catalog-template`, e.g. cattle-global-data:library-mysql.")
    version: str = Field(description="Chart version.")
    answers: dict[str, str] = Field(default_factory=dict, description="Helm values, dotted keys allowed.")
    name: str = Field(description="Release name.")
    target_namespace: str = Field(description="Namespace to install into.")


class EnvFrom(APIModel):
    """An environment variable taken from a Secret's key (withheld on pull_request runs)."""

    source_name: str = Field(description="Secret name in the pipeline namespace.")
    source_key: str = Field(description="Key in the Secret.")
    target_key: str = Field(default="", description="Variable name; the key's name when empty.")


class Step(APIModel):
    """One step: exactly one step config, plus its container settings."""

    source_code_config: SourceCodeConfig | None = None
    run_script_config: RunScriptConfig | None = None
    publish_image_config: PublishImageConfig | None = None
    apply_yaml_config: ApplyYamlConfig | None = None
    publish_catalog_config: PublishCatalogConfig | None = None
    apply_app_config: ApplyAppConfig | None = None
    env: dict[str, str] = Field(default_factory=dict, description="Environment variables.")
    env_from: list[EnvFrom] = Field(default_factory=list, description="Variables from Secrets.")
    privileged: bool = Field(default=False, description="Run the step's container privileged.")
    cpu_request: str = Field(default="", description="e.g. 100m; the setting's default when empty.")
    cpu_limit: str = Field(default="", description="e.g. 1; the setting's default when empty.")
    memory_request: str = Field(default="", description="e.g. 128Mi; the setting's default when empty.")
    memory_limit: str = Field(default="", description="e.g. 1Gi; the setting's default when empty.")
    when: Constraints | None = Field(default=None, description="Run the step only when these match.")
    cache: CacheConfig | None = Field(default=None, description="New: directories kept between runs.")

    def step_types(self) -> list[StepType]:
        return [t for t in StepType if getattr(self, _FIELD_OF[t]) is not None]


_FIELD_OF = {
    StepType.SOURCE_CODE: "source_code_config",
    StepType.RUN_SCRIPT: "run_script_config",
    StepType.PUBLISH_IMAGE: "publish_image_config",
    StepType.APPLY_YAML: "apply_yaml_config",
    StepType.PUBLISH_CATALOG: "publish_catalog_config",
    StepType.APPLY_APP: "apply_app_config",
}


class Stage(APIModel):
    """Stages run in order; the steps of a stage run in parallel."""

    name: str = Field(description="Stage name shown in the run's status.")
    steps: list[Step] = Field(description="Steps, run in parallel.")
    when: Constraints | None = Field(default=None, description="Run the stage only when these match.")
    cache: CacheConfig | None = Field(default=None, description="New: a cache every step inherits.")


class Recipient(APIModel):
    """Where a notification goes."""

    recipient: str = Field(default="", description="Channel, address or URL.")
    notifier: str = Field(default="", description="Notifier id.")


class Notification(APIModel):
    """Who hears about a finished run, and when."""

    recipients: list[Recipient] = Field(default_factory=list)
    condition: StringOrSlice = Field(
        default_factory=list,
        description="Success, Failed and/or Changed (a single string is accepted).",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )
    message: str = Field(default="", description="Overrides the default message.")


class PipelineConfig(APIModel):
    """The whole pipeline file."""

    stages: list[Stage] = Field(default_factory=list, description="Stages, run in order.")
    timeout: int = Field(default=60, description="Minutes the whole run may take.")
    branch: Constraint | None = Field(default=None, description="Branches that get runs at all.")
    notification: Notification | None = Field(default=None, description="Kept; delivered by the controller.")


NOTIFICATION_CONDITIONS = ("Success", "Failed", "Changed")
EVENTS = ("push", "pull_request", "tag")
