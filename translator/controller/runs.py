"""Making runs: `translator run`, the `devops.cubepaas.io/run` annotation, rerun and stop.

Run numbers come from `Pipeline.status.nextRun`, taken with a resourceVersion-guarded write
of the Pipeline's status: two simultaneous requests cannot get the same number (the loser of
the race gets 409, re-reads, and takes the next one). Only the controller writes that status:
`translator run` and `rerun` create a PipelineExecution with `run: 0` (named
`<pipeline>-run-<random>` by the API server's generateName), which the controller numbers
when it initialises it, as it does for webhook and cron runs. So both commands need what a
namespace editor has (create pipelineexecutions, get pipelines), not `pipelines/status`.

Annotations and labels (stored formats):
- on a Pipeline, `devops.cubepaas.io/run: <token>` asks for a run (`/run-branch` picks the
  branch); the controller acts once per token, recorded in `status.lastRunRequest`;
- on a PipelineExecution, `devops.cubepaas.io/stop: <who>` asks to stop it;
- on a PipelineExecution, the label `devops.cubepaas.io/pipeline` is `label_value(<pipeline>)`
  (at most 63 characters, hashed when longer); `spec.pipelineName` has the name itself.
"""

from __future__ import annotations

from typing import Any

from kubernetes import client

from translator.api.config_types import PipelineConfig
from translator.api.config_validation import validate_data
from translator.api.resources_types import API_VERSION, GROUP, VERSION, PipelineExecution
from translator.api.states import State
from translator.compiler.conditions import constraint_matches
from translator.compiler.names import dns_label, label_value
from translator.kubeclient import Kube, update_with_retry

RUN_ANNOTATION = "devops.cubepaas.io/run"
RUN_BRANCH_ANNOTATION = "devops.cubepaas.io/run-branch"
STOP_ANNOTATION = "devops.cubepaas.io/stop"
PIPELINE_LABEL = "devops.cubepaas.io/pipeline"


class RunRefused(Exception):
    """No run is created, for the reason given."""


def take_run_number(kube: Kube, namespace: str, pipeline: str, *, at_least: int = 0,
                    request: str = "") -> int:
    """Reserve the pipeline's next run number (guarded by resourceVersion) and return it."""
    taken: dict[str, int] = {}

    def change(obj: dict[str, Any]) -> dict[str, Any] | None:
        status = obj.setdefault("status", {})
        current = int(status.get("nextRun") or 1)
        if at_least and at_least < current:
            taken["run"] = at_least  # a run numbered by hand, already below nextRun
            return None
        run = max(current, at_least)
        taken["run"] = run
        status["nextRun"] = run + 1
        if request:
            status["lastRunRequest"] = request
        return obj

    update_with_retry(
        lambda: kube.get("pipelines", namespace, pipeline),
        change,
        lambda obj: kube.replace_status("pipelines", namespace, pipeline, obj),
    )
    return taken["run"]


def pipeline_labels(pipeline: str) -> dict[str, str]:
    """The labels of a pipeline's executions (label values are at most 63 characters)."""
    return {PIPELINE_LABEL: label_value(pipeline)}


def execution_body(*, namespace: str, pipeline: dict[str, Any], run: int, config: dict[str, Any] | None,
                   branch: str, triggered_by: str = "user", user: str = "", commit: str = "",
                   event: str = "push", ref: str = "", extra_spec: dict[str, Any] | None = None) -> dict[str, Any]:
    """A PipelineExecution `<pipeline>-<run>`; with `run=0`, one the API server names
    `<pipeline>-run-<random>` and the controller numbers."""
    name = pipeline["metadata"]["name"]
    spec = {
        "pipelineName": name, "run": run, "repositoryUrl": pipeline["spec"].get("repositoryUrl", ""),
        "triggeredBy": triggered_by, "triggerUserName": user, "branch": branch, "event": event,
        "commit": commit, "ref": ref or f"refs/heads/{branch}",
    }
    if config is not None:
        spec["pipelineConfig"] = config
    spec.update(extra_spec or {})
    meta: dict[str, Any] = {"namespace": namespace, "labels": pipeline_labels(name)}
    if run:
        meta["name"] = dns_label(f"{name}-{run}", max_length=253)
    else:
        meta["generateName"] = dns_label(f"{name}-run", max_length=240) + "-"
    return {"apiVersion": API_VERSION, "kind": "PipelineExecution", "metadata": meta, "spec": spec}


