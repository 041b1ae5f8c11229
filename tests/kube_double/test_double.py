"""The API server double keeps the API conventions the controller relies on, tested through
the official client over HTTP."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import urllib3
import yaml
from kubernetes import client, config, watch

from tests.helpers import shared_path
from tests.kube_double.crds import ARGO_MINIMAL
from tests.kube_double.server import KubeDouble

G, V = "devops.cubepaas.io", "v1alpha1"


@pytest.fixture
def kube() -> Iterator[KubeDouble]:
    with KubeDouble(history_size=50) as double:
        double.create_namespace("team", {"devops.cubepaas.io/project": "team"})
        yield double


@pytest.fixture
def api(kube: KubeDouble) -> client.ApiClient:
    return config.new_client_from_config(config_file=kube.kubeconfig)


def _pe(name: str = "", **meta: Any) -> dict[str, Any]:
    return {"apiVersion": f"{G}/{V}", "kind": "PipelineExecution",
            "metadata": {"name": name, **meta} if name else meta, "spec": {"pipelineName": "p"}}


def test_namespaces_are_served_and_objects_need_one(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    core.create_namespace({"metadata": {"name": "other"}})
    assert {n.metadata.name for n in core.list_namespace().items} == {"team", "other"}
    assert core.read_namespace("other").status.phase == "Active"
    with pytest.raises(client.ApiException) as err:
        core.create_namespaced_config_map("missing", {"metadata": {"name": "x"}})
    assert err.value.status == 404


def test_resource_versions_rise_and_stale_writes_conflict(api: client.ApiClient) -> None:
    co = client.CustomObjectsApi(api)
    a = co.create_namespaced_custom_object(G, V, "team", "pipelineexecutions", _pe("a"))
    b = co.create_namespaced_custom_object(G, V, "team", "pipelineexecutions", _pe("b"))
    assert int(b["metadata"]["resourceVersion"]) > int(a["metadata"]["resourceVersion"])
    a["spec"]["branch"] = "dev"
    updated = co.replace_namespaced_custom_object(G, V, "team", "pipelineexecutions", "a", a)
    assert updated["metadata"]["generation"] == 2
    with pytest.raises(client.ApiException) as err:
        co.replace_namespaced_custom_object(G, V, "team", "pipelineexecutions", "a", a)  # stale
    assert err.value.status == 409 and "modified" in err.value.body
    with pytest.raises(client.ApiException) as err:
        co.create_namespaced_custom_object(G, V, "team", "pipelineexecutions", _pe("a"))
    assert err.value.status == 409 and "AlreadyExists" in err.value.body
    no_op = co.patch_namespaced_custom_object(G, V, "team", "pipelineexecutions", "a", {"spec": {"branch": "dev"}})
    assert no_op["metadata"]["resourceVersion"] == updated["metadata"]["resourceVersion"]


def test_generate_name_and_invalid_names(api: client.ApiClient) -> None:
    co = client.CustomObjectsApi(api)
    made = {co.create_namespaced_custom_object(G, V, "team", "pipelineexecutions", _pe(generateName="run-"))
            ["metadata"]["name"] for _ in range(5)}
    assert len(made) == 5 and all(n.startswith("run-") and len(n) == 9 for n in made)
    with pytest.raises(client.ApiException) as err:
        co.create_namespaced_custom_object(G, V, "team", "pipelineexecutions", _pe("Not_Valid"))
    assert err.value.status == 422


def test_status_subresource_splits_spec_and_status(api: client.ApiClient) -> None:
    co = client.CustomObjectsApi(api)
    obj = co.create_namespaced_custom_object(G, V, "team", "pipelineexecutions",
                                             {**_pe("s"), "status": {"executionState": "Success"}})
    assert "status" not in obj
    obj["status"] = {"executionState": "Building"}
    obj["spec"]["branch"] = "ignored-on-status"
    after = co.replace_namespaced_custom_object_status(G, V, "team", "pipelineexecutions", "s", obj)
    assert after["status"] == {"executionState": "Building"} and "branch" not in after["spec"]
    after["status"] = {"executionState": "Failed"}
    main = co.replace_namespaced_custom_object(G, V, "team", "pipelineexecutions", "s", after)
    assert main["status"] == {"executionState": "Building"}


def test_label_and_field_selectors(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    for name, labels in (("a", {"app": "x", "tier": "web"}), ("b", {"app": "y"}), ("c", {})):
        core.create_namespaced_config_map("team", {"metadata": {"name": name, "labels": labels}})

    def names(**kw: str) -> list[str]:
        return sorted(c.metadata.name for c in core.list_namespaced_config_map("team", **kw).items)

    assert names(label_selector="app=x") == ["a"]
    assert names(label_selector="app!=x") == ["b", "c"]
    assert names(label_selector="app in (x,y)") == ["a", "b"]
    assert names(label_selector="app notin (x)") == ["b", "c"]
    assert names(label_selector="tier") == ["a"]
    assert names(label_selector="!app") == ["c"]
    assert names(label_selector="app,tier=web") == ["a"]
    assert names(field_selector="metadata.name=b") == ["b"]


def test_owner_references_are_garbage_collected(api: client.ApiClient) -> None:
    co, core = client.CustomObjectsApi(api), client.CoreV1Api(api)
    owner = co.create_namespaced_custom_object(G, V, "team", "pipelineexecutions", _pe("own"))
    ref = {"apiVersion": f"{G}/{V}", "kind": "PipelineExecution", "name": "own", "uid": owner["metadata"]["uid"]}
    core.create_namespaced_config_map("team", {"metadata": {"name": "child", "ownerReferences": [ref]}})
    core.create_namespaced_config_map("team", {"metadata": {"name": "kept", "ownerReferences": [ref]}})
    co.delete_namespaced_custom_object(G, V, "team", "pipelineexecutions", "own")
    assert [c.metadata.name for c in core.list_namespaced_config_map("team").items] == []
    owner = co.create_namespaced_custom_object(G, V, "team", "pipelineexecutions", _pe("own2"))
    ref["uid"], ref["name"] = owner["metadata"]["uid"], "own2"
    core.create_namespaced_config_map("team", {"metadata": {"name": "orphan", "ownerReferences": [ref]}})
    co.delete_namespaced_custom_object(G, V, "team", "pipelineexecutions", "own2",
                                       body=client.V1DeleteOptions(propagation_policy="Orphan"))
    assert [c.metadata.name for c in core.list_namespaced_config_map("team").items] == ["orphan"]


def test_deleting_a_namespace_deletes_its_objects(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map("team", {"metadata": {"name": "x"}})
    core.delete_namespace("team")
    assert core.list_config_map_for_all_namespaces().items == []


def test_watch_streams_resumes_and_answers_410_for_expired_versions(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    first = core.create_namespaced_config_map("team", {"metadata": {"name": "w0"}})
    start_rv = first.metadata.resource_version
    seen: list[tuple[str, str]] = []

    def consume() -> None:
        for ev in watch.Watch().stream(core.list_namespaced_config_map, "team", resource_version=start_rv,
                                       timeout_seconds=4):  # room for the three writes on a loaded machine
            seen.append((ev["type"], ev["object"].metadata.name))
            if ev["type"] == "DELETED":
                return

    t = threading.Thread(target=consume)
    t.start()
    time.sleep(0.3)
    core.create_namespaced_config_map("team", {"metadata": {"name": "w1"}})
    core.patch_namespaced_config_map("w1", "team", {"data": {"a": "b"}})
    core.delete_namespaced_config_map("w1", "team")
    t.join()
    assert seen == [("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")]
    # resume from the middle: only what came after
    events = list(watch.Watch().stream(core.list_namespaced_config_map, "team", timeout_seconds=1,
                                       resource_version=str(int(start_rv) + 1)))
    assert [e["type"] for e in events] == ["MODIFIED", "DELETED"]
    # push the history window past start_rv: 410 Gone
    for i in range(60):
        core.create_namespaced_config_map("team", {"metadata": {"name": f"f{i}"}})
    with pytest.raises(client.ApiException) as err:
        list(watch.Watch().stream(core.list_namespaced_config_map, "team", resource_version=start_rv,
                                  timeout_seconds=1))
    assert err.value.status == 410


def test_watch_without_version_lists_first_then_follows(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map("team", {"metadata": {"name": "pre", "labels": {"k": "v"}}})
    core.create_namespaced_config_map("team", {"metadata": {"name": "other"}})
    events = list(watch.Watch().stream(core.list_namespaced_config_map, "team", label_selector="k=v",
                                       timeout_seconds=1))
    assert [(e["type"], e["object"].metadata.name) for e in events] == [("ADDED", "pre")]


def test_injected_faults(kube: KubeDouble, api: client.ApiClient) -> None:
    kube.faults.rate = 1.0
    kube.faults.codes = (500,)
    with pytest.raises(client.ApiException) as err:
        client.CoreV1Api(api).list_namespace()
    assert err.value.status == 500 and kube.faults.injected == 1


def test_secret_string_data_is_folded_into_base64_data(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_secret("team", {"metadata": {"name": "s"}, "stringData": {"token": "t0k"},
                                           "data": {"user": "YWRtaW4="}})
    secret = core.read_namespaced_secret("s", "team")
    assert secret.data == {"user": "YWRtaW4=", "token": "dDBr"} and not secret.string_data
    core.patch_namespaced_secret("s", "team", {"stringData": {"token": "new"}})
    assert core.read_namespaced_secret("s", "team").data["token"] == "bmV3"


# ---------------------------------------------------------------------------- the write path, as the real server


def _raw(kube: KubeDouble, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any], list[str]]:
    """A request as any client sends it: (code, JSON answer, Warning headers)."""
    http = urllib3.PoolManager()
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/merge-patch+json" if method == "PATCH" else "application/json"}
    resp = http.request(method, kube.url + path, body=data, headers=headers)
    return resp.status, json.loads(resp.data or b"{}"), resp.headers.getlist("Warning")


PE_PATH = f"/apis/{G}/{V}/namespaces/team/pipelineexecutions"


def test_unknown_fields_are_pruned_and_reported_as_warnings(kube: KubeDouble) -> None:
    # apiextensions-apiserver schema/pruning; unknown metadata fields dropped by objectmeta coercion
    body = {**_pe("p"), "spec": {"pipelineName": "p", "branhc": "dev", "reusedSteps": [{"stage": 1, "step": 0,
                                                                                       "fromRun": 1, "x": 2}]},
            "extra": True}
    body["metadata"]["nickname"] = "nope"
    code, obj, warnings = _raw(kube, "POST", PE_PATH, body)
    assert code == 201
    assert obj["spec"] == {"pipelineName": "p", "reusedSteps": [{"stage": 1, "step": 0, "fromRun": 1}]}
    assert "extra" not in obj and "nickname" not in obj["metadata"]
    assert warnings == ['299 - "unknown field \\"extra\\""', '299 - "unknown field \\"metadata.nickname\\""',
                        '299 - "unknown field \\"spec.branhc\\""',
                        '299 - "unknown field \\"spec.reusedSteps[0].x\\""']
    code, obj, warnings = _raw(kube, "PATCH", f"{PE_PATH}/p", {"spec": {"branch": "dev", "brnach": "dev"}})
    assert code == 200 and obj["spec"]["branch"] == "dev" and "brnach" not in obj["spec"]  # patches too
    assert warnings == ['299 - "unknown field \\"spec.brnach\\""']
    code, obj, _ = _raw(kube, "PATCH", f"{PE_PATH}/p", {"spec": {"run": "three"}})
    assert code == 422 and obj["details"]["causes"][0]["field"] == "spec.run"


def test_strict_field_validation_refuses_unknown_fields(kube: KubeDouble) -> None:
    code, obj, _ = _raw(kube, "POST", PE_PATH + "?fieldValidation=Strict",
                        {**_pe("p"), "spec": {"pipelineName": "p", "branhc": "dev"}})
    assert code == 400 and obj["reason"] == "BadRequest"
    assert obj["message"] == 'strict decoding error: unknown field "spec.branhc"'


def test_preserve_unknown_fields_keeps_a_subtree_whole(kube: KubeDouble) -> None:
    """`Pipeline.spec.config` is the user's file: neither pruned nor typed."""
    config = {"stages": [{"name": "b", "steps": [{"runScriptConfig": {"image": "a"}, "env": {"N": 10},
                                                  "misplaced": True}]}], "anything": [1, "two"]}
    code, obj, warnings = _raw(kube, "POST", f"/apis/{G}/{V}/namespaces/team/pipelines", {
        "apiVersion": f"{G}/{V}", "kind": "Pipeline", "metadata": {"name": "web"},
        "spec": {"repositoryUrl": "https://git.example.com/web.git", "config": config}})
    assert code == 201 and obj["spec"]["config"] == config and warnings == []


