"""Cache placement through the controller: inventories published as the cache agent does,
the Argo simulator as the scheduler (required affinity filters, preferred terms rank)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.controller.harness import System, wait_for
from tests.kube_double.server import KubeDouble
from translator.controller import runs

CACHED = {"stages": [
    {"name": "Build", "cache": {"paths": ["/root/.m2"]},
     "steps": [{"runScriptConfig": {"image": "maven", "shellScript": "mvn package"}}]},
]}


def _inventory(system: System, node: str, pipelines: list[str], updated: str = "") -> None:
    from datetime import UTC, datetime

    body: dict[str, Any] = {"apiVersion": "devops.cubepaas.io/v1alpha1", "kind": "CacheInventory",
                            "metadata": {"name": node}}
    kube = system.kube
    created = kube.call(kube.custom.create_cluster_custom_object, "devops.cubepaas.io", "v1alpha1",
                        "cacheinventories", body)
    created["status"] = {
        "node": node, "usedBytes": 1000 * len(pipelines), "evictions": 2,
        "updated": updated or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "caches": [{"pipeline": p, "bytes": 1000, "lastUsed": f"2026-11-25T10:0{i}:00Z"}
                   for i, p in enumerate(pipelines)]}
    kube.call(kube.custom.replace_cluster_custom_object_status, "devops.cubepaas.io", "v1alpha1",
              "cacheinventories", node, created)


def _system(kube: KubeDouble, **setting: Any) -> System:
    system = System(kube, setting={"cache": setting} if setting else None)
    system.start_controller()
    return system


@pytest.fixture
def system() -> Iterator[System]:
    with KubeDouble() as kube:
        sys_ = _system(kube, waitSeconds=1)
        try:
            yield sys_
        finally:
            sys_.close()


def _cond(ex: dict[str, Any], kind: str = "Cached") -> dict[str, Any]:
    return next(c for c in ex["status"]["conditions"] if c["type"] == kind)


def test_placement_terms_come_from_inventory_then_recency(system: System) -> None:
    _inventory(system, "node-b", ["team/web", "team/api"])
    _inventory(system, "node-c", ["team/api"])  # its fresh inventory lacks web's cache: evicted
    system.apply_pipeline("web", CACHED)
    system.kube.replace_status("pipelines", "team", "web", {
        **system.kube.get("pipelines", "team", "web"),
        "status": {"nextRun": 1, "cacheNodes": [{"node": "node-c", "run": 0, "time": "2026-11-25T10:00:00Z"},
                                                {"node": "node-a", "run": 0, "time": "2026-11-25T09:00:00Z"}]}})
    wait_for(lambda: system.controller and system.controller.cache_index.lookup("team", "web", time.time())[0])
    runs.create_run(system.kube, "team", "web")
    wait_for(lambda: system.workflows(), what="the Workflow")
    affinity = system.workflows()[0]["spec"]["affinity"]["nodeAffinity"]
    preferred = [(t["weight"], t["preference"]["matchExpressions"][0]["values"][0])
                 for t in affinity["preferredDuringSchedulingIgnoredDuringExecution"]]
    assert preferred == [(100, "node-b"), (50, "node-a")]  # node-c dropped: it evicted the cache
    required = affinity["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert required[0]["matchExpressions"][0]["values"] == ["node-b"]
    ex = system.wait_state("web-1", "Success")
    assert _cond(ex)["status"] == "True" and _cond(ex)["reason"] == "CacheHit"
    assert ex["status"]["cache"]["node"] == "node-b" and ex["status"]["cache"]["result"] == "Hit"
    assert {n for _wf, _t, n in system.sim.placements} == {"node-b"}


def test_the_wait_gives_up_after_wait_seconds_and_runs_cold(system: System) -> None:
    _inventory(system, "node-b", ["team/web"])
    system.sim.busy = {"node-b"}  # the only holder has no room
    system.apply_pipeline("web", CACHED)
    wait_for(lambda: system.controller and system.controller.cache_index.lookup("team", "web", time.time())[0])
    runs.create_run(system.kube, "team", "web")
    waiting = wait_for(lambda: (e := system.execution("web-1")) and any(
        c["reason"] == "WaitingForCache" for c in e["status"].get("conditions") or []) and e)
    assert "node-b" in _cond(waiting)["message"] and "1 s" in _cond(waiting)["message"]
    assert waiting["status"]["cache"]["waitingSince"]
    ex = system.wait_state("web-1", "Success", timeout=20)
    cond = _cond(ex)
    assert cond["status"] == "False" and cond["reason"] == "RanCold"
    assert "node-b" in cond["message"] and "within 1 s" in cond["message"]
    cache = ex["status"]["cache"]
    assert cache["ranCold"] and cache["waitedSeconds"] >= 1 and cache["result"] == "Miss"
    assert cache["node"] in ("node-a", "node-c")
    names = {wf["metadata"]["name"] for wf in system.workflows()}
    assert names == {"web-1-cold"}  # the waiting Workflow was withdrawn before any step started
    assert ex["status"]["engineRef"]["workflowName"] == "web-1-cold"
    assert all(n != "node-b" for _wf, _t, n in system.sim.placements)
    metrics = system.controller.metrics if system.controller else None
    assert metrics is not None
    assert metrics.cache_waits.labels(result="gave_up")._value.get() == 1
    assert metrics.cache_runs.labels(namespace="team", pipeline="web", result="miss")._value.get() == 1


def test_a_holder_freed_during_the_wait_takes_the_run() -> None:
    with KubeDouble() as kube:
        system = _system(kube, waitSeconds=30)
        try:
            _inventory(system, "node-c", ["team/web"])
            system.sim.busy = {"node-c"}
            system.apply_pipeline("web", CACHED)
            wait_for(lambda: system.controller and system.controller.cache_index.lookup("team", "web", time.time())[0])
            runs.create_run(system.kube, "team", "web")
            wait_for(lambda: any(c["reason"] == "WaitingForCache"
                                 for c in system.execution("web-1")["status"].get("conditions") or []))
            system.sim.busy = set()
            ex = system.wait_state("web-1", "Success", timeout=20)
            assert _cond(ex)["reason"] == "CacheHit" and ex["status"]["cache"]["node"] == "node-c"
            assert not ex["status"]["cache"]["ranCold"]
            metrics = system.controller.metrics if system.controller else None
            assert metrics is not None and metrics.cache_waits.labels(result="placed")._value.get() == 1
            assert metrics.cache_node_bytes.labels(node="node-c")._value.get() == 1000
        finally:
            system.close()


def test_no_holder_no_wait_and_stale_inventories_are_ignored(system: System) -> None:
    _inventory(system, "node-b", ["team/web"], updated="2020-01-01T00:00:00Z")  # its agent is long gone
    system.apply_pipeline("web", CACHED)
    runs.create_run(system.kube, "team", "web")
    ex = system.wait_state("web-1", "Success")
    wf = system.workflows()[0]
    assert "requiredDuringSchedulingIgnoredDuringExecution" not in (
        (wf["spec"].get("affinity") or {}).get("nodeAffinity") or {})
    assert _cond(ex)["reason"] == "CacheMiss" and "no node held the cache" in _cond(ex)["message"]
    # the run's node is recorded for the next run's recency list
    system.pipeline_when("web", lambda st: st.get("cacheNodes"))
