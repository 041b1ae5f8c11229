"""The trust rules end to end: the real controller, the API double (with its ServiceAccount
admission) and the Argo simulator building pods as Argo does (tests/argo_pod.py), in both forms
of a run (one pod, the default; pinned pod-per-step)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import config

from tests.argo_pod import TOKEN_PATH
from tests.controller.harness import G, System, V, wait_for
from tests.kube_double.server import KubeDouble
from translator.api.resources_types import PipelineExecution
from translator.api.setting_types import PipelineSettingSpec
from translator.compiler.compile import compile_text
from translator.compiler.context import ExecutionContext
from translator.controller import runs
from translator.engines.argo import ArgoEngine
from translator.engines.base import EngineError
from translator.kubeclient import Kube

CONFIG = {"stages": [
    {"name": "Test", "steps": [{"runScriptConfig": {"image": "alpine", "shellScript": "kubectl get secrets"}}]},
    {"name": "Deploy", "steps": [{"applyYamlConfig": {"path": "deploy.yaml"}}]},
]}


@pytest.fixture(params=["pod", "pinned"])
def system(request: pytest.FixtureRequest) -> Iterator[System]:
    with KubeDouble() as kube:
        sys_ = System(kube, setting={"argo": {"runForm": request.param}})
        sys_.form = request.param  # type: ignore[attr-defined]
        sys_.start_controller()
        try:
            yield sys_
        finally:
            sys_.close()


def _pull_request(system: System, name: str = "web-pr") -> None:
    system.kube.create("pipelineexecutions", "team", {
        "apiVersion": f"{G}/{V}", "kind": "PipelineExecution", "metadata": {"name": name},
        "spec": {"pipelineName": "web", "event": "pull_request", "branch": "master", "ref": "refs/pull/7/head",
                 "commit": "0123456789abcdef0123456789abcdef01234567", "pipelineConfig": CONFIG}})


def _pods(system: System, workflow: str) -> list[Any]:
    """The pod the Test step ran in: the run's one pod, or the step's own."""
    pods = system.kube.call(system.kube.core.list_namespaced_pod, "team",
                            label_selector=f"workflows.argoproj.io/workflow={workflow}").items
    if system.form == "pod":  # type: ignore[attr-defined]
        return list(pods)
    return [p for p in pods if p.metadata.annotations["workflows.argoproj.io/node-name"].endswith(".test")]


def _step_container(system: System) -> str:
    """The name of the Test step's container in its pod."""
    return "test" if system.form == "pod" else "main"  # type: ignore[attr-defined]


def _token_mounts(pod: Any) -> dict[str, str]:
    """container -> the volume mounted at the token path."""
    containers = [*(pod.spec.init_containers or []), *pod.spec.containers]
    return {c.name: m.name for c in containers for m in c.volume_mounts or [] if m.mount_path == TOKEN_PATH}


def test_a_pull_request_runs_pod_has_no_usable_service_account_token(system: System) -> None:
    system.apply_pipeline("web", CONFIG)
    _pull_request(system)
    ex = system.wait_state("web-pr", "Success", timeout=20)
    (pod,) = _pods(system, "web-pr")
    assert pod.spec.service_account_name == "translator-untrusted"
    assert pod.spec.automount_service_account_token is False
    mounts = _token_mounts(pod)
    assert _step_container(system) in {c.name for c in pod.spec.containers}
    assert _step_container(system) not in mounts  # the step's own container: no token at all
    assert mounts == {"init": "exec-sa-token", "wait": "exec-sa-token"}  # Argo's executor only
    assert not [v for v in pod.spec.volumes if v.name.startswith("kube-api-access-")]
    token = next(v for v in pod.spec.volumes if v.name == "exec-sa-token").secret.secret_name
    # and the executor's token is good for nothing but Argo's task results
    secret = system.kube.call(system.kube.core.read_namespaced_secret, token, "team")
    assert secret.type == "kubernetes.io/service-account-token"
    assert secret.metadata.annotations["kubernetes.io/service-account.name"] == "translator-untrusted"
    role = system.kube.call(system.kube.rbac.read_namespaced_role, "translator-untrusted-executor", "team")
    assert [(r.api_groups, r.resources, r.verbs) for r in role.rules] == [
        (["argoproj.io"], ["workflowtaskresults"], ["create", "patch"])]
    bindings = system.kube.call(system.kube.rbac.list_namespaced_role_binding, "team").items
    assert {b.role_ref.name for b in bindings if any(s.name == "translator-untrusted" for s in b.subjects)} == {
        "translator-untrusted-executor"}
    account = system.kube.call(system.kube.core.read_namespaced_service_account, "translator-untrusted", "team")
    assert account.automount_service_account_token is False
    if system.form == "pod":  # type: ignore[attr-defined]
        assert {c.name for c in pod.spec.containers} == {"wait", "clone", "test"}  # the deploy step is not in it
    deploy = ex["status"]["stages"][2]["steps"][0]
    assert deploy["state"] == "Skipped"
    assert deploy["message"] == ("applyYamlConfig does not run on a pull_request run "
                                 "(PipelineSetting spec.pullRequests.deploySteps)")


def test_a_push_runs_pod_keeps_the_pipeline_accounts_token(system: System) -> None:
    system.apply_pipeline("web", CONFIG)
    runs.create_run(system.kube, "team", "web")
    ex = system.wait_state("web-1", "Success", timeout=20)
    (pod,) = _pods(system, "web-1")
    assert pod.spec.service_account_name == "pipeline" and pod.spec.automount_service_account_token is None
    assert _token_mounts(pod)[_step_container(system)].startswith("kube-api-access-")
    assert ex["status"]["stages"][2]["steps"][0]["state"] == "Success"


def test_the_pull_request_account_is_made_again_when_deleted(system: System) -> None:
    core = system.kube.core
    wait_for(lambda: system.kube.call(core.read_namespaced_secret, "translator-untrusted.service-account-token",
                                      "team"), what="the token Secret")
    system.kube.call(core.delete_namespaced_service_account, "translator-untrusted", "team")
    system.kube.patch("pipelinesettings", "team", "default", {"spec": {"executorQuota": 3}})  # a setting event
    wait_for(lambda: system.kube.call(core.read_namespaced_service_account, "translator-untrusted", "team"),
             what="the account made again")


def test_a_run_is_not_submitted_before_its_pods_account_exists() -> None:
    """Argo would fail the step whose pod names a missing account: the engine waits (retryable)."""
    with KubeDouble() as double:
        double.create_namespace("team")
        kube = Kube(config.new_client_from_config(config_file=double.kubeconfig))
        plan = compile_text("stages: []\n", ExecutionContext(namespace="team", event="pull_request"),
                            PipelineSettingSpec()).plan
        assert plan is not None
        execution = PipelineExecution.model_validate({"metadata": {"name": "pipeline-1", "namespace": "team",
                                                                   "uid": "u1"}, "spec": {"pipelineName": "p"}})
        engine = ArgoEngine(kube)
        with pytest.raises(EngineError) as err:
            engine.submit(execution, plan)
        assert err.value.reason == "ServiceAccountNotFound" and err.value.retryable
        assert "team/translator-untrusted" in err.value.message and not kube.list(
            "workflows", "team", group="argoproj.io", version="v1alpha1")["items"]
        kube.call(kube.core.create_namespaced_service_account, "team", {"metadata": {"name": "translator-untrusted"}})
        assert engine.submit(execution, plan).workflow_name == "pipeline-1"
