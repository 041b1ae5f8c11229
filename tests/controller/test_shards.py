"""Sharding by namespace and failover: `--shard i/n` owns the namespaces of shard i on that
shard's own Lease; replicas stand by warm and take over one shard at a time; no namespace is
ever owned by two controllers at once. Short leases, as the leader test uses."""

from __future__ import annotations

import contextlib
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client, config

from tests.controller.harness import SIMPLE, G, System, V, wait_for
from tests.kube_double.server import KubeDouble
from translator.controller import runs
from translator.controller.config import ControllerConfig
from translator.controller.informer import Informer
from translator.controller.manager import Controller
from translator.controller.metrics import Metrics
from translator.controller.replica import Replica
from translator.controller.shard import Shard, shard_of
from translator.kubeclient import Kube

LEASE_NS = "translator-system"
NAMESPACES = ["team-0", "team-1", "team-2", "team-3"]  # two in each of 2 shards


def test_the_shard_of_a_namespace_is_stable_and_spread() -> None:
    assert [shard_of(n, 2) for n in NAMESPACES] == [1, 0, 1, 0]
    names = [f"ns-{i}" for i in range(1000)]
    script = "from translator.controller.shard import shard_of; print([shard_of(f'ns-{i}', 4) for i in range(1000)])"
    other = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": "12345", "PATH": ""}).stdout
    assert other.strip() == str([shard_of(n, 4) for n in names]), "the same on every replica and every start"
    counts = [sum(1 for n in names if shard_of(n, 4) == s) for s in range(4)]
    assert all(200 <= c <= 300 for c in counts), counts
    assert Shard.parse("1/3") == Shard(1, 3) and Shard().owns("anything")
    assert Shard(1, 2).lease_name("translator-controller") == "translator-controller-1-of-2"
    for bad in ("2/2", "1", "-1/2", "0/0", "a/b"):
        with pytest.raises(ValueError, match="--shard"):
            Shard.parse(bad)


