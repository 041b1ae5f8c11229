"""The cache agent removes a pinned run's node-local workspace once its Workflow is over."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import config

from tests.kube_double.server import KubeDouble
from translator.agent import AgentConfig, CacheAgent, finished_workspaces, scan
from translator.api.setting_types import PipelineSettingSpec
from translator.compiler.compile import compile_text
from translator.compiler.context import ExecutionContext
from translator.kubeclient import Kube

G, V = "argoproj.io", "v1alpha1"


@pytest.fixture
def kube() -> Iterator[tuple[KubeDouble, Kube]]:
    with KubeDouble() as double:
        double.create_namespace("team")
        yield double, Kube(config.new_client_from_config(config_file=double.kubeconfig))


def _workspace(root: Path, run: int) -> Path:
    """Where the compiler puts run `run`'s workspace (its hostPath volume), made on disk."""
    setting = PipelineSettingSpec.model_validate({"argo": {"runForm": "pinned"}, "cache": {"hostPathRoot": str(root)}})
    wf = compile_text("stages:\n- name: s\n  steps:\n  - runScriptConfig: {image: a, shellScript: b}\n",
                      ExecutionContext(namespace="team", pipeline="web", run=run), setting).objects[0]
    path = Path(next(v["hostPath"]["path"] for v in wf["spec"]["volumes"] if v["name"] == "workspace"))
    (path / "source").mkdir(parents=True)
    (path / "source" / "main.go").write_text("package main\n")
    return path


def _workflow(kube: Kube, name: str, phase: str) -> None:
    body = kube.create("workflows", "team", {"apiVersion": f"{G}/{V}", "kind": "Workflow", "metadata": {"name": name},
                                             "spec": {"entrypoint": "p", "templates": []}}, group=G, version=V)
    body["status"] = {"phase": phase}
    kube.call(kube.custom.replace_namespaced_custom_object, G, V, "team", "workflows", name, body)


def test_a_finished_or_deleted_runs_workspace_is_removed_a_running_ones_kept(
        tmp_path: Path, kube: tuple[KubeDouble, Kube]) -> None:
    _, api = kube
    running, finished, failed, gone = (_workspace(tmp_path, n) for n in (1, 2, 3, 4))
    _workflow(api, "web-1", "Running")
    _workflow(api, "web-2", "Succeeded")
    _workflow(api, "web-3", "Failed")
    agent = CacheAgent(AgentConfig(node="n1", root=str(tmp_path)), kube=api)
    assert agent.remove_finished_workspaces() == 3
    assert running.exists() and not finished.exists() and not failed.exists() and not gone.exists()
    assert scan(str(tmp_path)) == []  # a workspace is never taken for a cache


def test_without_the_api_nothing_is_removed(tmp_path: Path) -> None:
    kept = _workspace(tmp_path, 1)
    assert CacheAgent(AgentConfig(node="n1", root=str(tmp_path))).remove_finished_workspaces() == 0
    assert kept.exists()


def test_the_decision_is_by_phase() -> None:
    dirs = [("team", "a", "/w/a"), ("team", "b", "/w/b"), ("team", "c", "/w/c"), ("team", "d", "/w/d")]
    phases = {"a": "Running", "b": "Error", "c": ""}
    assert finished_workspaces(dirs, lambda _ns, name: phases.get(name)) == ["/w/b", "/w/d"]
