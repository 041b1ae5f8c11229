"""Label selectors as the API server evaluates them (apimachinery pkg/labels/selector.go), for
list and watch, and a selected watch seeing labels change into and out of its selector
(apiserver cacher/cache_watcher.go), tested through the official client over HTTP."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from kubernetes import client, config, watch

from tests.kube_double.errors import ApiError
from tests.kube_double.selectors import label_matcher
from tests.kube_double.server import KubeDouble

LABELS = [{}, {"env": "prod"}, {"env": "dev"}, {"env": ""}, {"env": "prod", "tier": "web"}, {"tier": "7"}]


def _matching(text: str) -> list[int]:
    match = label_matcher(text)
    return [i for i, labels in enumerate(LABELS) if match(labels)]


@pytest.mark.parametrize(("text", "expected"), [
    ("", [0, 1, 2, 3, 4, 5]),
    ("env", [1, 2, 3, 4]),
    ("!env", [0, 5]),
    ("env=prod", [1, 4]), ("env==prod", [1, 4]),
    ("env!=prod", [0, 2, 3, 5]),  # an absent key matches !=
    ("env in (prod,dev)", [1, 2, 4]),  # in needs the key
    ("env notin (prod)", [0, 2, 3, 5]),  # notin matches where the key is absent
    ("env in ()", [3]), ("env=", [3]),  # () and an empty value are the empty value
    ("env in (prod), tier", [4]),
    ("env, !tier", [1, 2, 3]),
    ("tier>5", [5]), ("tier<5", []), ("tier<8", [5]),  # integers; "web" is not one and never matches
    ("env in(prod,dev),env notin (dev)", [1, 4]),
])
def test_requirements_match_as_selector_go_does(text: str, expected: list[int]) -> None:
    assert _matching(text) == expected


@pytest.mark.parametrize("text", [
    "env in prod", "env in (prod", "!env=prod", "env,", ",env", "env notin", "tier>x", "-bad=1",
    "a/b/c", "env=in valid", "env=(x)", "env in (a b)",
])
def test_unparseable_selectors_are_refused(text: str) -> None:
    with pytest.raises(ApiError) as err:
        label_matcher(text)
    assert err.value.code == 400


@pytest.fixture
def kube() -> Iterator[KubeDouble]:
    with KubeDouble(history_size=50) as double:
        double.create_namespace("team")
        yield double


@pytest.fixture
def core(kube: KubeDouble) -> client.CoreV1Api:
    return client.CoreV1Api(config.new_client_from_config(config_file=kube.kubeconfig))


def test_a_list_with_a_set_selector_returns_only_matching_objects(core: client.CoreV1Api) -> None:
    for name, labels in (("a", {"b": "1"}), ("b", {"b": "2"}), ("c", {})):
        core.create_namespaced_config_map("team", {"metadata": {"name": name, "labels": labels}})
    names = lambda sel: [c.metadata.name for c in core.list_namespaced_config_map("team", label_selector=sel).items]  # noqa: E731
    assert names("b in (1,3)") == ["a"]
    assert names("!b") == ["c"]
    assert names("b notin (1)") == ["b", "c"]
    with pytest.raises(client.ApiException) as err:
        core.list_namespaced_config_map("team", label_selector="b in (1")
    assert err.value.status == 400


def test_a_selected_watch_sees_labels_change_into_and_out_of_its_selector(core: client.CoreV1Api) -> None:
    start = core.create_namespaced_config_map("team", {"metadata": {"name": "m", "labels": {"b": "9"}}})
    seen: list[tuple[str, str, dict[str, str]]] = []

    def consume() -> None:
        for ev in watch.Watch().stream(core.list_namespaced_config_map, "team", label_selector="b in (1,2)",
                                       resource_version=start.metadata.resource_version, timeout_seconds=4):
            seen.append((ev["type"], ev["object"].metadata.resource_version, ev["object"].metadata.labels or {}))
            if len(seen) == 3:
                return

    t = threading.Thread(target=consume)
    t.start()
    time.sleep(0.3)
    into = core.patch_namespaced_config_map("m", "team", {"metadata": {"labels": {"b": "1"}}})
    within = core.patch_namespaced_config_map("m", "team", {"metadata": {"labels": {"b": "2"}}})
    core.patch_namespaced_config_map("m", "team", {"data": {"quiet": "x"}, "metadata": {"labels": {"b": "8"}}})
    out = core.read_namespaced_config_map("m", "team")
    t.join()
    assert seen == [
        ("ADDED", into.metadata.resource_version, {"b": "1"}),  # changed into the selector
        ("MODIFIED", within.metadata.resource_version, {"b": "2"}),
        ("DELETED", out.metadata.resource_version, {"b": "2"}),  # out of it: the old object, at the event's version
    ]


def test_a_change_outside_the_selector_is_not_sent(core: client.CoreV1Api) -> None:
    start = core.create_namespaced_config_map("team", {"metadata": {"name": "x", "labels": {"b": "9"}}})
    core.patch_namespaced_config_map("x", "team", {"data": {"a": "1"}})
    core.delete_namespaced_config_map("x", "team")
    events = list(watch.Watch().stream(core.list_namespaced_config_map, "team", label_selector="b in (1)",
                                       resource_version=start.metadata.resource_version, timeout_seconds=1))
    assert events == []


def test_dependents_are_collected_by_their_owners_uid(kube: KubeDouble, core: client.CoreV1Api) -> None:
    owner = core.create_namespaced_config_map("team", {"metadata": {"name": "owner"}})
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid}
    for i in range(3):
        core.create_namespaced_config_map("team", {"metadata": {"name": f"dep{i}", "ownerReferences": [ref]}})
    core.create_namespaced_config_map("team", {"metadata": {"name": "free"}})
    core.patch_namespaced_config_map("dep2", "team", {"metadata": {"ownerReferences": None}})  # released first
    assert {k[3] for k in kube.store.objects.owned_by(owner.metadata.uid)} == {"dep0", "dep1"}
    core.delete_namespaced_config_map("owner", "team")
    assert sorted(c.metadata.name for c in core.list_namespaced_config_map("team").items) == ["dep2", "free"]
    assert owner.metadata.uid not in kube.store.objects.dependents
