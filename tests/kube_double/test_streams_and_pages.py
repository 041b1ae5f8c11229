"""A followed pod log streams what the container writes until it exits, as kubelet serves it
(tests/kube_double/podlog.py); lists come in pages (tests/kube_double/paging.py)."""

from __future__ import annotations

import threading
import time

from kubernetes import client, config

from tests.controller.harness import wait_for
from tests.kube_double.server import KubeDouble


def _pod(kube: KubeDouble, phase: str) -> None:
    kube.store.create(kube.store.resource("", "pods"), "team", {
        "metadata": {"name": "p"}, "spec": {"containers": [{"name": "main", "image": "x"}]},
        "status": {"phase": phase}})


def test_a_followed_pod_log_streams_until_the_container_exits() -> None:
    with KubeDouble() as kube:
        kube.create_namespace("team")
        _pod(kube, "Running")
        kube.store.logs[("team", "p")] = "one\n"
        core = client.CoreV1Api(config.new_client_from_config(config_file=kube.kubeconfig))
        resp = core.read_namespaced_pod_log("p", "team", container="main", follow=True, _preload_content=False)
        got: list[tuple[float, str]] = []
        reader = threading.Thread(target=lambda: got.extend((time.monotonic(), c.decode()) for c in resp.stream(1024)))
        reader.start()
        wait_for(lambda: got and got[0][1] == "one\n", 5, "what was written before")
        with kube.store.lock:
            kube.store.logs[("team", "p")] += "two\n"
            kube.store.lock.notify_all()
        wait_for(lambda: len(got) == 2 and got[1][1] == "two\n", 5, "a line written later, sent as it came")
        assert reader.is_alive()  # the container runs: the stream stays open
        kube.store.patch(kube.store.resource("", "pods"), "team", "p", {"status": {"phase": "Succeeded"}},
                         "application/merge-patch+json", subresource="status")
        reader.join(timeout=5)
        assert not reader.is_alive() and "".join(t for _, t in got) == "one\ntwo\n"
        # without follow the log is answered at once, as before
        assert core.read_namespaced_pod_log("p", "team", container="main") == "one\ntwo\n"


def test_one_containers_followed_log_ends_when_that_container_exits_though_the_pod_runs() -> None:
    """A containerSet's pod: each container has its own log (`?container=`), its follow ends once
    kubelet reports it terminated, while the pod and its other containers go on."""
    with KubeDouble() as kube:
        kube.create_namespace("team")
        pods = kube.store.resource("", "pods")
        kube.store.create(pods, "team", {
            "metadata": {"name": "p"}, "spec": {"containers": [{"name": "a", "image": "x"},
                                                               {"name": "b", "image": "x"}]},
            "status": {"phase": "Running", "containerStatuses": [{"name": "a", "state": {"running": {}}},
                                                                 {"name": "b", "state": {"running": {}}}]}})
        kube.store.logs[("team", "p", "a")] = "from a\n"
        kube.store.logs[("team", "p", "b")] = "from b\n"
        core = client.CoreV1Api(config.new_client_from_config(config_file=kube.kubeconfig))
        try:
            core.read_namespaced_pod_log("p", "team")
            raise AssertionError("a pod of two containers needs a container name")
        except client.ApiException as exc:
            assert exc.status == 400 and "a container name must be specified" in exc.body
        resp = core.read_namespaced_pod_log("p", "team", container="a", follow=True, _preload_content=False)
        got: list[str] = []
        reader = threading.Thread(target=lambda: got.extend(c.decode() for c in resp.stream(1024)))
        reader.start()
        wait_for(lambda: got == ["from a\n"], 5, "a's own log")
        assert reader.is_alive()
        kube.store.patch(pods, "team", "p", {"status": {"containerStatuses": [
            {"name": "a", "state": {"terminated": {"exitCode": 0}}}, {"name": "b", "state": {"running": {}}}]}},
            "application/merge-patch+json", subresource="status")
        reader.join(timeout=5)
        assert not reader.is_alive(), "a's stream ends with a, the pod still Running"
        assert core.read_namespaced_pod_log("p", "team", container="b") == "from b\n"


def test_a_list_comes_in_pages_with_a_continue_token_at_the_first_pages_version() -> None:
    with KubeDouble() as kube:
        kube.create_namespace("team")
        custom = client.CustomObjectsApi(config.new_client_from_config(config_file=kube.kubeconfig))
        g, v = "devops.cubepaas.io", "v1alpha1"
        for i in range(7):
            custom.create_namespaced_custom_object(g, v, "team", "pipelines", {
                "apiVersion": f"{g}/{v}", "kind": "Pipeline", "metadata": {"name": f"p{i}"},
                "spec": {"repositoryUrl": "https://x"}})
        first = custom.list_namespaced_custom_object(g, v, "team", "pipelines", limit=3)
        assert [o["metadata"]["name"] for o in first["items"]] == ["p0", "p1", "p2"]
        assert first["metadata"]["remainingItemCount"] == 4
        rv = first["metadata"]["resourceVersion"]
        custom.create_namespaced_custom_object(g, v, "team", "pipelines", {  # written between two pages
            "apiVersion": f"{g}/{v}", "kind": "Pipeline", "metadata": {"name": "p9"}, "spec": {"repositoryUrl": "x"}})
        names, token = [], first["metadata"]["continue"]
        while token:
            more = custom.list_namespaced_custom_object(g, v, "team", "pipelines", limit=3, _continue=token)
            assert more["metadata"]["resourceVersion"] == rv  # every page: the first page's version
            names += [o["metadata"]["name"] for o in more["items"]]
            token = more["metadata"].get("continue")
        assert names[:4] == ["p3", "p4", "p5", "p6"]
        try:
            custom.list_namespaced_custom_object(g, v, "team", "pipelines", limit=3, _continue="not-a-token")
        except client.ApiException as exc:
            assert exc.status == 400
        else:
            raise AssertionError("a malformed continue token was accepted")