class Ledger:
    """When each controller led, by shard: [(shard, identity, started, ended)]."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.terms: list[list[Any]] = []

    def factory(self, kube: Kube, cfg: ControllerConfig) -> Callable[[], Controller]:
        ledger = self

        class Recorded(Controller):
            term: list[Any] | None = None

            def lead(self) -> Controller:
                with ledger.lock:
                    self.term = [str(cfg.shard), cfg.identity, time.monotonic(), None]
                    ledger.terms.append(self.term)
                return super().lead()

            def stop(self) -> None:
                super().stop()
                with ledger.lock:
                    if self.term is not None and self.term[3] is None:
                        self.term[3] = time.monotonic()

        return lambda: Recorded(kube, cfg)

    def overlaps(self) -> list[tuple[Any, ...]]:
        with self.lock:
            terms = sorted((list(t) for t in self.terms), key=lambda t: t[2])
        found = []
        for i, a in enumerate(terms):
            for b in terms[i + 1:]:
                if a[0] == b[0] and b[2] < (a[3] if a[3] is not None else float("inf")):
                    found.append((a[0], a[1], b[1]))
        return found


class Cluster:
    """Replicas of the controller, each a thread running Replica.run with its own Kube."""

    def __init__(self, double: KubeDouble, ledger: Ledger, *, lease: int = 2, renew: float = 0.2) -> None:
        self.double, self.ledger, self.lease, self.renew = double, ledger, lease, renew
        self.api = config.new_client_from_config(config_file=double.kubeconfig)
        self.replicas: dict[str, tuple[Replica, threading.Event, threading.Thread]] = {}

    def start(self, identity: str, shard: str) -> Replica:
        kube = Kube(self.api)
        cfg = ControllerConfig(workers=2, shard=Shard.parse(shard), identity=identity)
        replica = Replica(kube, cfg, metrics=Metrics(), factory=self.ledger.factory(kube, cfg))
        done = threading.Event()
        thread = threading.Thread(target=replica.run, args=(done,), daemon=True, kwargs={
            "leader_elect": True, "lease_namespace": LEASE_NS, "lease_name": "translator-controller",
            "lease_seconds": self.lease, "renew_seconds": self.renew})
        thread.start()
        self.replicas[identity] = (replica, done, thread)
        return replica

    def kill(self, identity: str) -> None:
        """The replica dies: it stops at once, its Lease left to expire."""
        _, done, thread = self.replicas.pop(identity)
        done.set()
        thread.join(timeout=10)

    def leader(self, shard: str) -> str:
        name = Shard.parse(shard).lease_name("translator-controller")
        try:
            lease = Kube(self.api).coordination.read_namespaced_lease(name, LEASE_NS)
        except client.ApiException as exc:
            if exc.status == 404:
                return ""  # nobody won it yet
            raise
        return str(lease.spec.holder_identity)

    def close(self) -> None:
        for identity in list(self.replicas):
            self.kill(identity)


@contextlib.contextmanager
def shard_world(step_seconds: float) -> Iterator[tuple[KubeDouble, list[System]]]:
    """The API double with the Lease namespace and a pipeline `web` in each of NAMESPACES."""
    with KubeDouble(history_size=50000) as double:
        double.create_namespace(LEASE_NS)
        systems = [System(double, namespace=ns, quota=4, step_seconds=step_seconds) for ns in NAMESPACES]
        for s in systems:
            s.apply_pipeline("web")
        try:
            yield double, systems
        finally:
            for s in systems:
                s.sim.stop()


@pytest.fixture
def world() -> Iterator[tuple[KubeDouble, System]]:
    with shard_world(0.1) as (double, systems):
        yield double, systems[0]


def _all_succeed(system: System, names: list[tuple[str, str]], timeout: float = 60) -> None:
    def done() -> bool:
        return all((system.kube.get("pipelineexecutions", ns, n).get("status") or {}).get("executionState")
                   == "Success" for ns, n in names)

    wait_for(done, timeout=timeout, what="every run to succeed")


def test_each_shard_handles_only_its_namespaces_on_its_own_lease(world: tuple[KubeDouble, System]) -> None:
    double, system = world
    ledger = Ledger()
    cluster = Cluster(double, ledger)
    try:
        zero, one = cluster.start("a", "0/2"), cluster.start("b", "1/2")
        wait_for(lambda: cluster.leader("0/2") == "a" and cluster.leader("1/2") == "b", what="a lease per shard")
        made = [(ns, runs.create_run(system.kube, ns, "web")["metadata"]["name"]) for ns in NAMESPACES]
        _all_succeed(system, made)
        for replica, shard in ((zero, Shard(0, 2)), (one, Shard(1, 2))):
            ctrl = replica.current
            assert ctrl is not None and ctrl.leading
            cached = {ns for ns, _ in ctrl.executions.cache}
            assert cached == {ns for ns in NAMESPACES if shard.owns(ns)}, "only its own namespaces"
            assert {ns for ns, _ in ctrl.pipelines.cache} == cached
    finally:
        cluster.close()
    assert not ledger.overlaps()


def test_a_shard_fails_over_on_its_own(world: tuple[KubeDouble, System]) -> None:
    double, system = world
    ledger = Ledger()
    cluster = Cluster(double, ledger)
    try:
        cluster.start("a0", "0/2")
        cluster.start("a1", "1/2")
        wait_for(lambda: cluster.leader("0/2") == "a0" and cluster.leader("1/2") == "a1", what="the leaders")
        cluster.start("b0", "0/2")
        cluster.start("b1", "1/2")
        time.sleep(0.5)
        before = Kube(cluster.api).coordination.read_namespaced_lease("translator-controller-1-of-2", LEASE_NS)
        lost = time.monotonic()
        cluster.kill("a0")
        wait_for(lambda: cluster.leader("0/2") == "b0", timeout=15, what="b0 to take shard 0 over")
        took = time.monotonic() - lost
        ns = next(n for n in NAMESPACES if Shard(0, 2).owns(n))
        name = runs.create_run(system.kube, ns, "web")["metadata"]["name"]
        _all_succeed(system, [(ns, name)], timeout=20)
        after = Kube(cluster.api).coordination.read_namespaced_lease("translator-controller-1-of-2", LEASE_NS)
        assert after.spec.holder_identity == "a1" and after.spec.lease_transitions == before.spec.lease_transitions
        assert took < 15, f"shard 0 was without a leader for {took:.1f} s"  # Lease 2 s; a loaded machine is slow
    finally:
        cluster.close()
    assert not ledger.overlaps()


def test_no_namespace_is_owned_twice_across_shard_lease_churn(world: tuple[KubeDouble, System]) -> None:
    double, system = world
    ledger = Ledger()
    cluster = Cluster(double, ledger, lease=1, renew=0.1)
    rng = random.Random(3)
    counter = 0
    try:
        for shard in ("0/2", "1/2"):
            for _ in range(2):
                counter += 1
                cluster.start(f"r{counter}-{shard[0]}", shard)
        made: list[tuple[str, str]] = []
        deadline = time.monotonic() + 40

        def terms(shard: str) -> int:
            with ledger.lock:
                return sum(1 for t in ledger.terms if t[0] == shard)

        while time.monotonic() < deadline and (time.monotonic() < deadline - 28 or min(
                terms("0/2"), terms("1/2")) < 3):  # 12 s of churn, longer on a loaded machine
            ns = rng.choice(NAMESPACES)
            made.append((ns, runs.create_run(system.kube, ns, "web")["metadata"]["name"]))
            shard = rng.choice(["0/2", "1/2"])
            holder = cluster.leader(shard)  # mostly the leader dies, sometimes a standby
            if holder not in cluster.replicas or rng.random() < 0.3:
                holder = rng.choice(sorted(cluster.replicas))
            victim = holder
            cluster.kill(victim)  # a replica dies; another starts for its shard
            counter += 1
            cluster.start(f"r{counter}-{victim[-1]}", f"{victim[-1]}/2")
            time.sleep(rng.uniform(0.5, 1.5))
        _all_succeed(system, made, timeout=90)
    finally:
        cluster.close()
    assert not ledger.overlaps(), "a namespace was owned by two controllers at once"
    per_shard = {s: sum(1 for t in ledger.terms if t[0] == s) for s in ("0/2", "1/2")}
    assert all(n >= 2 for n in per_shard.values()), f"too little churn to show anything: {per_shard}"


def _seed_finished(double: KubeDouble, namespace: str, count: int) -> None:
    """Finished executions written straight into the double's store (as a long history would be)."""
    store = double.store
    res = store.resource(G, "pipelineexecutions")
    for run in range(1, count + 1):
        made = store.create(res, namespace, {"apiVersion": f"{G}/{V}", "kind": "PipelineExecution",
                                             "metadata": {"name": f"old-{run}"},
                                             "spec": {"pipelineName": "web", "run": run, "pipelineConfig": SIMPLE}})
        made["status"] = {"executionState": "Success", "started": "2026-01-01T00:00:00Z",
                          "ended": "2026-01-01T00:01:00Z", "conditions": [{"type": "Built", "status": "True"}]}
        store.replace(res, namespace, made["metadata"]["name"], made, subresource="status")
    pipelines = store.resource(G, "pipelines")
    current = store.get(pipelines, namespace, "web")
    current["status"] = {"nextRun": count + 1, "lastExecutionId": f"old-{count}", "lastRunState": "Success",
                         "lastStarted": "2026-01-01T00:00:00Z"}
    store.replace(pipelines, namespace, "web", current, subresource="status")


