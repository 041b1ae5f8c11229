"""The cache agent on real directories in a temporary folder; pods and inventories through the
API server double."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import config

from tests.kube_double.server import KubeDouble
from translator.agent import MARKER, TRASH, AgentConfig, CacheAgent, CacheDir, choose_evictions, scan
from translator.kubeclient import Kube

MB = 1024 * 1024


def _cache(root: Path, ns: str, pipeline: str, key: str, size: int, last_used: float) -> str:
    path = root / ns / pipeline / key
    path.mkdir(parents=True, exist_ok=True)
    (path / "blob").write_bytes(os.urandom(size))
    os.utime(path, (last_used, last_used))
    return str(path)


@pytest.fixture
def kube() -> Iterator[tuple[KubeDouble, Kube]]:
    with KubeDouble() as double:
        double.create_namespace("team")
        yield double, Kube(config.new_client_from_config(config_file=double.kubeconfig))


def _pod(kube: Kube, name: str, node: str, host_path: str, phase: str = "Running") -> None:
    kube.call(kube.core.create_namespaced_pod, "team", {
        "metadata": {"name": name},
        "spec": {"nodeName": node, "containers": [{"name": "main", "image": "x"}],
                 "volumes": [{"name": "cache", "hostPath": {"path": host_path, "type": "DirectoryOrCreate"}}]},
        "status": {"phase": phase}})


def test_scan_finds_each_cache_with_size_and_last_use(tmp_path: Path) -> None:
    a = _cache(tmp_path, "team", "web", "k1", MB, 1000.0)
    _cache(tmp_path, "team", "api", "k2", 2 * MB, 2000.0)
    (tmp_path / TRASH / "old").mkdir(parents=True)  # never a cache
    found = {d.path: d for d in scan(str(tmp_path))}
    assert set(found) == {a, str(tmp_path / "team" / "api" / "k2")}
    assert found[a].bytes >= MB and found[a].last_used == 1000.0
    (Path(a) / MARKER).touch()
    os.utime(Path(a) / MARKER, (5000.0, 5000.0))
    assert {d.path: d for d in scan(str(tmp_path))}[a].last_used == 5000.0


def test_eviction_order_is_least_recently_used_first_and_skips_caches_in_use() -> None:
    dirs = [CacheDir("t", p, "k", f"/c/{p}", 10, t) for p, t in (("a", 3), ("b", 1), ("c", 2), ("d", 4))]
    assert [d.pipeline for d in choose_evictions(dirs, set(), budget=25, free=10**9, floor=0)] == ["b", "c"]
    assert [d.pipeline for d in choose_evictions(dirs, {"/c/b"}, budget=25, free=10**9, floor=0)] == ["c", "a"]
    # the free-space floor: evict until free >= floor, even within budget
    assert [d.pipeline for d in choose_evictions(dirs, set(), budget=0, free=5, floor=25)] == ["b", "c"]
    assert choose_evictions(dirs, set(), budget=40, free=100, floor=50) == []
    # everything in use: nothing can go, however far over budget
    assert choose_evictions(dirs, {d.path for d in dirs}, budget=1, free=0, floor=0) == []


def test_agent_enforces_the_budget_on_real_directories(tmp_path: Path) -> None:
    for i, t in enumerate((100.0, 300.0, 200.0, 400.0)):
        _cache(tmp_path, "team", f"p{i}", "k", MB, t)
    agent = CacheAgent(AgentConfig(node="n1", root=str(tmp_path), max_bytes=int(2.5 * MB)))
    status = agent.run_once()
    left = sorted(p.name for p in (tmp_path / "team").iterdir() if any(p.iterdir()))
    assert left == ["p1", "p3"]  # the two most recently used
    assert status.used_bytes <= 2.5 * MB and status.evictions == 2
    assert [c.pipeline for c in status.caches] == ["team/p3", "team/p1"]
    assert not list((tmp_path / TRASH).iterdir())


def test_free_space_floor(tmp_path: Path) -> None:
    for i, t in enumerate((100.0, 200.0, 300.0)):
        _cache(tmp_path, "team", f"p{i}", "k", MB, t)
    free = {"bytes": 0}
    agent = CacheAgent(AgentConfig(node="n1", root=str(tmp_path), min_free_bytes=int(1.5 * MB)),
                       disk_free=lambda _root: free["bytes"])
    status = agent.run_once()
    assert status.evictions == 2 and [c.pipeline for c in status.caches] == ["team/p2"]


def test_a_cache_in_use_is_never_deleted(tmp_path: Path, kube: tuple[KubeDouble, Kube]) -> None:
    _, api = kube
    old = _cache(tmp_path, "team", "web", "k", MB, 100.0)
    _cache(tmp_path, "team", "api", "k", MB, 200.0)
    _pod(api, "web-1-build", "n1", old)  # the oldest cache is mounted by a running pod on this node
    _pod(api, "elsewhere", "n2", str(tmp_path / "team" / "api" / "k"))  # another node's pod: no protection here
    agent = CacheAgent(AgentConfig(node="n1", root=str(tmp_path), max_bytes=MB + MB // 2), kube=api,
                       clock=lambda: 10_000.0)
    status = agent.run_once()
    assert Path(old).is_dir() and not (tmp_path / "team" / "api" / "k").exists()
    assert [c.pipeline for c in status.caches] == ["team/web"]
    assert os.stat(Path(old) / MARKER).st_mtime == 10_000.0  # its use was recorded


def test_a_pod_that_starts_using_a_cache_during_eviction_keeps_it(tmp_path: Path,
                                                                 kube: tuple[KubeDouble, Kube]) -> None:
    _, api = kube
    victim = _cache(tmp_path, "team", "web", "k", MB, 100.0)
    agent = CacheAgent(AgentConfig(node="n1", root=str(tmp_path), max_bytes=1), kube=api)
    real = agent.pods_using
    calls = {"n": 0}

    def racing() -> set[str]:
        calls["n"] += 1
        if calls["n"] == 2:  # the pod appears between the choice and the rename's check
            _pod(api, "web-2-build", "n1", victim)
        return real()

    agent.pods_using = racing  # type: ignore[method-assign]
    agent.run_once()
    assert Path(victim).is_dir() and (Path(victim) / "blob").exists() and agent.evictions == 0


def test_a_crash_mid_eviction_leaves_no_half_deleted_cache_visible(tmp_path: Path) -> None:
    victim = _cache(tmp_path, "team", "web", "k", MB, 100.0)
    (Path(victim) / "more").write_bytes(b"x" * 1000)
    agent = CacheAgent(AgentConfig(node="n1", root=str(tmp_path), max_bytes=1))

    def crash(_d: CacheDir) -> None:
        raise SystemExit("killed mid-eviction")

    agent.on_evict = crash
    with pytest.raises(SystemExit):
        agent.run_once()
    assert not Path(victim).exists()  # renamed away before anything was deleted
    assert scan(str(tmp_path)) == []  # not seen as a present cache
    leftovers = list((tmp_path / TRASH).iterdir())
    assert len(leftovers) == 1 and (leftovers[0] / "blob").exists()
    restarted = CacheAgent(AgentConfig(node="n1", root=str(tmp_path), max_bytes=1))
    restarted.run_once()
    assert list((tmp_path / TRASH).iterdir()) == []


def test_inventory_is_published_per_node_and_bounded(tmp_path: Path, kube: tuple[KubeDouble, Kube]) -> None:
    double, api = kube
    _cache(tmp_path, "team", "web", "k1", MB, 100.0)
    _cache(tmp_path, "team", "web", "k2", MB, 300.0)
    _cache(tmp_path, "other", "api", "k", MB, 200.0)
    now = {"t": 1_767_225_600.0}
    agent = CacheAgent(AgentConfig(node="node-a", root=str(tmp_path), heartbeat=60), kube=api,
                       clock=lambda: now["t"])
    agent.run_once()
    inv: dict[str, Any] = api.call(api.custom.get_cluster_custom_object, "devops.cubepaas.io", "v1alpha1",
                                   "cacheinventories", "node-a")
    st = inv["status"]
    assert st["node"] == "node-a" and st["usedBytes"] >= 3 * MB and st["updated"] == "2026-01-01T00:00:00Z"
    assert [(c["pipeline"], c["lastUsed"]) for c in st["caches"]] == [
        ("team/web", "1970-01-01T00:05:00Z"), ("other/api", "1970-01-01T00:03:20Z")]
    writes = double.writes()
    agent.run_once()  # nothing changed, within the heartbeat: no write
    assert double.writes() == writes
    now["t"] += 61
    agent.run_once()  # heartbeat
    assert double.writes() > writes


def test_budget_comes_from_the_settings_using_the_root(tmp_path: Path, kube: tuple[KubeDouble, Kube]) -> None:
    _, api = kube
    for ns, budget in (("team", 5 * MB), ("other", 3 * MB)):
        if ns == "other":
            api.call(api.core.create_namespace, {"metadata": {"name": ns}})
        api.create("pipelinesettings", ns, {"apiVersion": "devops.cubepaas.io/v1alpha1", "kind": "PipelineSetting",
                                            "metadata": {"name": "default"},
                                            "spec": {"cache": {"hostPathRoot": str(tmp_path),
                                                               "maxBytesPerNode": budget,
                                                               "minFreeBytes": MB}}})
    api.create("pipelinesettings", "team", {"apiVersion": "devops.cubepaas.io/v1alpha1", "kind": "PipelineSetting",
                                            "metadata": {"name": "elsewhere"},
                                            "spec": {"cache": {"hostPathRoot": "/other/root", "maxBytesPerNode": 1}}})
    agent = CacheAgent(AgentConfig(node="n1", root=str(tmp_path)), kube=api)
    assert agent.limits() == (3 * MB, MB)


def test_cache_agent_command_one_pass(tmp_path: Path, kube: tuple[KubeDouble, Kube]) -> None:
    from click.testing import CliRunner

    from translator.cli import main

    double, api = kube
    _cache(tmp_path, "team", "web", "k", MB, 100.0)
    _cache(tmp_path, "team", "api", "k", MB, 200.0)
    result = CliRunner().invoke(main, ["cache-agent", "--kubeconfig", double.kubeconfig, "--node", "node-z",
                                       "--root", str(tmp_path), "--max-bytes", str(MB + 1000), "--once"])
    assert result.exit_code == 0, result.output
    assert "node-z: 1 pipelines' caches" in result.output and "1 evicted" in result.output
    inv = api.call(api.custom.get_cluster_custom_object, "devops.cubepaas.io", "v1alpha1", "cacheinventories",
                   "node-z")
    assert [c["pipeline"] for c in inv["status"]["caches"]] == ["team/api"]


def test_pods_mount_the_node_path_the_agent_sees_elsewhere(tmp_path: Path, kube: tuple[KubeDouble, Kube]) -> None:
    _, api = kube
    used = _cache(tmp_path, "team", "web", "k", MB, 100.0)
    _cache(tmp_path, "team", "api", "k", MB, 200.0)
    _pod(api, "web-1-build", "n1", "/var/lib/translator/cache/team/web/k")  # the node's path
    agent = CacheAgent(AgentConfig(node="n1", root=str(tmp_path), host_root="/var/lib/translator/cache",
                                   max_bytes=MB + MB // 2), kube=api)
    status = agent.run_once()
    assert Path(used).is_dir() and status.root == "/var/lib/translator/cache"
    assert [c.pipeline for c in status.caches] == ["team/web"]
