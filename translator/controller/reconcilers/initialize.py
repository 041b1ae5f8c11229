"""An execution's first step: its run number, its config snapshot (from the execution, the
Pipeline's inline config, or the repository's pipeline file read with git), validation, the
compiled plan's stages as Waiting. Every way this can fail ends the run with the reason
(`Initialized=False`), never a retry loop; a branch the pipeline does not build is Skipped."""

from __future__ import annotations

import time
from typing import Any

from kubernetes import client

from translator.api.config_validation import file_limits, validate_data, validate_text
from translator.api.resources_types import Condition, PipelineExecution, PipelineExecutionStatus, PipelineSpec
from translator.api.states import ConditionType, State
from translator.compiler.conditions import constraint_matches
from translator.compiler.plan import CompileError
from translator.controller import runs
from translator.controller.context import Shared, layout
from translator.controller.finish import FinishActions
from translator.controller.source import GitCredentials, SourceError, read_pipeline_file, source_failure_reason
from translator.status.execution import initial_stages, set_condition


def git_credentials(shared: Shared, ns: str, pipeline: dict[str, Any]) -> GitCredentials | None:
    """The Pipeline's SourceCodeCredential's Secret, as git credentials (None: anonymous)."""
    name = (pipeline.get("spec") or {}).get("sourceCodeCredentialName") or ""
    if not name:
        return None
    try:
        credential = shared.kube.get("sourcecodecredentials", ns, name)
        data = shared.kube.secret_data(ns, credential["spec"].get("secretName", ""))
    except client.ApiException as exc:
        raise SourceError(f"the SourceCodeCredential {name!r} or its Secret cannot be read ({exc.status})") from exc
    return GitCredentials.from_secret(data, credential["spec"].get("userName", ""))


def initialize(shared: Shared, finish: FinishActions, obj: dict[str, Any], ex: PipelineExecution
               ) -> tuple[dict[str, Any], PipelineExecution | None]:
    """(the object as written, the initialized execution with its status not yet written, or None
    when the run ended here)."""
    ns, name = ex.metadata.namespace, ex.metadata.name
    now = shared.now()
    status = PipelineExecutionStatus(started=now)
    pipeline = shared.pipelines.get(ns, ex.spec.pipeline_name)
    if pipeline is None:
        try:
            pipeline = shared.kube.get("pipelines", ns, ex.spec.pipeline_name)
        except client.ApiException as exc:
            if exc.status != 404:
                raise
            shared.fail(obj, status, ConditionType.INITIALIZED, "PipelineNotFound",
                        f"pipeline {ex.spec.pipeline_name!r} does not exist in {ns}")
            return obj, None
    spec_patch: dict[str, Any] = {}
    run = ex.spec.run
    next_run = int((pipeline.get("status") or {}).get("nextRun") or 1)
    if run == 0 or run >= next_run:
        run = runs.take_run_number(shared.kube, ns, ex.spec.pipeline_name, at_least=run)
        if run != ex.spec.run:
            spec_patch["run"] = run
    config = ex.spec.pipeline_config
    if config is None:
        raw = (pipeline.get("spec") or {}).get("config")
        spec_only = {k: v for k, v in pipeline["spec"].items() if k != "config"}  # the config is checked below
        limits = file_limits(shared.setting_for(ns, PipelineSpec.model_validate(spec_only)))
        if raw is None:
            try:
                # a pull request runs the target branch's pipeline file (on the PR's head commit)
                at_commit = "" if ex.spec.event.value == "pull_request" else ex.spec.commit
                file_name, text = read_pipeline_file(
                    pipeline["spec"].get("repositoryUrl", ""), branch=ex.spec.branch, commit=at_commit,
                    credentials=git_credentials(shared, ns, pipeline), max_bytes=limits.max_bytes)
            except SourceError as exc:
                shared.fail(obj, status, ConditionType.INITIALIZED, source_failure_reason(exc),
                            f"no inline config, and the pipeline file could not be read: {exc}")
                return obj, None
            result = validate_text(text, limits=limits, clock=time.monotonic)  # bounded: api/bounded.py
            where = file_name
        else:
            result = validate_data(raw, limits=limits)
            where = "Pipeline.spec.config"
        if result.config is None:
            errors = "; ".join(str(f) for f in result.errors)
            shared.fail(obj, status, ConditionType.INITIALIZED, "InvalidConfig", f"{where}: {errors}")
            return obj, None
        config = result.config
        spec_patch["pipelineConfig"] = config.to_wire()
    if not ex.spec.repository_url and pipeline["spec"].get("repositoryUrl"):
        spec_patch["repositoryUrl"] = pipeline["spec"]["repositoryUrl"]
    if spec_patch:
        obj = shared.kube.patch("pipelineexecutions", ns, name, {"spec": spec_patch})
        ex = shared.execution(obj)
    assert ex.spec.pipeline_config is not None
    if not constraint_matches(ex.spec.pipeline_config.branch, ex.spec.branch or "master"):
        shared.fail(obj, status, ConditionType.INITIALIZED, "BranchNotMatched",
                    f"branch {ex.spec.branch!r} does not match the pipeline's `branch`", state=State.SKIPPED)
        return obj, None
    setting = shared.setting_for(ns, shared.pipeline_spec(pipeline))
    try:
        plan = shared.plan(ex, setting, None)
    except CompileError as exc:
        shared.fail(obj, status, ConditionType.INITIALIZED, "NotCompiled", str(exc))
        return obj, None
    status.stages = initial_stages(layout(plan))
    set_condition(status, Condition(type=ConditionType.INITIALIZED, status="True", reason="Initialized",
                                    message=f"run {ex.spec.run} of {ex.spec.pipeline_name}"), now=now)
    finish.report(ns, ex.spec.pipeline_name)
    # not written here: the step that follows at once (admit, queue or stop) writes this status with its
    # own change, one write instead of two; a reconcile that fails before that initializes again (the
    # run number and the config snapshot are in the spec already)
    return obj, ex.model_copy(update={"status": status})
