"""The controller under crashes, API faults and leader loss: every run still converges."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import config
from kubernetes.client import ApiException

from tests.controller.harness import System, wait_for
from tests.kube_double.server import KubeDouble
from translator.controller import runs
from translator.controller.leader import LeaderElector
from translator.controller.manager import Controller, ControllerConfig
from translator.kubeclient import Kube


class Crash(Exception):
    """The process died here."""


class CrashingKube(Kube):
    """A Kube whose calls die at random, like a process killed mid-reconcile."""

    rate: float = 0.0
    crashed: threading.Event

    def call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if self.rate and random.random() < self.rate:
            self.crashed.set()
            raise Crash("killed")
        if self.crashed.is_set():
            raise Crash("dead")  # a dead process makes no more calls
        return super().call(fn, *args, **kwargs)


@pytest.fixture
def double() -> Iterator[KubeDouble]:
    with KubeDouble(history_size=20000) as kube:
        yield kube


def _all_done(system: System, names: list[str], state: str = "Success") -> bool:
    items = {e["metadata"]["name"]: e for e in system.kube.list("pipelineexecutions", system.namespace)["items"]}
    return all((items.get(n, {}).get("status") or {}).get("executionState") == state for n in names)


def _check_runs(system: System, names: list[str]) -> None:
    workflows = [w["metadata"]["name"] for w in system.workflows()]
    assert sorted(workflows) == sorted(names), "one Workflow per execution, none duplicated or missing"
    for name in names:
        ex = system.execution(name)
        for stage in ex["status"]["stages"]:
            assert stage["state"] == "Success", (name, stage)
            assert all(s["state"] == "Success" for s in stage["steps"])


def test_controller_killed_at_random_points_across_50_runs(double: KubeDouble) -> None:
    random.seed(5)
    system = System(double, quota=10, step_seconds=0.02)
    system.apply_pipeline("web")
    api_client = config.new_client_from_config(config_file=double.kubeconfig)
    restarts = 0
    names = [f"web-{i}" for i in range(1, 51)]
    try:
        def start() -> tuple[Controller, CrashingKube]:
            kube = CrashingKube(api_client)
            kube.crashed = threading.Event()
            ctrl = Controller(kube, ControllerConfig(workers=4)).start()
            kube.rate = 0.03 if restarts <= 40 else 0.0  # after 40 deaths, let it finish
            return ctrl, kube

        ctrl, kube = start()
        for _ in names:
            runs.create_run(system.kube, "team", "web")
        deadline = time.monotonic() + 120
        while not _all_done(system, names) and time.monotonic() < deadline:
            if kube.crashed.wait(timeout=0.05):
                ctrl.stop()
                restarts += 1
                ctrl, kube = start()
        ctrl.stop()
        states = {e["metadata"]["name"]: (e.get("status") or {}).get("executionState")
                  for e in system.kube.list("pipelineexecutions", "team")["items"]}
        assert _all_done(system, names), f"an execution got stuck: {states}"
        assert restarts >= 5, f"only {restarts} crashes: the test did not test much"
        _check_runs(system, names)
        assert system.kube.get("pipelines", "team", "web")["status"]["nextRun"] == 51
    finally:
        system.close()


def test_ten_percent_of_api_calls_failing_still_converges(double: KubeDouble) -> None:
    system = System(double, quota=5, step_seconds=0.02)
    system.apply_pipeline("web")
    names = []
    for _ in range(15):
        names.append(runs.create_run(system.kube, "team", "web")["metadata"]["name"])
    double.faults.rate = 0.10
    double.faults.codes = (409, 500)
    system.start_controller()
    try:
        wait_for(lambda: _all_done(system, names), timeout=90, what="every run to succeed under faults")
        assert double.faults.injected > 20
        double.faults.rate = 0.0
        _check_runs(system, names)
    finally:
        double.faults.rate = 0.0
        system.close()


class ConflictOnFirstWorkflowCreate(Kube):
    """The first Workflow create of an execution answers 409 and stores nothing, so the engine's
    read-back finds no Workflow (404): the submit fails with no EngineError, after admission."""

    refused: set[str]

    def create(self, plural: str, namespace: str, body: dict[str, Any], **kw: Any) -> dict[str, Any]:
        name = str(body["metadata"].get("name", ""))
        if plural == "workflows" and name not in self.refused:
            self.refused.add(name)
            raise ApiException(status=409, reason="Conflict")
        result: dict[str, Any] = super().create(plural, namespace, body, **kw)
        return result


def test_a_submit_that_fails_after_admission_is_retried_in_its_own_slot(double: KubeDouble) -> None:
    # quota 1: the retried execution used to count its own reservation as the run in its way,
    # stayed Queueing for good, and held the namespace's only slot
    system = System(double, quota=1, step_seconds=0.02)
    system.apply_pipeline("web")
    names = [runs.create_run(system.kube, "team", "web")["metadata"]["name"] for _ in range(3)]
    kube = ConflictOnFirstWorkflowCreate(config.new_client_from_config(config_file=double.kubeconfig))
    kube.refused = set()
    system.controller = Controller(kube, ControllerConfig(workers=4)).start()
    try:
        wait_for(lambda: _all_done(system, names), timeout=30, what="every run to succeed after its refused submit")
        assert kube.refused == set(names), "each execution's first Workflow create was refused"
        _check_runs(system, names)
    finally:
        system.close()


class ConflictOnFirstAccountCreate(Kube):
    """The first create of the step pods' service account answers 409 and stores nothing."""

    refused: int = 0

    def call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(fn, "__name__", "") == "create_namespaced_service_account" and not self.refused:
            self.refused += 1
            raise ApiException(status=409, reason="Conflict")
        return super().call(fn, *args, **kwargs)


