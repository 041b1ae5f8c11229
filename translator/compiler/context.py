"""The facts of one run, and the variables Rancher derived from them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from translator.compiler.names import dns_label


@dataclass(frozen=True)
class ExecutionContext:
    """Facts about one run; every one of them comes from the PipelineExecution."""

    namespace: str = "default"
    pipeline: str = "pipeline"
    run: int = 1
    branch: str = "master"
    event: str = "push"
    commit: str = ""
    ref: str = ""
    repository_url: str = ""
    triggered_by: str = "user"
    trigger_user: str = ""
    cache_nodes: tuple[str, ...] = ()  # the pipeline's recency list, newest first
    cache_holders: tuple[str, ...] = ()  # nodes whose inventory holds the cache, most recent use first
    cache_evicted: tuple[str, ...] = ()  # nodes whose inventory shows the cache is gone
    cache_wait: bool = False  # require a holder (the bounded wait); the controller lifts it after the wait
    run_suffix: str = ""  # appended to the engine objects' names (a resubmitted run: "-cold")
    execution: str = ""  # defaults to <pipeline>-<run>
    reused: tuple[tuple[int, int, int], ...] = ()  # (stage, step, from run): not run again

    @property
    def execution_name(self) -> str:
        return self.execution or dns_label(f"{self.pipeline}-{self.run}", max_length=63)


def cicd_env(ctx: ExecutionContext) -> dict[str, str]:
    """Rancher's CICD_* variables, set in every step (pkg/pipeline/utils GetEnvVarMap)."""
    url = ctx.repository_url.rstrip("/")
    repo_name = url.rsplit("/", 1)[-1].removesuffix(".git") if "/" in url else ""
    env = {
        "CICD_GIT_COMMIT": ctx.commit[:7],
        "CICD_GIT_REPO_NAME": repo_name,
        "CICD_GIT_REF": ctx.ref,
        "CICD_GIT_BRANCH": ctx.branch,
        "CICD_GIT_URL": ctx.repository_url,
        "CICD_PIPELINE_ID": ctx.pipeline,
        "CICD_TRIGGER_TYPE": ctx.triggered_by,
        "CICD_EVENT": ctx.event,
        "CICD_EXECUTION_ID": ctx.execution_name,
        "CICD_EXECUTION_SEQUENCE": str(ctx.run),
        "CICD_PROJECT_ID": ctx.namespace,
    }
    if ctx.event == "tag":
        env["CICD_GIT_TAG"] = ctx.ref.removeprefix("refs/tags/")
    return env


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def substitute(text: str, variables: dict[str, str]) -> str:
    """Replace `${NAME}` for the names given; anything else stays as written."""
    return _VAR.sub(lambda m: variables.get(m.group(1), m.group(0)), text)