def test_schema_violations_answer_422_with_one_cause_per_field(kube: KubeDouble) -> None:
    # apiextensions-apiserver validation.go kubeOpenAPIResultToFieldErrors; apimachinery errors.go NewInvalid
    code, obj, _ = _raw(kube, "POST", PE_PATH, {**_pe("x"), "spec": {"run": "3", "event": "merge", "reusedSteps": [
        {"stage": -1}]}})
    assert code == 422
    assert obj == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "reason": "Invalid", "code": 422,
        "message": 'PipelineExecution.devops.cubepaas.io "x" is invalid: [spec.run: Invalid value: "string": '
                   'spec.run in body must be of type integer: "string", spec.event: Unsupported value: "merge": '
                   'supported values: "push", "pull_request", "tag", spec.reusedSteps[0].step: Required value, '
                   'spec.reusedSteps[0].fromRun: Required value, spec.pipelineName: Required value]',
        "details": {"name": "x", "group": G, "kind": "PipelineExecution", "causes": [
            {"reason": "FieldValueTypeInvalid", "field": "spec.run",
             "message": 'Invalid value: "string": spec.run in body must be of type integer: "string"'},
            {"reason": "FieldValueNotSupported", "field": "spec.event",
             "message": 'Unsupported value: "merge": supported values: "push", "pull_request", "tag"'},
            {"reason": "FieldValueRequired", "field": "spec.reusedSteps[0].step", "message": "Required value"},
            {"reason": "FieldValueRequired", "field": "spec.reusedSteps[0].fromRun", "message": "Required value"},
            {"reason": "FieldValueRequired", "field": "spec.pipelineName", "message": "Required value"}]}}
    code, obj, _ = _raw(kube, "POST", f"/apis/{G}/{V}/namespaces/team/pipelinesettings", {
        "apiVersion": f"{G}/{V}", "kind": "PipelineSetting", "metadata": {"name": "s"},
        "spec": {"executorQuota": 0, "cache": {"maxNodes": 101}}})
    assert code == 422 and [c["message"] for c in obj["details"]["causes"]] == [
        "Invalid value: 0: spec.executorQuota in body should be greater than or equal to 1",
        "Invalid value: 101: spec.cache.maxNodes in body should be less than or equal to 100"]


