"""The resource models: wire format, defaults, setting selection."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from translator.api.resources_types import Pipeline, PipelineExecution, PipelineSpec
from translator.api.setting_types import PipelineSettingSpec, select_setting
from translator.api.states import Engine, State


def test_execution_round_trips_in_camel_case() -> None:
    wire = {
        "apiVersion": "devops.cubepaas.io/v1alpha1", "kind": "PipelineExecution",
        "metadata": {"name": "web-3", "namespace": "team", "resourceVersion": "42"},
        "spec": {"pipelineName": "web", "run": 3, "triggeredBy": "webhook", "event": "pull_request",
                 "branch": "dev", "commit": "abc",
                 "pipelineConfig": {"stages": [{"name": "s", "steps": [
                     {"runScriptConfig": {"image": "a", "shellScript": "b"}}]}]}},
        "status": {"executionState": "Building", "stages": [
            {"name": "s", "state": "Building", "steps": [{"state": "Success"}]}],
            "conditions": [{"type": "Provisioned", "status": "True", "reason": "WorkflowCreated"}],
            "engineRef": {"engine": "argo", "workflowName": "web-3"}},
    }
    execution = PipelineExecution.model_validate(wire)
    assert execution.status.execution_state is State.BUILDING
    assert execution.spec.pipeline_config is not None
    again = execution.to_wire()
    assert again["spec"]["pipelineName"] == "web" and again["status"]["engineRef"]["workflowName"] == "web-3"
    assert again["metadata"]["resourceVersion"] == "42"
    assert PipelineExecution.model_validate(again) == execution


def test_states_are_ranchers_vocabulary() -> None:
    assert [s.value for s in State] == ["Waiting", "Queueing", "Building", "Success", "Failed", "Skipped", "Aborted"]
    assert State.ABORTED.finished and not State.QUEUEING.finished
    with pytest.raises(ValidationError):
        PipelineExecution.model_validate({"spec": {"pipelineName": "p"}, "status": {"executionState": "Running"}})


def test_setting_defaults_fill_only_what_is_missing() -> None:
    spec = PipelineSettingSpec.model_validate({"engine": "jenkins", "cache": {"maxNodes": 5}})
    assert spec.engine == Engine.JENKINS.value and spec.executor_quota == 2
    assert spec.cache.max_nodes == 5 and spec.cache.host_path_root == "/var/lib/translator/cache"
    with pytest.raises(ValidationError):
        PipelineSettingSpec.model_validate({"executorQuota": 0})


def test_setting_selection_named_then_default_then_builtin() -> None:
    settings = {"default": {"spec": {"executorQuota": 4}}, "fast": {"spec": {"executorQuota": 9}}}
    named = PipelineSpec(repository_url="u", setting_name="fast")
    assert select_setting(named, settings)[0].executor_quota == 9
    unnamed = PipelineSpec(repository_url="u")
    assert select_setting(unnamed, settings)[0].executor_quota == 4
    assert select_setting(unnamed, {})[1] == "(built-in defaults)"
    with pytest.raises(LookupError, match="'fast'"):
        select_setting(named, {"default": {}})


def test_pipeline_status_defaults() -> None:
    pipeline = Pipeline.model_validate({"metadata": {"name": "web"}, "spec": {"repositoryUrl": "https://x/y.git"}})
    assert pipeline.status.next_run == 1 and pipeline.status.cache_nodes == []
    assert pipeline.spec.trigger_webhook_push and not pipeline.spec.trigger_webhook_tag
