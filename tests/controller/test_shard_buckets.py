"""A shard asks the API server for its own Workflows only: the controller labels each Workflow
and scripts ConfigMap with the bucket of its execution's namespace (engines/shard_bucket.py),
and shard i of n (n dividing 240) watches `shard-bucket in (its buckets)` plus the Workflows
with no bucket label, which an older controller made and the owning shard still syncs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.controller.harness import System, wait_for
from tests.controller.test_shards import NAMESPACES, Cluster, Ledger, _all_succeed, shard_world
from tests.kube_double.server import KubeDouble
from translator.controller import runs
from translator.controller.shard import Shard, shard_of
from translator.engines import argo_namespace
from translator.engines.shard_bucket import BUCKET_LABEL, BUCKETS, bucket_of, buckets_of_shard

ARGO = {"group": "argoproj.io", "version": "v1alpha1"}


def test_a_shards_buckets_are_exactly_its_namespaces_for_every_count_dividing_240() -> None:
    names = [f"ns-{i}" for i in range(2000)]
    for count in (1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 24, 240):
        for index in range(count):
            owned = set(buckets_of_shard(index, count) or [])
            assert {n for n in names if bucket_of(n) in owned} == {n for n in names if shard_of(n, count) == index}
    assert buckets_of_shard(0, 7) is None and buckets_of_shard(0, BUCKETS + 1) is None


def test_a_shards_selectors_name_its_buckets_and_the_unlabelled() -> None:
    labelled, unlabelled = Shard(1, 2).selectors("devops.cubepaas.io/execution")
    assert labelled == ("devops.cubepaas.io/execution,devops.cubepaas.io/shard-bucket in ("
                        + ",".join(str(b) for b in range(1, 240, 2)) + ")")
    assert unlabelled == "devops.cubepaas.io/execution,!devops.cubepaas.io/shard-bucket"
    assert Shard().selectors("k") == ["k"]
    assert Shard(2, 7).selectors("k") == ["k"], "7 does not divide 240: one stream, dropped on our side"


@pytest.fixture
def world() -> Iterator[tuple[KubeDouble, list[System]]]:
    with shard_world(1.0) as found:  # steps of 1 s: a run outlives the older controller that submitted it
        yield found


def _workflows(double: KubeDouble) -> list[dict[str, Any]]:
    items, _ = double.store.list(double.store.resource("argoproj.io", "workflows"), "")
    return items


def test_a_shards_workflow_watch_brings_only_its_buckets(world: tuple[KubeDouble, list[System]]) -> None:
    double, systems = world
    ledger = Ledger()
    cluster = Cluster(double, ledger)
    try:
        zero, one = cluster.start("a", "0/2"), cluster.start("b", "1/2")
        wait_for(lambda: cluster.leader("0/2") == "a" and cluster.leader("1/2") == "b", what="a lease per shard")
        made = [(ns, runs.create_run(systems[0].kube, ns, "web")["metadata"]["name"]) for ns in NAMESPACES]
        _all_succeed(systems[0], made)
        for wf in _workflows(double):
            assert wf["metadata"]["labels"][BUCKET_LABEL] == str(bucket_of(wf["metadata"]["namespace"]))
        configmaps, _ = double.store.list(double.store.resource("", "configmaps"), "", "devops.cubepaas.io/execution")
        assert configmaps and all(c["metadata"]["labels"][BUCKET_LABEL] == str(bucket_of(c["metadata"]["namespace"]))
                                  for c in configmaps)
        for replica, shard in ((zero, Shard(0, 2)), (one, Shard(1, 2))):
            ctrl = replica.current
            assert ctrl is not None
            assert {ns for ns, _ in ctrl.workflows.cache} == {ns for ns in NAMESPACES if shard.owns(ns)}
            assert ctrl.workflows.dropped == 0, "the server sent no other shard's Workflow"
    finally:
        cluster.close()
    assert not ledger.overlaps()


def test_a_workflow_an_older_controller_made_is_synced_by_its_owning_shard(
        world: tuple[KubeDouble, list[System]], monkeypatch: pytest.MonkeyPatch) -> None:
    double, systems = world
    ns = next(n for n in NAMESPACES if Shard(0, 2).owns(n))
    system = next(s for s in systems if s.namespace == ns)
    own = argo_namespace.own

    def older(obj: dict[str, Any], execution: Any) -> None:  # as before the bucket label
        own(obj, execution)
        obj["metadata"]["labels"].pop(BUCKET_LABEL)

    monkeypatch.setattr(argo_namespace, "own", older)
    ledger = Ledger()
    cluster = Cluster(double, ledger)
    try:
        cluster.start("old", "0/1")
        wait_for(lambda: cluster.leader("0/1") == "old", what="the older controller to lead")
        name = runs.create_run(system.kube, ns, "web")["metadata"]["name"]
        wait_for(lambda: any(w["metadata"]["name"] == name for w in system.workflows()), what="its Workflow")
        cluster.kill("old")
        monkeypatch.setattr(argo_namespace, "own", own)
        [workflow] = [w for w in system.workflows() if w["metadata"]["name"] == name]
        assert BUCKET_LABEL not in workflow["metadata"]["labels"]
        state = (system.kube.get("pipelineexecutions", ns, name).get("status") or {}).get("executionState")
        assert state != "Success", "the run must outlive the older controller"
        zero, one = cluster.start("a", "0/2"), cluster.start("b", "1/2")
        _all_succeed(system, [(ns, name)], timeout=60)
        time.sleep(0.2)
        assert zero.current is not None and (ns, name) in zero.current.workflows.cache
        assert one.current is not None and (ns, name) not in one.current.workflows.cache
    finally:
        cluster.close()