def _checked_pipeline(kube: Kube, namespace: str, pipeline_name: str,
                      branch: str) -> tuple[dict[str, Any], str, dict[str, Any] | None]:
    """The Pipeline, the run's branch and the snapshot of its inline config (None: read from the
    repository when the run starts); RunRefused when no run can come of it."""
    try:
        pipeline = kube.get("pipelines", namespace, pipeline_name)
    except client.ApiException as exc:
        if exc.status == 404:
            raise RunRefused(f"pipeline {namespace}/{pipeline_name} does not exist") from None
        raise
    branch = branch or pipeline["spec"].get("defaultBranch") or "master"
    config = pipeline["spec"].get("config")
    if config is None:
        return pipeline, branch, None
    checked = validate_data(config)
    if checked.config is None:
        raise RunRefused("the pipeline's config (Pipeline.spec.config) is invalid: "
                         + "; ".join(str(f) for f in checked.errors))
    if not constraint_matches(checked.config.branch, branch):
        raise RunRefused(f"branch {branch!r} does not match the pipeline's `branch`; no run is created")
    return pipeline, branch, checked.config.to_wire()  # the snapshot is the normalised config


def create_run(kube: Kube, namespace: str, pipeline_name: str, *, branch: str = "", user: str = "",
               triggered_by: str = "user", request: str = "") -> dict[str, Any]:
    """The controller's run (for the `run` annotation): `<pipeline>-<run>`, numbered here."""
    pipeline, branch, config = _checked_pipeline(kube, namespace, pipeline_name, branch)
    run = take_run_number(kube, namespace, pipeline_name, request=request)
    body = execution_body(namespace=namespace, pipeline=pipeline, run=run, config=config, branch=branch,
                          triggered_by=triggered_by, user=user)
    return kube.create("pipelineexecutions", namespace, body)


def _create_unnumbered(kube: Kube, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
    # generateName makes every POST a new object: not retried blindly, so a retry cannot start two runs
    made: Any = kube.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "pipelineexecutions", body)
    return dict(made)


def request_run(kube: Kube, namespace: str, pipeline_name: str, *, branch: str = "",
                user: str = "") -> dict[str, Any]:
    """`translator run`: a PipelineExecution with `run: 0` that the controller numbers; needs
    only `get pipelines` and `create pipelineexecutions`."""
    pipeline, branch, config = _checked_pipeline(kube, namespace, pipeline_name, branch)
    body = execution_body(namespace=namespace, pipeline=pipeline, run=0, config=config, branch=branch,
                          triggered_by="user", user=user)
    return _create_unnumbered(kube, namespace, body)


def rerun(kube: Kube, namespace: str, execution_name: str, *, from_failed: bool = False,
          user: str = "") -> dict[str, Any]:
    """A new execution (`run: 0`, numbered by the controller) from the same snapshot and commit;
    `from_failed` reuses what succeeded. Needs get on pipelines and pipelineexecutions, create on
    pipelineexecutions."""
    source = PipelineExecution.model_validate(kube.get("pipelineexecutions", namespace, execution_name))
    if source.spec.pipeline_config is None:
        raise RunRefused(f"{execution_name} has no config snapshot yet; it cannot be rerun")
    reused: list[dict[str, int]] = []
    if from_failed:
        if source.status.execution_state not in (State.FAILED, State.ABORTED):
            raise RunRefused(f"{execution_name} is {source.status.execution_state.value}; --from-failed needs a "
                             "failed or aborted run")
        earlier = {(r.stage, r.step): r.from_run for r in source.spec.reused_steps}
        for si, stage in enumerate(source.status.stages):
            if si == 0:
                continue  # the clone step always runs: every run has a fresh workspace
            if any(s.state in (State.FAILED, State.ABORTED) for s in stage.steps):
                reused += [{"stage": si, "step": ti, "fromRun": earlier.get((si, ti), source.spec.run)}
                           for ti, s in enumerate(stage.steps) if s.state is State.SUCCESS]
                break
            reused += [{"stage": si, "step": ti, "fromRun": earlier.get((si, ti), source.spec.run)}
                       for ti, s in enumerate(stage.steps) if s.state is State.SUCCESS]
    pipeline = kube.get("pipelines", namespace, source.spec.pipeline_name)
    config: dict[str, Any] = PipelineConfig.model_validate(source.spec.pipeline_config).to_wire()
    body = execution_body(
        namespace=namespace, pipeline=pipeline, run=0, config=config, branch=source.spec.branch,
        triggered_by="user", user=user, commit=source.spec.commit, event=source.spec.event.value,
        ref=source.spec.ref, extra_spec={"rerunOf": execution_name, "reusedSteps": reused,
                                         "repositoryUrl": source.spec.repository_url},
    )
    return _create_unnumbered(kube, namespace, body)


def request_stop(kube: Kube, namespace: str, execution_name: str, who: str) -> dict[str, Any]:
    return kube.patch("pipelineexecutions", namespace, execution_name,
                      {"metadata": {"annotations": {STOP_ANNOTATION: who or "unknown"}}})
