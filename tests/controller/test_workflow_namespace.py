"""`spec.argo.namespace` set to another namespace (finding 6): runs go there when it is a namespace
of the pipeline namespace's project, with what their pods need made or copied there, owned without
cross-namespace ownerReferences; any other namespace is refused with a clear condition."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from tests.controller.harness import System, wait_for
from tests.kube_double.server import KubeDouble
from tests.s3_server import ACCESS_KEY, SECRET_KEY, S3Server
from translator.controller import runs

PROJECT = "devops.cubepaas.io/project"
WITH_SECRET = {"stages": [{"name": "Build", "steps": [
    {"runScriptConfig": {"image": "node", "shellScript": "npm publish"},
     "envFrom": [{"sourceName": "npm-token", "sourceKey": "token", "targetKey": "NPM_TOKEN"}]}]}]}
_buckets = itertools.count()


@pytest.fixture
def double() -> Iterator[KubeDouble]:
    with KubeDouble() as kube:
        yield kube


def _system(kube: KubeDouble, target: str, **setting: Any) -> System:
    system = System(kube, setting={"argo": {"namespace": target}, **setting})
    system.secret("npm-token", {"token": "s3cr3t"})
    return system


def _gone(read: Any, *args: Any) -> bool:
    try:
        read(*args)
        return False
    except client.ApiException as exc:
        return exc.status == 404


def test_runs_go_to_a_project_namespace_with_what_their_pods_need(double: KubeDouble, s3_server: S3Server) -> None:
    double.create_namespace("ci", {PROJECT: "team"})
    bucket = f"ci-logs-{next(_buckets)}"
    system = _system(double, "ci", logs={"endpoint": s3_server.endpoint, "bucket": bucket, "insecure": True,
                                         "credentialsSecret": "log-store"})
    system.secret("log-store", {"accesskey": ACCESS_KEY, "secretkey": SECRET_KEY})
    core, rbac = system.kube.core, system.kube.rbac
    try:
        system.start_controller()
        system.apply_pipeline("web", WITH_SECRET)
        runs.create_run(system.kube, "team", "web")
        ex = system.wait_state("web-1", "Success", "Failed")
        assert ex["status"]["executionState"] == "Success", ex["status"]
        assert ex["status"]["engineRef"]["workflowNamespace"] == "ci"
        # made in the Workflow namespace
        core.read_namespaced_service_account("pipeline", "ci")
        rbac.read_namespaced_role("translator-pipeline-executor", "ci")
        binding = rbac.read_namespaced_role_binding("translator-pipeline-executor-pipeline", "ci")
        assert binding.subjects[0].namespace == "ci"
        edit = rbac.read_namespaced_role_binding("translator-deploy-team-pipeline", "ci")
        assert edit.role_ref.name == "edit" and edit.subjects[0].namespace == "ci"
        assert "translator-logs" in core.read_namespaced_config_map("artifact-repositories", "ci").data
        for name in ("npm-token", "log-store"):  # copied from the pipeline namespace
            copy = core.read_namespaced_secret(name, "ci")
            assert copy.metadata.annotations["devops.cubepaas.io/copied-from"] == f"team/{name}"
        # the logs were archived from there, with the copied credentials
        assert s3_server.client().stat_object(bucket, "team/web/1/build.log").size > 0  # one pod: per container
        # owned without a cross-namespace ownerReference
        (wf,) = system.kube.list("workflows", "ci", group="argoproj.io", version="v1alpha1")["items"]
        assert not wf["metadata"].get("ownerReferences")
        assert wf["metadata"]["annotations"]["devops.cubepaas.io/owner"] == "team/web-1"
        assert wf["metadata"]["annotations"]["devops.cubepaas.io/owner-uid"] == ex["metadata"]["uid"]
        scripts = core.read_namespaced_config_map("web-1-scripts", "ci")
        assert [o.kind for o in scripts.metadata.owner_references] == ["Workflow"]
        assert system.workflows() == []  # nothing in the pipeline namespace
        # the execution goes: the controller deletes what no garbage collector would
        system.kube.call(system.kube.custom.delete_namespaced_custom_object, "devops.cubepaas.io", "v1alpha1",
                         "team", "pipelineexecutions", "web-1")
        wait_for(lambda: system.kube.list("workflows", "ci", group="argoproj.io", version="v1alpha1")["items"] == [],
                 what="the Workflow in ci to be deleted")
        wait_for(lambda: _gone(core.read_namespaced_config_map, "web-1-scripts", "ci"))
    finally:
        system.close()


def test_a_workflow_left_behind_while_the_controller_was_down_is_deleted(double: KubeDouble) -> None:
    double.create_namespace("ci", {PROJECT: "team"})
    system = _system(double, "ci")
    try:
        system.start_controller()
        system.apply_pipeline("web", WITH_SECRET)
        runs.create_run(system.kube, "team", "web")
        system.wait_state("web-1", "Success")
        system.stop_controller()
        system.kube.call(system.kube.custom.delete_namespaced_custom_object, "devops.cubepaas.io", "v1alpha1",
                         "team", "pipelineexecutions", "web-1")
        system.start_controller()
        wait_for(lambda: system.kube.list("workflows", "ci", group="argoproj.io", version="v1alpha1")["items"] == [],
                 what="the orphaned Workflow to be deleted at start")
    finally:
        system.close()


def test_someone_elses_secret_of_the_same_name_is_kept(double: KubeDouble) -> None:
    double.create_namespace("ci", {PROJECT: "team"})
    system = _system(double, "ci")
    system.kube.call(system.kube.core.create_namespaced_secret, "ci",
                     {"metadata": {"name": "npm-token"}, "stringData": {"token": "theirs"}})
    try:
        system.start_controller()
        system.apply_pipeline("web", WITH_SECRET)
        runs.create_run(system.kube, "team", "web")
        system.wait_state("web-1", "Success")
        kept = system.kube.secret_data("ci", "npm-token")
        assert kept == {"token": "theirs"}
    finally:
        system.close()


@pytest.mark.parametrize(("labels", "reason"), [
    (None, "WorkflowNamespaceNotFound"),
    ({}, "WorkflowNamespaceNotInProject"),
    ({PROJECT: "other-team"}, "WorkflowNamespaceNotInProject"),
])
def test_a_workflow_namespace_outside_the_project_is_refused(double: KubeDouble, labels: dict[str, str] | None,
                                                             reason: str) -> None:
    if labels is not None:
        double.create_namespace("shared", labels)
    system = _system(double, "shared")
    try:
        system.start_controller()
        system.apply_pipeline("web", WITH_SECRET)
        runs.create_run(system.kube, "team", "web")
        ex = system.wait_state("web-1", "Failed")
        cond = next(c for c in ex["status"]["conditions"] if c["type"] == "Provisioned")
        assert cond["status"] == "False" and cond["reason"] == reason
        assert "spec.argo.namespace 'shared'" in cond["message"] and f"{PROJECT}=team" in cond["message"]
        if labels is not None:  # nothing of team's was put there
            assert system.kube.call(system.kube.core.list_namespaced_secret, "shared").items == []
            accounts = system.kube.call(system.kube.core.list_namespaced_service_account, "shared").items
            assert [a.metadata.name for a in accounts] == ["default"]  # only the one every namespace has
    finally:
        system.close()
