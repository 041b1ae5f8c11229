"""The API server double keeps the API conventions the controller relies on, tested through
the official client over HTTP."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, config, watch

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
