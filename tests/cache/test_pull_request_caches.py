"""Pull requests' cache copies on real directories: what a compiled pull-request run does to the
node's cache root (its init container and its step, run as the kubelet would bind their
mounts), and how the cache agent accounts and evicts the copies (docs/security.md)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import config

from tests.compiler.views import containers, init_containers, volumes
from tests.kube_double.server import KubeDouble
from translator.agent import AgentConfig, CacheAgent, CacheDir, choose_evictions, scan, scan_pull_requests
from translator.api.setting_types import PipelineSettingSpec
from translator.cache.placement import PULL_REQUEST_DIR
from translator.compiler.compile import compile_text
from translator.compiler.context import ExecutionContext
from translator.kubeclient import Kube

MB = 1024 * 1024
DAY = 86400.0
PIPELINE = """
stages:
- name: Build
  cache: {paths: [/root/.m2]}
  steps:
  - runScriptConfig: {image: maven, shellScript: mvn package}
"""


def _copy(root: Path, scope: str, key: str, size: int, last_used: float, pipeline: str = "web") -> Path:
    path = root / PULL_REQUEST_DIR / "team" / pipeline / scope / key
    path.mkdir(parents=True)
    (path / "blob").write_bytes(os.urandom(size))
    os.utime(path, (last_used, last_used))
    return path


def _cache(root: Path, pipeline: str, key: str, size: int, last_used: float) -> Path:
    path = root / "team" / pipeline / key
    path.mkdir(parents=True)
    (path / "blob").write_bytes(os.urandom(size))
    os.utime(path, (last_used, last_used))
    return path


def _bind(container: dict[str, Any], volumes: dict[str, Any]) -> dict[str, Path]:
    """container path -> host path: what the kubelet's bind mounts make of the cache hostPath volumes
    (a pinned run's node-local workspace left out)."""
    return {m["mountPath"]: Path(volumes[m["name"]]["hostPath"]["path"])
            for m in container["volumeMounts"] if "hostPath" in volumes.get(m["name"], {}) and m["name"] != "workspace"}


@pytest.mark.parametrize("form", ["pod", "pinned"])
def test_a_pull_request_run_reads_the_pipeline_cache_and_writes_only_its_copy(tmp_path: Path, form: str) -> None:
    root = tmp_path / "cache"
    setting = PipelineSettingSpec.model_validate({"cache": {"hostPathRoot": str(root)}, "argo": {"runForm": form}})
    push = compile_text(PIPELINE, ExecutionContext(namespace="team", pipeline="web"), setting)
    pr = compile_text(PIPELINE, ExecutionContext(namespace="team", pipeline="web", event="pull_request",
                                                 ref="refs/pull/9/head", run=2), setting)
    # the default branch's run filled the pipeline's cache
    push_wf = push.objects[0]
    push_volumes = volumes(push_wf)
    push_step = containers(push_wf)["build"]
    (m2,) = _bind(push_step, push_volumes).values()
    m2.mkdir(parents=True)
    (m2 / "junit.jar").write_text("trusted jar\n")

    wf = pr.objects[0]
    pr_volumes = volumes(wf)
    step = containers(wf)["build"]
    (seed,) = init_containers(wf, "build")
    seed_mounts = _bind(seed, pr_volumes)
    (seed_of_m2,) = [m for m in seed["volumeMounts"] if seed_mounts[m["mountPath"]] == m2]
    assert seed_of_m2["readOnly"] is True  # the pipeline's cache: only here, and read-only
    for host in seed_mounts.values():  # the kubelet's DirectoryOrCreate
        host.mkdir(parents=True, exist_ok=True)
    command = [seed_mounts.get(arg, arg) if arg.startswith("/translator/") else arg for arg in seed["command"]]
    ran = subprocess.run([str(c) for c in command], capture_output=True, text=True, check=False)
    assert ran.returncode == 0, ran.stderr
    (copy,) = _bind(step, pr_volumes).values()  # the step mounts the copy, nothing else
    assert copy != m2 and copy.is_relative_to(root / PULL_REQUEST_DIR / "team" / "web" / "pr-9")
    assert (copy / "junit.jar").read_text() == "trusted jar\n"  # it reads what main built
    (copy / "junit.jar").write_text("planted\n")  # and what it writes stays in its copy
    (copy / "evil.so").write_text("planted\n")
    assert (m2 / "junit.jar").read_text() == "trusted jar\n" and not (m2 / "evil.so").exists()
    assert _bind(push_step, push_volumes) == {"/root/.m2": m2}  # the next main run: the clean cache

    status = CacheAgent(AgentConfig(node="n1", root=str(root))).run_once()
    assert [c.pipeline for c in status.caches] == ["team/web"]  # placement follows the pipeline's own cache
    assert [d.scope for d in scan_pull_requests(str(root))] == ["pr-9"]
    assert status.used_bytes >= sum(d.bytes for d in scan(str(root)) + scan_pull_requests(str(root)))


def test_pull_request_copies_are_evicted_before_pipeline_caches(tmp_path: Path) -> None:
    old_main = _cache(tmp_path, "web", "k1", MB, 100.0)
    newer_copy = _copy(tmp_path, "pr-1", "k1", MB, 500.0)
    _copy(tmp_path, "pr-2", "k1", MB, 400.0)
    agent = CacheAgent(AgentConfig(node="n1", root=str(tmp_path), max_bytes=int(1.5 * MB)), clock=lambda: 600.0)
    status = agent.run_once()
    assert old_main.is_dir() and not newer_copy.exists()  # though the copy was used more recently
    assert scan_pull_requests(str(tmp_path)) == [] and status.evictions == 2
    assert not (tmp_path / PULL_REQUEST_DIR / "team" / "web" / "pr-1").exists()  # its directory went with it


def test_a_copy_unused_past_its_age_is_evicted_without_pressure(tmp_path: Path) -> None:
    stale = _copy(tmp_path, "pr-1", "k1", MB, 1000.0)
    fresh = _copy(tmp_path, "pr-2", "k1", MB, 1000.0 + 6 * DAY)
    main = _cache(tmp_path, "web", "k1", MB, 1000.0)  # a pipeline cache never ages out
    agent = CacheAgent(AgentConfig(node="n1", root=str(tmp_path)), clock=lambda: 1000.0 + 7 * DAY + 1)
    agent.run_once()
    assert not stale.exists() and fresh.is_dir() and main.is_dir()


def test_eviction_order_with_copies() -> None:
    dirs = [CacheDir("t", "p", "k", "/c/main-old", 10, 1.0), CacheDir("t", "p", "k", "/c/pr-new", 10, 9.0, "pr-1"),
            CacheDir("t", "p", "k", "/c/pr-old", 10, 5.0, "pr-2"),
            CacheDir("t", "p", "k", "/c/pr-used", 10, 0.0, "pr-3")]
    order = [d.path for d in choose_evictions(dirs, {"/c/pr-used"}, budget=15, free=10**9, floor=0)]
    assert order == ["/c/pr-old", "/c/pr-new", "/c/main-old"]  # copies first; one in use is never taken
    aged = choose_evictions(dirs, {"/c/pr-used"}, budget=0, free=10**9, floor=0, now=100.0, max_age=50.0)
    assert sorted(d.path for d in aged) == ["/c/pr-new", "/c/pr-old"]  # past their age, used or not by nobody


@pytest.fixture
def kube() -> Iterator[Kube]:
    with KubeDouble() as double:
        double.create_namespace("team")
        yield Kube(config.new_client_from_config(config_file=double.kubeconfig))


def test_the_age_comes_from_the_settings_and_a_copy_in_use_stays(tmp_path: Path, kube: Kube) -> None:
    kube.create("pipelinesettings", "team", {"apiVersion": "devops.cubepaas.io/v1alpha1", "kind": "PipelineSetting",
                                             "metadata": {"name": "default"},
                                             "spec": {"cache": {"hostPathRoot": str(tmp_path)},
                                                      "pullRequests": {"cacheMaxAgeSeconds": 3600}}})
    used = _copy(tmp_path, "pr-1", "k1", MB, 1000.0)
    idle = _copy(tmp_path, "pr-2", "k1", MB, 1000.0)
    kube.call(kube.core.create_namespaced_pod, "team", {
        "metadata": {"name": "web-pr-1"},
        "spec": {"nodeName": "n1", "containers": [{"name": "main", "image": "x"}],
                 "volumes": [{"name": "c", "hostPath": {"path": str(used), "type": "DirectoryOrCreate"}}]},
        "status": {"phase": "Running"}})
    agent = CacheAgent(AgentConfig(node="n1", root=str(tmp_path)), kube=kube, clock=lambda: 1000.0 + 3601)
    agent.run_once()
    assert used.is_dir() and not idle.exists()