TOY_CRD = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "spec": {
    "group": "toys.example.com", "scope": "Namespaced", "names": {"kind": "Toy", "plural": "toys"},
    "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
        "type": "object", "properties": {"spec": {"type": "object", "required": ["name"], "properties": {
            "name": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 5},
            "port": {"x-kubernetes-int-or-string": True},
            "color": {"type": "string", "default": "red"},
            "size": {"type": "integer", "nullable": True},
            "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                      "items": {"type": "object", "properties": {"name": {"type": "string"}}}},
            "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
        }}}}}}]}}
TOYS = "/apis/toys.example.com/v1/namespaces/team/toys"


def _toy(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "toys.example.com/v1", "kind": "Toy", "metadata": {"name": "t"}, "spec": spec}


def test_patterns_lengths_int_or_string_and_list_types_follow_kube_openapi(kube: KubeDouble) -> None:
    kube.store.register_crd(TOY_CRD)
    code, obj, _ = _raw(kube, "POST", TOYS, _toy(name="Toolong", port=True, ports=[{"name": "a"}, {"name": "a"}],
                                                 tags=["x", "x"]))
    assert code == 422 and [(c["field"], c["message"]) for c in obj["details"]["causes"]] == [
        ("spec.name", "Too long: may not be more than 5 bytes"),
        ("spec.name", "Invalid value: \"Toolong\": spec.name in body should match '^[a-z]+$'"),
        ("spec.port", 'Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean"'),
        ("spec.ports[1]", 'Duplicate value: {"name":"a"}'),
        ("spec.tags[1]", 'Duplicate value: "x"')]
    for port in (8080, "http"):
        code, obj, _ = _raw(kube, "POST", TOYS, {**_toy(name="ok", port=port), "metadata": {"generateName": "t-"}})
        assert code == 201 and obj["spec"]["port"] == port