def test_a_warm_standby_admits_a_run_soon_after_the_leaders_death() -> None:
    """With 2,000 finished executions (the benchmark does 50,000 with the real 10 s Lease)."""
    with KubeDouble(history_size=10000) as double:
        double.create_namespace(LEASE_NS)
        system = System(double, quota=2, setting={"history": {"keepRuns": 0}})
        system.apply_pipeline("web")
        _seed_finished(double, "team", 2000)
        ledger = Ledger()
        cluster = Cluster(double, ledger, lease=3, renew=0.3)
        try:
            cluster.start("a", "0/1")
            wait_for(lambda: cluster.leader("0/1") == "a", what="a to lead")
            standby = cluster.start("b", "0/1")
            wait_for(lambda: standby.current is not None and standby.current.watched.is_set(), timeout=30,
                     what="the standby's caches")
            assert standby.current is not None and len(standby.current.executions) == 2000
            died = time.monotonic()
            cluster.kill("a")
            name = runs.create_run(system.kube, "team", "web")["metadata"]["name"]
            wait_for(lambda: any(w["metadata"]["name"] == name for w in system.workflows()), timeout=15,
                     what="the standby to admit the new run")
            took = time.monotonic() - died
            assert took < 15, f"admitted {took:.1f} s after the leader died"  # Lease 3 s: ~4 s on a quiet machine
        finally:
            cluster.close()
            system.close()
        assert not ledger.overlaps()


def test_another_shards_watch_events_are_dropped_before_they_are_decoded() -> None:
    informer = Informer(Kube(config.new_client_from_config(config_file=_kubeconfig_stub())), plural="workflows",
                        group="argoproj.io", version="v1alpha1", owns_namespace=Shard(1, 2).owns,
                        owner_key=b"devops.cubepaas.io/owner")
    ours, theirs = NAMESPACES[0], NAMESPACES[1]  # shard 1, shard 0
    assert informer._maybe_ours(f'{{"object":{{"metadata":{{"namespace": "{ours}"}}}}}}'.encode())
    assert not informer._maybe_ours(f'{{"object":{{"metadata":{{"namespace":"{theirs}"}}}}}}'.encode())
    # a Workflow in a shared namespace, owned from ours: kept; a label named `namespace` cannot hide it
    owned = (f'{{"metadata":{{"labels":{{"namespace":"{theirs}"}},"namespace":"argo",'
             f'"annotations":{{"devops.cubepaas.io/owner":"{ours}/web-1"}}}}}}')
    assert informer._maybe_ours(owned.encode())
    # text inside a string value is escaped: it never passes for a key
    sneaky = f'{{"metadata":{{"namespace":"{theirs}","name":"x"}},"spec":{{"a":"\\"namespace\\":\\"{ours}\\""}}}}'
    assert not informer._maybe_ours(sneaky.encode())


def _kubeconfig_stub() -> str:
    import tempfile

    path = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
    path.write("apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters: [{name: c, cluster: {server: "
               "'http://127.0.0.1:9'}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\n"
               "users: [{name: u, user: {token: t}}]\n")
    path.close()
    return path.name