def test_a_conflict_that_created_no_service_account_is_retried(double: KubeDouble) -> None:
    # the namespace preparation took the 409 for "already exists": the account was never made,
    # and every run waited for it (ServiceAccountNotFound) until its provision deadline
    system = System(double, quota=2, step_seconds=0.02)
    system.apply_pipeline("web")
    names = [runs.create_run(system.kube, "team", "web")["metadata"]["name"] for _ in range(2)]
    kube = ConflictOnFirstAccountCreate(config.new_client_from_config(config_file=double.kubeconfig))
    system.controller = Controller(kube, ControllerConfig(workers=4)).start()
    try:
        wait_for(lambda: _all_done(system, names), timeout=30, what="the runs to succeed once the account is made")
        assert kube.refused == 1
        system.kube.core.read_namespaced_service_account("pipeline", "team")
    finally:
        system.close()


def test_standby_takes_over_when_the_leader_is_lost(double: KubeDouble) -> None:
    double.create_namespace("translator-system")
    system = System(double, quota=4, step_seconds=0.3)
    system.apply_pipeline("web")
    api_client = config.new_client_from_config(config_file=double.kubeconfig)

    def replica(identity: str) -> tuple[LeaderElector, threading.Thread, list[Controller]]:
        kube = Kube(api_client)
        elector = LeaderElector(kube, namespace="translator-system", name="translator-controller",
                                identity=identity, lease_seconds=3, renew_seconds=0.3)
        current: list[Controller] = []
        thread = threading.Thread(
            target=elector.run, daemon=True,
            args=(lambda: current.append(Controller(kube, ControllerConfig()).start()),
                  lambda: current.pop().stop() if current else None))
        thread.start()
        return elector, thread, current

    first = replica("a")
    wait_for(lambda: first[0].leading.is_set(), what="a to lead")
    second = replica("b")
    names = [runs.create_run(system.kube, "team", "web")["metadata"]["name"] for _ in range(6)]
    wait_for(lambda: any(system.state(n) == "Building" for n in names))
    # the leader dies: no more renewals, its controller gone
    lost_at = time.monotonic()
    first[0].stop()
    first[1].join(timeout=5)
    wait_for(lambda: second[0].leading.is_set(), timeout=15, what="b to take over")
    took = time.monotonic() - lost_at
    try:
        wait_for(lambda: _all_done(system, names), timeout=60, what="the standby to finish every run")
        assert took < 15
        _check_runs(system, names)
        lease = system.kube.coordination.read_namespaced_lease("translator-controller", "translator-system")
        assert lease.spec.holder_identity == "b" and lease.spec.lease_transitions == 1
    finally:
        second[0].stop()
        second[1].join(timeout=5)
        system.close()


def test_unknown_engine_is_a_condition_not_a_crash(double: KubeDouble) -> None:
    system = System(double, engine="tekton")
    system.start_controller()
    try:
        system.apply_pipeline("web")
        runs.create_run(system.kube, "team", "web")
        ex = system.wait_state("web-1", "Failed")
        cond = next(c for c in ex["status"]["conditions"] if c["type"] == "Provisioned")
        assert cond["reason"] == "UnknownEngine" and "'tekton'" in cond["message"]
    finally:
        system.close()


def test_no_requests_at_idle_beyond_the_watches(double: KubeDouble) -> None:
    system = System(double)
    system.start_controller()
    try:
        system.apply_pipeline("web")
        runs.create_run(system.kube, "team", "web")
        system.wait_state("web-1", "Success")
        time.sleep(0.5)
        before = dict(double.requests)
        time.sleep(2.0)
        after = dict(double.requests)
        calls = after.get("GET call", 0) + double.writes() - before.get("GET call", 0) - sum(
            v for k, v in before.items() if k.split()[0] in ("POST", "PUT", "PATCH", "DELETE"))
        assert calls == 0, (before, after)
    finally:
        system.close()


def test_a_setting_that_cannot_be_used_is_a_condition(double: KubeDouble) -> None:
    system = System(double)
    # the CRD refuses `executorQuota: lots` (422), but a setting stored under an older schema is
    # served as it is: the controller must cope with what it cannot parse
    setting = double.store.resource("devops.cubepaas.io", "pipelinesettings")
    double.store.rewrite_stored(setting, "team", "default", lambda o: o["spec"].update(executorQuota="lots"))
    system.start_controller()
    try:
        system.apply_pipeline("web")
        system.kube.create("pipelineexecutions", "team", {
            "apiVersion": "devops.cubepaas.io/v1alpha1", "kind": "PipelineExecution",
            "metadata": {"name": "web-1"}, "spec": {"pipelineName": "web", "run": 1}})
        ex = system.wait_state("web-1", "Failed")
        cond = next(c for c in ex["status"]["conditions"] if c["type"] == "Provisioned")
        assert cond["reason"] == "InvalidSetting" and "executorQuota" in cond["message"]
    finally:
        system.close()