def test_defaults_fill_missing_fields_and_nulls_of_non_nullable_fields_are_dropped(kube: KubeDouble) -> None:
    # defaulting/algorithm.go Default; defaulting/prunenulls.go PruneNonNullableNullsWithoutDefaults
    kube.store.register_crd(TOY_CRD)
    code, obj, _ = _raw(kube, "POST", TOYS, _toy(name="ok", color=None, size=None, tags=None))
    assert code == 201 and obj["spec"] == {"name": "ok", "color": "red", "size": None}


def test_custom_resources_need_their_kind(kube: KubeDouble) -> None:
    # apimachinery unstructured Decode: NewMissingKindErr; validator.go ValidateTypeMeta
    code, obj, _ = _raw(kube, "POST", PE_PATH, {"metadata": {"name": "k"}, "spec": {"pipelineName": "p"}})
    assert code == 400 and obj["message"].startswith("Object 'Kind' is missing in '{")
    code, obj, _ = _raw(kube, "POST", PE_PATH, {**_pe("k"), "kind": "Pipeline"})
    assert code == 422 and obj["details"]["causes"][0] == {"reason": "FieldValueInvalid", "field": "kind",
                                                           "message": 'Invalid value: "Pipeline": must be '
                                                                      "PipelineExecution"}


def test_label_keys_and_values_are_qualified_names_and_label_values(api: client.ApiClient) -> None:
    # meta/v1/validation ValidateLabels: IsQualifiedName(key), IsValidLabelValue(value)
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map("team", {"metadata": {"name": "ok", "labels": {
        "example.com/a_b.c-d": "x" * 63, "plain": ""}}})
    with pytest.raises(client.ApiException) as err:
        core.create_namespaced_config_map("team", {"metadata": {"name": "bad", "labels": {
            "devops.cubepaas.io/pipeline": "p" * 64, "-x": "ok", "a/b/c": "v", "k": "not valid"}}})
    causes = [c["message"] for c in json.loads(err.value.body)["details"]["causes"]]
    assert 'Invalid value: "' + "p" * 64 + '": must be no more than 63 characters' in causes
    assert ("Invalid value: \"-x\": name part must consist of alphanumeric characters, '-', '_' or '.', and must "
            "start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used "
            "for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')") in causes
    assert any(c.startswith('Invalid value: "a/b/c": a qualified name must consist of') for c in causes)
    assert any(c.startswith('Invalid value: "not valid": a valid label must be an empty string') for c in causes)


