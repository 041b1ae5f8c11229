"""A running system for tests: the API double, the real controller, the Argo simulator."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kubernetes import config

from tests.argo_sim import ArgoSimulator
from tests.kube_double.server import KubeDouble
from translator.controller.manager import Controller, ControllerConfig
from translator.kubeclient import Kube

G, V = "devops.cubepaas.io", "v1alpha1"

SIMPLE = {
    "stages": [
        {"name": "Build", "steps": [
            {"runScriptConfig": {"image": "alpine", "shellScript": "make"}},
            {"runScriptConfig": {"image": "alpine", "shellScript": "make lint"}}]},
        {"name": "Ship", "steps": [{"runScriptConfig": {"image": "alpine", "shellScript": "make ship"}}]},
    ],
}


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except Exception as exc:  # the object may not exist yet
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


class System:
    def __init__(self, kube: KubeDouble, *, namespace: str = "team", quota: int = 2, engine: str | None = None,
                 workers: int = 4, setting: dict[str, Any] | None = None, **sim: Any) -> None:
        self.double = kube
        self.namespace = namespace
        kube.create_namespace(namespace)
        self.kube = Kube(config.new_client_from_config(config_file=kube.kubeconfig))
        spec: dict[str, Any] = {"executorQuota": quota}
        if engine:
            spec["engine"] = engine
        spec.update(setting or {})
        self.kube.create("pipelinesettings", namespace, {"apiVersion": f"{G}/{V}", "kind": "PipelineSetting",
                                                         "metadata": {"name": "default"}, "spec": spec})
        self.sim = ArgoSimulator(kube, **sim).start()
        self.workers = workers
        self.controller: Controller | None = None

    def start_controller(self, **cfg: Any) -> Controller:
        self.controller = Controller(self.kube, ControllerConfig(workers=self.workers, **cfg)).start()
        return self.controller

    def stop_controller(self) -> None:
        if self.controller:
            self.controller.stop()
            self.controller = None

    def close(self) -> None:
        self.stop_controller()
        self.sim.stop()

    # objects
    def apply_pipeline(self, name: str, config: dict[str, Any] | None = None, *, inline: bool = True,
                       **spec: Any) -> dict[str, Any]:
        """A Pipeline; `inline=False` leaves out `config` (the file is read from the repository)."""
        body: dict[str, Any] = {"apiVersion": f"{G}/{V}", "kind": "Pipeline", "metadata": {"name": name},
                                "spec": {"repositoryUrl": f"https://git.example.com/{name}.git",
                                         "config": config if config is not None else SIMPLE, **spec}}
        if not inline:
            del body["spec"]["config"]
        return self.kube.create("pipelines", self.namespace, body)

    def execution(self, name: str) -> dict[str, Any]:
        return self.kube.get("pipelineexecutions", self.namespace, name)

    def state(self, name: str) -> str:
        return (self.execution(name).get("status") or {}).get("executionState", "")

    def wait_state(self, name: str, *states: str, timeout: float = 15.0) -> dict[str, Any]:
        return wait_for(lambda: self.execution(name) if self.state(name) in states else None, timeout,
                        f"{name} to be {'/'.join(states)}")

    def pipeline_when(self, name: str, check: Callable[[dict[str, Any]], Any], timeout: float = 10.0) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            pipeline = self.kube.get("pipelines", self.namespace, name)
            return pipeline if check(pipeline.get("status") or {}) else None

        return wait_for(probe, timeout, f"pipeline {name}")

    def secret(self, name: str, data: dict[str, str]) -> None:
        self.kube.call(self.kube.core.create_namespaced_secret, self.namespace,
                       {"metadata": {"name": name}, "stringData": data})

    def workflows(self) -> list[dict[str, Any]]:
        return self.kube.list("workflows", self.namespace, group="argoproj.io", version="v1alpha1")["items"]
