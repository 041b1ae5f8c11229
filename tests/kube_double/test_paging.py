"""The double's chunked lists behave as the API server's (paging.py cites the code they follow)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
from kubernetes import client, config

from tests.kube_double.server import KubeDouble

G, V = "devops.cubepaas.io", "v1alpha1"


@pytest.fixture
def kube() -> Iterator[KubeDouble]:
    with KubeDouble(history_size=20) as double:
        double.create_namespace("team")
        yield double


def _api(kube: KubeDouble) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(config.new_client_from_config(config_file=kube.kubeconfig))


def _make(co: client.CustomObjectsApi, names: list[str], labels: dict[str, str] | None = None) -> None:
    for name in names:
        co.create_namespaced_custom_object(G, V, "team", "pipelines", {
            "apiVersion": f"{G}/{V}", "kind": "Pipeline", "metadata": {"name": name, "labels": labels or {}},
            "spec": {"repositoryUrl": "https://git.example.com/x.git"}})


def _list(co: client.CustomObjectsApi, **kw: object) -> dict[str, object]:
    found: dict[str, object] = co.list_namespaced_custom_object(G, V, "team", "pipelines", **kw)
    return found


def test_a_chunked_list_is_one_consistent_snapshot(kube: KubeDouble) -> None:
    co = _api(kube)
    _make(co, [f"p{i}" for i in range(7)])
    first = _list(co, limit=3)
    meta = first["metadata"]
    assert [i["metadata"]["name"] for i in first["items"]] == ["p0", "p1", "p2"]  # type: ignore[index]
    assert meta["remainingItemCount"] == 4 and meta["continue"]  # type: ignore[index]
    token = json.loads(base64.urlsafe_b64decode(meta["continue"] + "=="))  # type: ignore[index,operator]
    assert token["v"] == "meta.k8s.io/v1" and token["rv"] == int(meta["resourceVersion"])  # type: ignore[index]
    # the world moves on between chunks: the rest of the list does not
    co.delete_namespaced_custom_object(G, V, "team", "pipelines", "p5")
    _make(co, ["p9"])
    second = _list(co, limit=3, _continue=meta["continue"])  # type: ignore[index]
    third = _list(co, limit=3, _continue=second["metadata"]["continue"])  # type: ignore[index]
    assert [i["metadata"]["name"] for i in second["items"]] == ["p3", "p4", "p5"]  # type: ignore[index]
    assert [i["metadata"]["name"] for i in third["items"]] == ["p6"]  # type: ignore[index]
    assert "continue" not in third["metadata"]  # type: ignore[operator]
    assert second["metadata"]["resourceVersion"] == meta["resourceVersion"]  # type: ignore[index]


def test_limit_counts_matching_items_and_the_remaining_count_only_without_a_selector(kube: KubeDouble) -> None:
    co = _api(kube)
    _make(co, ["a0", "a1", "a2"], {"tier": "x"})
    _make(co, ["b0", "b1"])
    page = _list(co, limit=2, label_selector="tier=x")
    assert [i["metadata"]["name"] for i in page["items"]] == ["a0", "a1"]  # type: ignore[index]
    assert "remainingItemCount" not in page["metadata"]  # type: ignore[operator]
    rest = _list(co, limit=2, label_selector="tier=x", _continue=page["metadata"]["continue"])  # type: ignore[index]
    assert [i["metadata"]["name"] for i in rest["items"]] == ["a2"]  # type: ignore[index]


def test_an_expired_continue_token_is_410_with_a_token_to_go_on(kube: KubeDouble) -> None:
    co = _api(kube)
    _make(co, [f"p{i}" for i in range(4)])
    first = _list(co, limit=2)
    _make(co, [f"q{i}" for i in range(30)])  # the revision of the first chunk leaves the history kept
    with pytest.raises(client.ApiException) as err:
        _list(co, limit=2, _continue=first["metadata"]["continue"])  # type: ignore[index]
    assert err.value.status == 410
    status = json.loads(err.value.body)
    assert status["reason"] == "Expired" and "too old to display a consistent list" in status["message"]
    onward = _list(co, limit=2, _continue=status["metadata"]["continue"])  # inconsistent, from the same key
    assert [i["metadata"]["name"] for i in onward["items"]] == ["p2", "p3"]  # type: ignore[index]


def test_a_malformed_continue_token_is_400(kube: KubeDouble) -> None:
    with pytest.raises(client.ApiException) as err:
        _list(_api(kube), limit=2, _continue="not-a-token")
    assert err.value.status == 400
