"""Namespace preparation, metrics endpoints, the informer's relist, the simulator's fidelity."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from kubernetes import client, config

from tests.argo_sim import ArgoSimulator
from tests.controller.harness import System, wait_for
from tests.helpers import shared_path
from tests.kube_double.server import KubeDouble
from translator.controller import runs
from translator.controller.informer import Informer
from translator.controller.metrics import Metrics
from translator.kubeclient import Kube


@pytest.fixture
def double() -> Iterator[KubeDouble]:
    with KubeDouble(history_size=30) as kube:
        yield kube


def test_namespace_preparation_is_reconciled_continuously(double: KubeDouble) -> None:
    double.create_namespace("app-prod", {"devops.cubepaas.io/project": "team"})
    system = System(double)
    system.kube.patch("pipelinesettings", "team", "default", {"spec": {
        "logs": {"endpoint": "minio.example:9000", "bucket": "logs", "credentialsSecret": "minio"},
        "argo": {"serviceAccount": "builder"}}})
    system.start_controller()
    core, rbac = system.kube.core, system.kube.rbac
    try:
        wait_for(lambda: core.read_namespaced_service_account("builder", "team"), what="service account")
        wait_for(lambda: rbac.read_namespaced_role_binding("translator-deploy-team-builder", "app-prod"))
        binding = rbac.read_namespaced_role_binding("translator-deploy-team-builder", "app-prod")
        assert binding.role_ref.name == "edit" and binding.subjects[0].name == "builder"
        repo = wait_for(lambda: core.read_namespaced_config_map("artifact-repositories", "team"))
        s3 = yaml.safe_load(repo.data["translator-logs"])["s3"]
        assert s3["endpoint"] == "minio.example:9000" and s3["accessKeySecret"] == {"name": "minio", "key": "accesskey"}
        # someone deletes the service account: it comes back
        core.delete_namespaced_service_account("builder", "team")
        wait_for(lambda: core.read_namespaced_service_account("builder", "team"), what="re-created account")
        # a namespace joins the project, another leaves it
        core.create_namespace({"metadata": {"name": "app-dev", "labels": {"devops.cubepaas.io/project": "team"}}})
        wait_for(lambda: rbac.read_namespaced_role_binding("translator-deploy-team-builder", "app-dev"))
        core.patch_namespace("app-prod", {"metadata": {"labels": {"devops.cubepaas.io/project": None}}})

        def gone() -> bool:
            try:
                rbac.read_namespaced_role_binding("translator-deploy-team-builder", "app-prod")
                return False
            except client.ApiException as exc:
                return exc.status == 404

        wait_for(gone, what="the binding to leave with the namespace")
    finally:
        system.close()


def test_metrics_health_and_readiness(double: KubeDouble) -> None:
    system = System(double)
    metrics = Metrics()
    server = metrics.serve(0, host="127.0.0.1")
    port = server.server_address[1]

    def get(path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}") as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    try:
        assert get("/healthz") == (200, "ok\n")
        assert get("/readyz")[0] == 503
        from translator.controller.manager import Controller, ControllerConfig

        ctrl = Controller(system.kube, ControllerConfig(), metrics=metrics)
        metrics.watch_states(lambda: {"Success": sum(
            (o.get("status") or {}).get("executionState") == "Success" for o in ctrl.executions.items())})
        ctrl.start()
        system.controller = ctrl
        assert get("/readyz")[0] == 200
        system.apply_pipeline("web")
        runs.create_run(system.kube, "team", "web")
        system.wait_state("web-1", "Success")
        code, text = get("/metrics")
        assert code == 200
        assert 'translator_executions{state="Success"} 1.0' in text
        assert "translator_runs_admitted_total 1.0" in text
        assert "translator_status_sync_lag_seconds_count" in text
        assert "translator_reconcile_duration_seconds_count" in text
    finally:
        server.shutdown()
        system.close()


def test_informer_relists_after_410_and_keeps_up(double: KubeDouble) -> None:
    double.create_namespace("team")
    kube = Kube(config.new_client_from_config(config_file=double.kubeconfig))
    seen: list[tuple[str, str]] = []
    inf = Informer(kube, plural="configmaps", group="", version="v1", core_kind="config_map",
                   handler=lambda k, o: seen.append((k, o["metadata"]["name"])), watch_timeout=1).start()
    try:
        assert inf.synced.wait(5)
        kube.core.create_namespaced_config_map("team", {"metadata": {"name": "first"}})
        wait_for(lambda: inf.get("team", "first"))
        # make the informer's resourceVersion expire while its watch is closed (timeout 1 s)
        time.sleep(1.2)
        for i in range(40):
            kube.core.create_namespaced_config_map("team", {"metadata": {"name": f"burst-{i}"}})
        kube.core.delete_namespaced_config_map("first", "team")
        wait_for(lambda: inf.get("team", "burst-39") and inf.get("team", "first") is None, timeout=10)
        assert len(inf.items("team")) == 40
        assert ("DELETED", "first") in seen
    finally:
        inf.stop()


def _shape(node: dict[str, Any]) -> set[str]:
    return set(node) - {"outputs", "inputs", "templateScope", "resourcesDuration", "progress", "hostNodeName",
                        "message", "children", "finishedAt", "boundaryID"}


def test_simulator_writes_what_the_real_controller_writes(double: KubeDouble) -> None:
    """Node fields, types, naming and phases match ../shared/argo/status-samples."""
    real_nodes = []
    for path in sorted(shared_path("argo", "status-samples").glob("*.yaml")):
        real_nodes += list(yaml.safe_load(path.read_text())["status"]["nodes"].values())
    real_keys = set().union(*(_shape(n) for n in real_nodes))
    real_types = {n["type"] for n in real_nodes}
    system = System(double, setting={"argo": {"runForm": "pinned"}})  # the samples are DAGs of pods
    system.sim.outcome = lambda _wf, task: "Failed" if task == "build-1" else "Succeeded"
    system.start_controller()
    try:
        system.apply_pipeline("web")
        runs.create_run(system.kube, "team", "web")
        system.wait_state("web-1", "Failed")
        wf = system.workflows()[0]
        nodes = list(wf["status"]["nodes"].values())
        for node in nodes:
            assert _shape(node) <= real_keys, _shape(node) - real_keys
            assert node["type"] in real_types
            if node["type"] != "DAG":
                assert node["name"] == f"web-1.{node['displayName']}"
                assert node["boundaryID"] == "web-1"
        assert {n["phase"] for n in nodes} <= {"Running", "Succeeded", "Failed", "Omitted", "Skipped", "Error"}
        assert any(n["type"] == "Skipped" and n["phase"] == "Omitted" for n in nodes)
        assert wf["status"]["phase"] == "Failed"
    finally:
        system.close()


def test_simulator_is_usable_alone(double: KubeDouble) -> None:
    double.create_namespace("ns")
    sim = ArgoSimulator(double, step_seconds=0.01).start()
    try:
        store = double.store
        store.create(store.resource("argoproj.io", "workflows"), "ns", {
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "w"}, "spec": {
            "entrypoint": "p", "templates": [{"name": "p", "dag": {"tasks": [
                {"name": "a", "template": "a"}, {"name": "b", "template": "a", "dependencies": ["a"],
                                                 "when": "false"}]}}, {"name": "a", "container": {"image": "x"}}]}})
        done = wait_for(lambda: (w := store.get(store.resource("argoproj.io", "workflows"), "ns", "w"))
                        .get("status", {}).get("phase") == "Succeeded" and w)
        phases = {n["displayName"]: n["phase"] for n in done["status"]["nodes"].values()}
        assert phases == {"w": "Succeeded", "a": "Succeeded", "b": "Skipped"}
        assert json.dumps(done)  # plain JSON, as the API serves it
    finally:
        sim.stop()