def test_annotations_total_at_most_256_kib(api: client.ApiClient) -> None:
    # apimachinery objectmeta.go ValidateAnnotationsSize: keys and values together
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map("team", {"metadata": {"name": "ok", "annotations": {"a": "x" * (262144 - 1)}}})
    with pytest.raises(client.ApiException) as err:
        core.create_namespaced_config_map("team", {"metadata": {"name": "big", "annotations": {"a": "x" * 262144}}})
    assert err.value.status == 422
    assert json.loads(err.value.body)["message"] == \
        'ConfigMap "big" is invalid: metadata.annotations: Too long: may not be more than 262144 bytes'


def test_names_follow_the_rule_of_their_kind(api: client.ApiClient) -> None:
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    core.create_namespaced_config_map("team", {"metadata": {"name": "a.b-c"}})  # DNS subdomain
    rbac.create_namespaced_role("team", {"metadata": {"name": "Role:With_Anything"}, "rules": []})  # path segment
    for create, name in ((core.create_namespace, "a.b"),  # namespaces are DNS labels
                         (lambda b: core.create_namespaced_service("team", b), "1abc"),  # services DNS-1035
                         (lambda b: core.create_namespaced_config_map("team", b), "A"),
                         (lambda b: core.create_namespaced_config_map("team", b), "x" * 254)):
        with pytest.raises(client.ApiException) as err:
            create({"metadata": {"name": name}})
        assert err.value.status == 422 and json.loads(err.value.body)["details"]["causes"][0]["field"] == \
            "metadata.name", name


