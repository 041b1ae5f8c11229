"""The simulator builds pods as Argo's controller does (tests/argo_pod.py): each behaviour the
trust rules rely on, named after Argo's."""

from __future__ import annotations

from typing import Any

from tests.argo_pod import TOKEN_PATH, workflow_pod_spec
from tests.kube_double.strategy import pod_volume_errors


def _wf(**spec: Any) -> dict[str, Any]:
    template = {"name": "s", "container": {"image": "alpine", "volumeMounts": [{"name": "work", "mountPath": "/w"}]},
                "initContainers": [{"name": "seed", "image": "alpine",
                                    "volumeMounts": [{"name": "seed", "mountPath": "/s", "readOnly": True}]}]}
    return {"metadata": {"name": "wf"}, "spec": {
        "templates": [template], "volumeClaimTemplates": [{"metadata": {"name": "work"}}],
        "volumes": [{"name": "seed", "hostPath": {"path": "/cache"}}, {"name": "unused", "emptyDir": {}}], **spec}}


SA = {("", "serviceaccounts", "team", "exec"): {"metadata": {"name": "exec"}}}


def test_the_executor_accounts_token_is_mounted_in_the_executor_containers_only() -> None:
    pod, error = workflow_pod_spec(_wf(serviceAccountName="run", automountServiceAccountToken=False,
                                       executor={"serviceAccountName": "exec"}), "s", "team", SA)
    assert error == ""
    assert pod["serviceAccountName"] == "run" and pod["automountServiceAccountToken"] is False
    token = {c["name"]: m["name"] for c in pod["initContainers"] + pod["containers"]
             for m in c["volumeMounts"] if m["mountPath"] == TOKEN_PATH}
    assert token == {"init": "exec-sa-token", "wait": "exec-sa-token"}
    assert {"name": "exec-sa-token", "secret": {"secretName": "exec.service-account-token"}} in pod["volumes"]


def test_automount_false_without_an_executor_account_is_refused() -> None:
    _, error = workflow_pod_spec(_wf(automountServiceAccountToken=False), "s", "team", {})
    assert error == "executor.serviceAccountName must not be empty if automountServiceAccountToken is false"


def test_an_executor_account_that_does_not_exist_fails_the_node() -> None:
    _, error = workflow_pod_spec(_wf(executor={"serviceAccountName": "exec"}), "s", "team", {})
    assert error == 'serviceaccounts "exec" not found'


def test_the_token_secret_is_the_one_the_account_names_first() -> None:
    objects = {("", "serviceaccounts", "team", "exec"): {"metadata": {"name": "exec"}, "secrets": [{"name": "t1"}]}}
    pod, _ = workflow_pod_spec(_wf(executor={"serviceAccountName": "exec"}), "s", "team", objects)
    assert {"name": "exec-sa-token", "secret": {"secretName": "t1"}} in pod["volumes"]


def test_only_the_volumes_the_containers_mount_reach_the_pod() -> None:
    pod, _ = workflow_pod_spec(_wf(), "s", "team", {})
    assert [v["name"] for v in pod["volumes"]] == ["var-run-argo", "work", "seed"]
    assert [c["name"] for c in pod["initContainers"]] == ["init", "seed"]
    wf = _wf()
    wf["spec"]["templates"][0]["container"]["volumeMounts"].append({"name": "nowhere", "mountPath": "/n"})
    assert workflow_pod_spec(wf, "s", "team", {})[1] == "volume 'nowhere' not found in workflow spec"


def test_a_container_sets_pod_has_its_own_volumes_and_only_the_workflow_volumes_of_the_sets_mounts() -> None:
    """workflowpod.go createVolumes + addVolumeReferences with Template.GetVolumeMounts: for a
    containerSet only the set-level `volumeMounts` (which every container gets) reach for the
    Workflow's volumes; a container's own mount of a Workflow volume leaves the pod without it."""
    own = {"name": "scripts", "configMap": {"name": "s"}}
    template = {"name": "pod", "volumes": [own], "containerSet": {
        "volumeMounts": [{"name": "shared", "mountPath": "/shared"}],
        "containers": [{"name": "a", "image": "alpine", "volumeMounts": [{"name": "scripts", "mountPath": "/s"}]},
                       {"name": "b", "image": "alpine", "dependencies": ["a"],
                        "volumeMounts": [{"name": "cache", "mountPath": "/c"}]}]}}
    wf = {"metadata": {"name": "wf"}, "spec": {"templates": [template], "volumes": [
        {"name": "shared", "emptyDir": {}}, {"name": "cache", "hostPath": {"path": "/cache"}}]}}
    pod, error = workflow_pod_spec(wf, "pod", "team", {})
    assert error == ""
    assert [c["name"] for c in pod["containers"]] == ["wait", "a", "b"]
    assert all("dependencies" not in c for c in pod["containers"])
    b = pod["containers"][2]
    assert [m["name"] for m in b["volumeMounts"]] == ["cache", "shared", "var-run-argo"]
    assert [v["name"] for v in pod["volumes"]] == ["var-run-argo", "scripts", "shared"]  # no `cache`
    assert [str(e) for e in pod_volume_errors(pod)] == ['spec.containers[2].volumeMounts[0].name: Not found: "cache"']
