"""The double's authentication and RBAC answer as kube-apiserver does (tests/kube_double/auth.py),
through the official client over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, watch

from tests.kube_double.auth import Auth
from tests.kube_double.server import KubeDouble

G, V = "devops.cubepaas.io", "v1alpha1"
RBAC = "rbac.authorization.k8s.io"


@pytest.fixture
def double() -> Iterator[tuple[KubeDouble, Auth]]:
    with KubeDouble() as kube:
        auth = kube.enable_auth()
        for ns in ("team", "other"):
            kube.create_namespace(ns)
        auth.add_token("alice-token", "alice", ("devs",))
        yield kube, auth


def _api(kube: KubeDouble, token: str | None) -> client.ApiClient:
    cfg = client.Configuration(host=kube.url)
    if token is not None:
        cfg.api_key = {"authorization": f"Bearer {token}"}
    return client.ApiClient(cfg)


def _admin(kube: KubeDouble) -> client.ApiClient:
    return _api(kube, "t")


def _rbac(kube: KubeDouble) -> client.RbacAuthorizationV1Api:
    return client.RbacAuthorizationV1Api(_admin(kube))


def _role(kube: KubeDouble, ns: str, name: str, rules: list[dict[str, Any]]) -> None:
    _rbac(kube).create_namespaced_role(ns, {"metadata": {"name": name}, "rules": rules})


def _bind(kube: KubeDouble, ns: str, role_kind: str, role: str, subject: dict[str, str]) -> None:
    body = {"metadata": {"name": f"{role}-{subject['name']}"},
            "roleRef": {"apiGroup": RBAC, "kind": role_kind, "name": role},
            "subjects": [{"apiGroup": RBAC, **subject}]}
    if ns:
        _rbac(kube).create_namespaced_role_binding(ns, body)
    else:
        _rbac(kube).create_cluster_role_binding(body)


def _status(exc: client.ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(exc.body)
    return body


def _pe(name: str) -> dict[str, Any]:
    return {"apiVersion": f"{G}/{V}", "kind": "PipelineExecution", "metadata": {"name": name},
            "spec": {"pipelineName": "p"}}


def test_an_unknown_bearer_token_is_401_unauthorized(double: tuple[KubeDouble, Auth]) -> None:
    kube, _ = double
    with pytest.raises(client.ApiException) as err:
        client.CustomObjectsApi(_api(kube, "nope")).list_namespaced_custom_object(G, V, "team", "pipelines")
    assert err.value.status == 401
    assert _status(err.value) == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                  "message": "Unauthorized", "reason": "Unauthorized", "code": 401}


def test_no_credentials_is_system_anonymous_and_forbidden(double: tuple[KubeDouble, Auth]) -> None:
    kube, _ = double
    with pytest.raises(client.ApiException) as err:
        client.CustomObjectsApi(_api(kube, None)).list_namespaced_custom_object(G, V, "team", "pipelines")
    assert err.value.status == 403 and 'User "system:anonymous" cannot list' in _status(err.value)["message"]


def test_forbidden_status_names_user_verb_resource_and_namespace(double: tuple[KubeDouble, Auth]) -> None:
    kube, _ = double
    with pytest.raises(client.ApiException) as err:
        client.CustomObjectsApi(_api(kube, "alice-token")).get_namespaced_custom_object(
            G, V, "team", "pipelineexecutions", "web-1")
    status = _status(err.value)
    assert status["code"] == 403 and status["reason"] == "Forbidden"
    assert status["message"] == ('pipelineexecutions.devops.cubepaas.io "web-1" is forbidden: User "alice" cannot '
                                 'get resource "pipelineexecutions" in API group "devops.cubepaas.io" in the '
                                 'namespace "team"')
    assert status["details"] == {"group": G, "kind": "pipelineexecutions", "name": "web-1"}
    with pytest.raises(client.ApiException) as err:
        client.CoreV1Api(_api(kube, "alice-token")).list_namespace()
    assert _status(err.value)["message"] == ('namespaces is forbidden: User "alice" cannot list resource '
                                             '"namespaces" in API group "" at the cluster scope')


def test_a_rolebinding_grants_only_in_its_namespace(double: tuple[KubeDouble, Auth]) -> None:
    kube, _ = double
    _role(kube, "team", "runs", [{"apiGroups": [G], "resources": ["pipelineexecutions"],
                                  "verbs": ["get", "list", "create"]}])
    _bind(kube, "team", "Role", "runs", {"kind": "User", "name": "alice"})
    alice = client.CustomObjectsApi(_api(kube, "alice-token"))
    alice.create_namespaced_custom_object(G, V, "team", "pipelineexecutions", _pe("web-1"))
    assert alice.list_namespaced_custom_object(G, V, "team", "pipelineexecutions")["items"][0]["metadata"]["name"] \
        == "web-1"
    with pytest.raises(client.ApiException) as err:
        alice.list_namespaced_custom_object(G, V, "other", "pipelineexecutions")
    assert err.value.status == 403
    with pytest.raises(client.ApiException) as err:  # cluster-wide list needs a ClusterRoleBinding
        alice.list_cluster_custom_object(G, V, "pipelineexecutions")
    assert err.value.status == 403
    with pytest.raises(client.ApiException) as err:  # no patch verb
        alice.patch_namespaced_custom_object(G, V, "team", "pipelineexecutions", "web-1", {"spec": {}})
    assert err.value.status == 403


def test_groups_and_cluster_role_bindings_grant_everywhere(double: tuple[KubeDouble, Auth]) -> None:
    kube, _ = double
    _rbac(kube).create_cluster_role({"metadata": {"name": "reader"}, "rules": [
        {"apiGroups": [G], "resources": ["*"], "verbs": ["list"]}]})
    _bind(kube, "", "ClusterRole", "reader", {"kind": "Group", "name": "devs"})
    alice = client.CustomObjectsApi(_api(kube, "alice-token"))
    assert alice.list_namespaced_custom_object(G, V, "other", "pipelines")["items"] == []
    assert alice.list_cluster_custom_object(G, V, "pipelineexecutions")["items"] == []


def test_a_subresource_needs_its_own_rule(double: tuple[KubeDouble, Auth]) -> None:
    kube, _ = double
    client.CustomObjectsApi(_admin(kube)).create_namespaced_custom_object(G, V, "team", "pipelineexecutions",
                                                                          _pe("web-1"))
    _role(kube, "team", "runs", [{"apiGroups": [G], "resources": ["pipelineexecutions"], "verbs": ["get", "update"]}])
    _bind(kube, "team", "Role", "runs", {"kind": "User", "name": "alice"})
    alice = client.CustomObjectsApi(_api(kube, "alice-token"))
    obj = alice.get_namespaced_custom_object(G, V, "team", "pipelineexecutions", "web-1")
    with pytest.raises(client.ApiException) as err:
        alice.replace_namespaced_custom_object_status(G, V, "team", "pipelineexecutions", "web-1", obj)
    assert err.value.status == 403 and '"pipelineexecutions/status"' in _status(err.value)["message"]


def test_resource_names_restrict_get_and_a_single_name_watch(double: tuple[KubeDouble, Auth]) -> None:
    kube, _ = double
    admin = client.CustomObjectsApi(_admin(kube))
    for name in ("web-1", "web-2"):
        admin.create_namespaced_custom_object(G, V, "team", "pipelineexecutions", _pe(name))
    _role(kube, "team", "one", [{"apiGroups": [G], "resources": ["pipelineexecutions"], "resourceNames": ["web-1"],
                                 "verbs": ["get", "list", "watch"]}])
    _bind(kube, "team", "Role", "one", {"kind": "User", "name": "alice"})
    alice = client.CustomObjectsApi(_api(kube, "alice-token"))
    alice.get_namespaced_custom_object(G, V, "team", "pipelineexecutions", "web-1")
    with pytest.raises(client.ApiException):
        alice.get_namespaced_custom_object(G, V, "team", "pipelineexecutions", "web-2")
    with pytest.raises(client.ApiException):  # a list of everything names nothing: resourceNames do not match
        alice.list_namespaced_custom_object(G, V, "team", "pipelineexecutions")
    events = watch.Watch().stream(alice.list_namespaced_custom_object, G, V, "team", "pipelineexecutions",
                                  field_selector="metadata.name=web-1", timeout_seconds=1)
    assert [e["object"]["metadata"]["name"] for e in events] == ["web-1"]


def test_watch_is_its_own_verb(double: tuple[KubeDouble, Auth]) -> None:
    kube, _ = double
    _role(kube, "team", "lister", [{"apiGroups": [G], "resources": ["pipelines"], "verbs": ["list"]}])
    _bind(kube, "team", "Role", "lister", {"kind": "User", "name": "alice"})
    alice = client.CustomObjectsApi(_api(kube, "alice-token"))
    alice.list_namespaced_custom_object(G, V, "team", "pipelines")
    with pytest.raises(client.ApiException) as err:
        list(watch.Watch().stream(alice.list_namespaced_custom_object, G, V, "team", "pipelines", timeout_seconds=1))
    assert err.value.status == 403 and "cannot watch" in _status(err.value)["message"]


def test_an_aggregated_cluster_role_has_the_rules_its_selectors_pick(double: tuple[KubeDouble, Auth]) -> None:
    kube, _ = double
    _rbac(kube).create_cluster_role({
        "metadata": {"name": "pipelines-edit", "labels": {"rbac.authorization.k8s.io/aggregate-to-edit": "true"}},
        "rules": [{"apiGroups": [G], "resources": ["pipelines"], "verbs": ["get", "list"]}]})
    _bind(kube, "team", "ClusterRole", "edit", {"kind": "User", "name": "alice"})
    alice = _api(kube, "alice-token")
    assert client.CustomObjectsApi(alice).list_namespaced_custom_object(G, V, "team", "pipelines")["items"] == []
    client.CoreV1Api(alice).list_namespaced_secret("team")  # from the bootstrap system:aggregate-to-edit
    client.CoreV1Api(alice).list_namespaced_pod("team")  # system:aggregate-to-view, through `view` (in `edit`)
    with pytest.raises(client.ApiException):
        client.CoreV1Api(alice).list_namespaced_secret("other")


def test_a_self_subject_access_review_answers_for_the_caller(double: tuple[KubeDouble, Auth]) -> None:
    kube, _ = double
    _role(kube, "team", "runs", [{"apiGroups": [G], "resources": ["pipelineexecutions"], "verbs": ["patch"]}])
    _bind(kube, "team", "Role", "runs", {"kind": "User", "name": "alice"})
    authz = client.AuthorizationV1Api(_api(kube, "alice-token"))

    def may(verb: str, ns: str) -> bool:
        review = authz.create_self_subject_access_review({"spec": {"resourceAttributes": {
            "group": G, "resource": "pipelineexecutions", "verb": verb, "namespace": ns}}})
        return bool(review.status.allowed)

    assert may("patch", "team") and not may("patch", "other") and not may("delete", "team")
    with pytest.raises(client.ApiException) as err:
        authz.create_self_subject_access_review({"spec": {}})
    assert err.value.status == 422


def test_a_self_subject_review_returns_the_callers_user(double: tuple[KubeDouble, Auth]) -> None:
    kube, _ = double
    review = client.AuthenticationV1Api(_api(kube, "alice-token")).create_self_subject_review({})
    assert review.status.user_info.username == "alice"
    assert review.status.user_info.groups == ["devs", "system:authenticated"]
    with pytest.raises(client.ApiException) as err:
        client.AuthenticationV1Api(_api(kube, None)).create_self_subject_review({})
    assert err.value.status == 403  # anonymous is not system:authenticated: basic-user does not apply


def test_system_masters_may_do_anything(double: tuple[KubeDouble, Auth]) -> None:
    kube, auth = double
    client.CoreV1Api(_admin(kube)).list_namespace()
    assert auth.decisions[-1] == ("system:admin", "list", "", "namespaces", "", "", True)