def test_objects_beyond_the_size_limits_are_refused(kube: KubeDouble, api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    with pytest.raises(client.ApiException) as err:  # core/validation ValidateConfigMap: 1 MiB of data
        core.create_namespaced_config_map("team", {"metadata": {"name": "m"}, "data": {"k": "x" * ((1 << 20) + 1)}})
    assert err.value.status == 422 and "Too long: may not be more than 1048576 bytes" in err.value.body
    big = {**_pe("big"), "spec": {"pipelineName": "p", "message": "x" * (1600 * 1024)}}
    code, obj, _ = _raw(kube, "POST", PE_PATH, big)  # etcd's 1.5 MiB request limit
    assert (code, obj["message"], obj["reason"]) == (500, "etcdserver: request is too large", "")
    code, obj, _ = _raw(kube, "POST", PE_PATH, {**big, "spec": {"message": "x" * (3 << 20)}})
    assert (code, obj["reason"]) == (413, "RequestEntityTooLarge")  # apiserver MaxRequestBodyBytes, 3 MiB


def test_creating_in_a_missing_namespace_is_404_from_namespace_lifecycle(kube: KubeDouble) -> None:
    code, obj, _ = _raw(kube, "POST", PE_PATH.replace("/team/", "/nowhere/"), _pe("x"))
    assert code == 404 and obj["message"] == 'namespaces "nowhere" not found'
    assert obj["details"] == {"name": "nowhere", "kind": "namespaces"}


def test_conflict_and_not_found_name_the_qualified_resource(kube: KubeDouble, api: client.ApiClient) -> None:
    # apimachinery errors.go NewConflict / NewNotFound / NewAlreadyExists
    co = client.CustomObjectsApi(api)
    made = co.create_namespaced_custom_object(G, V, "team", "pipelineexecutions", _pe("a"))
    co.patch_namespaced_custom_object(G, V, "team", "pipelineexecutions", "a", {"spec": {"branch": "x"}})
    code, obj, _ = _raw(kube, "PUT", f"{PE_PATH}/a", made)
    assert code == 409 and obj["message"] == (
        'Operation cannot be fulfilled on pipelineexecutions.devops.cubepaas.io "a": the object has been modified; '
        "please apply your changes to the latest version and try again")
    assert obj["details"] == {"name": "a", "group": G, "kind": "pipelineexecutions"}
    code, obj, _ = _raw(kube, "GET", "/api/v1/namespaces/team/configmaps/none")
    assert (code, obj["message"], obj["details"]) == (404, 'configmaps "none" not found',
                                                      {"name": "none", "kind": "configmaps"})
    code, obj, _ = _raw(kube, "POST", PE_PATH, _pe("a"))
    assert (code, obj["reason"], obj["message"]) == (409, "AlreadyExists",
                                                     'pipelineexecutions.devops.cubepaas.io "a" already exists')


def test_updates_of_custom_resources_need_a_resource_version(kube: KubeDouble, api: client.ApiClient) -> None:
    co, core = client.CustomObjectsApi(api), client.CoreV1Api(api)
    co.create_namespaced_custom_object(G, V, "team", "pipelineexecutions", _pe("a"))
    code, obj, _ = _raw(kube, "PUT", f"{PE_PATH}/a", _pe("a"))  # customresource AllowUnconditionalUpdate: false
    assert code == 422 and obj["details"]["causes"][0]["message"] == "Invalid value: 0: must be specified for an update"
    code, obj, _ = _raw(kube, "PUT", f"{PE_PATH}/b", _pe("a"))  # handlers/update.go checkName
    assert code == 400 and obj["message"] == "the name of the object (a) does not match the name on the URL (b)"
    core.create_namespaced_config_map("team", {"metadata": {"name": "c"}})
    replaced = core.replace_namespaced_config_map("c", "team", {"metadata": {"name": "c"}, "data": {"k": "v"}})
    assert replaced.data == {"k": "v"}  # most built-ins allow an unconditional update


def test_status_subresource_ignores_all_but_status_and_validates_it(api: client.ApiClient) -> None:
    # customresource status_strategy.go PrepareForUpdate; validator.go ValidateStatusUpdate
    co = client.CustomObjectsApi(api)
    obj = co.create_namespaced_custom_object(G, V, "team", "pipelineexecutions", _pe("s"))
    obj["metadata"]["labels"] = {"changed": "yes"}
    obj["status"] = {"executionState": "Building"}
    after = co.replace_namespaced_custom_object_status(G, V, "team", "pipelineexecutions", "s", obj)
    assert "labels" not in after["metadata"] and after["metadata"]["generation"] == 1
    after["status"] = {"executionState": "Sleeping", "stages": "none"}
    with pytest.raises(client.ApiException) as err:
        co.replace_namespaced_custom_object_status(G, V, "team", "pipelineexecutions", "s", after)
    assert [c["field"] for c in json.loads(err.value.body)["details"]["causes"]] == [
        "status.executionState", "status.stages"]
    with pytest.raises(client.ApiException) as err:
        co.replace_namespaced_custom_object_status(G, V, "team", "workflows", "s", after)
    assert err.value.status == 404


def test_a_json_patch_on_a_missing_path_is_refused(kube: KubeDouble, api: client.ApiClient) -> None:
    co = client.CustomObjectsApi(api)
    co.create_namespaced_custom_object(G, V, "team", "pipelineexecutions", _pe("j"))
    with pytest.raises(client.ApiException) as err:
        co.patch_namespaced_custom_object(G, V, "team", "pipelineexecutions", "j",
                                          [{"op": "replace", "path": "/spec/commit", "value": "x"}],
                                          _content_type="application/json-patch+json")
    assert err.value.status == 422 and "rejected our request" in err.value.body
    done = co.patch_namespaced_custom_object(G, V, "team", "pipelineexecutions", "j",
                                             [{"op": "add", "path": "/spec/commit", "value": "abc"}],
                                             _content_type="application/json-patch+json")
    assert done["spec"]["commit"] == "abc"


def test_owner_references_are_validated(api: client.ApiClient) -> None:
    # apimachinery objectmeta.go ValidateOwnerReferences
    core = client.CoreV1Api(api)
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": "", "controller": True}
    with pytest.raises(client.ApiException) as err:
        core.create_namespaced_config_map("team", {"metadata": {"name": "d", "ownerReferences": [
            ref, {**ref, "name": "p", "uid": "u"}]}})
    messages = [f'{c["field"]}: {c["message"]}' for c in json.loads(err.value.body)["details"]["causes"]]
    assert 'metadata.ownerReferences.uid: Invalid value: "": must not be empty' in messages
    assert any("Only one reference can have Controller set to true" in m for m in messages)


def test_an_owner_in_another_namespace_is_absent_and_its_dependent_collected(api: client.ApiClient) -> None:
    """garbagecollector.go isDangling: a namespaced owner is looked up in the dependent's own
    namespace; an owner elsewhere is absent (event OwnerRefInvalidNamespace), so a dependent
    with no other owner is deleted."""
    co, core = client.CustomObjectsApi(api), client.CoreV1Api(api)
    core.create_namespace({"metadata": {"name": "argo"}})
    owner = co.create_namespaced_custom_object(G, V, "team", "pipelineexecutions", _pe("own"))
    ref = {"apiVersion": f"{G}/{V}", "kind": "PipelineExecution", "name": "own", "uid": owner["metadata"]["uid"],
           "blockOwnerDeletion": True, "controller": True}
    made = core.create_namespaced_config_map("argo", {"metadata": {"name": "elsewhere", "ownerReferences": [ref]}})
    assert made.metadata.name == "elsewhere"  # accepted by the API server, then collected
    assert core.list_namespaced_config_map("argo").items == []
    event = core.list_namespaced_event("argo").items[0]
    assert (event.reason, event.type, event.involved_object.name) == ("OwnerRefInvalidNamespace", "Warning",
                                                                       "elsewhere")
    core.create_namespaced_config_map("team", {"metadata": {"name": "here", "ownerReferences": [ref]}})
    stale = {**ref, "uid": "another-uid"}  # the same name, another object: absent too
    core.create_namespaced_config_map("team", {"metadata": {"name": "stale", "ownerReferences": [stale]}})
    both = core.create_namespaced_config_map("team", {"metadata": {"name": "both", "ownerReferences": [
        {**stale, "controller": False}, ref]}})
    assert both.metadata.name == "both"
    left = {c.metadata.name: c for c in core.list_namespaced_config_map("team").items}
    assert set(left) == {"here", "both"}
    assert [r.uid for r in left["both"].metadata.owner_references] == [owner["metadata"]["uid"]]


def _strip_descriptions(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip_descriptions(v) for k, v in node.items() if k != "description"}
    return [_strip_descriptions(v) for v in node] if isinstance(node, list) else node


def test_workflows_are_served_with_the_crd_their_argo_install_has() -> None:
    """Argo v4.0+ installs its full Workflow CRD (typed: unknown fields pruned, types and list-map
    keys checked, a duplicate mountPath refused at create); v3.6/3.7 the minimal one (spec kept
    whole: Argo's controller is the judge). The double's copy of the minimal one is Argo's."""
    minimal = yaml.safe_load(shared_path("argo", "argoproj.io_workflows.crd.yaml").read_text())
    theirs = minimal["spec"]["versions"][0]
    ours = ARGO_MINIMAL["spec"]["versions"][0]
    assert _strip_descriptions(theirs["schema"]) == ours["schema"] and theirs["subresources"] == ours["subresources"]
    mounts = [{"name": "a", "mountPath": "/w"}, {"name": "b", "mountPath": "/w"}]
    container = {"image": "alpine", "volumeMounts": mounts}
    workflow = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "w"},
                "spec": {"entrypoint": "main", "notAField": 1, "templates": [{"name": "main", "container": {
                    "image": "alpine"}}]}}
    path = "/apis/argoproj.io/v1alpha1/namespaces/team/workflows"
    for version, full in (("v4.1", True), ("v4.0", True), ("v3.7", False), ("v3.6", False)):
        with KubeDouble(argo_crd=version) as kube:
            kube.create_namespace("team")
            code, obj, warnings = _raw(kube, "POST", path, workflow)
            assert code == 201 and ("notAField" in obj["spec"]) is not full, version
            assert warnings == (['299 - "unknown field \\"spec.notAField\\""'] if full else []), version
            for name, spec in (("v", {"templates": "nope"}),
                               ("m", {"templates": [{"name": "main", "container": container}]})):
                code, obj, _ = _raw(kube, "POST", path, {**workflow, "metadata": {"name": name}, "spec": spec})
                assert code == (422 if full else 201), (version, name, obj)


def test_a_pod_whose_container_mounts_a_volume_it_lacks_is_invalid(kube: KubeDouble) -> None:
    """kubernetes pkg/apis/core/validation ValidateVolumeMounts: a mount names one of the pod's volumes."""
    mount = {"name": "workspace", "mountPath": "/workspace"}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {
        "initContainers": [{"name": "seed", "image": "alpine", "volumeMounts": [{"name": "seed", "mountPath": "/s"}]}],
        "containers": [{"name": "wait", "image": "argoexec"}, {"name": "build", "image": "alpine",
                                                              "volumeMounts": [mount]}]}}
    code, obj, _ = _raw(kube, "POST", "/api/v1/namespaces/team/pods", pod)
    assert code == 422 and obj["reason"] == "Invalid"
    assert obj["message"] == ('Pod "p" is invalid: [spec.initContainers[0].volumeMounts[0].name: Not found: "seed", '
                              'spec.containers[1].volumeMounts[0].name: Not found: "workspace"]')
    pod["spec"]["volumes"] = [{"name": "workspace", "emptyDir": {}}, {"name": "seed", "emptyDir": {}}]
    assert _raw(kube, "POST", "/api/v1/namespaces/team/pods", pod)[0] == 201
