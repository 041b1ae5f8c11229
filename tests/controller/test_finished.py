"""Finished is finished: an execution whose status is final and whose finish actions are done
costs no request, no write and no reconcile when it is listed (a new leader) or resynced."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.controller.harness import SIMPLE, G, System, V, wait_for
from tests.kube_double.server import KubeDouble
from translator.controller.finish import needs_notify, pending
from translator.controller.reconcilers.execution import ExecutionReconciler

NOTIFY_ON_FAILURE = {"recipients": [{"recipient": "http://127.0.0.1:9/hook", "notifier": "hook"}],
                     "condition": ["Failed"]}


def finished(name: str, run: int, state: str = "Success", *, notification: dict[str, Any] | None = None,
             notified: bool = False) -> dict[str, Any]:
    config = {**SIMPLE, **({"notification": notification} if notification else {})}
    conditions = [{"type": "Initialized", "status": "True", "reason": "Initialized"},
                  {"type": "Built", "status": "True" if state == "Success" else "False", "reason": state}]
    if notified:
        conditions.append({"type": "Notified", "status": "True", "reason": "Sent"})
    return {"apiVersion": f"{G}/{V}", "kind": "PipelineExecution",
            "metadata": {"name": name, "labels": {"devops.cubepaas.io/pipeline": "web"}},
            "spec": {"pipelineName": "web", "run": run, "pipelineConfig": config},
            "status": {"executionState": state, "started": "2024-01-01T00:00:00Z", "ended": "2024-01-01T00:01:00Z",
                       "conditions": conditions, "stages": []}}


def test_the_pure_rule_needs_only_the_cached_object() -> None:
    assert not pending(finished("web-1", 1), lambda: None)
    assert pending({**finished("web-1", 1), "status": {"executionState": "Building"}}, lambda: None)
    failed = finished("web-2", 2, "Failed", notification=NOTIFY_ON_FAILURE)
    assert needs_notify(failed, lambda: None) and pending(failed, lambda: None)
    assert not pending(finished("web-2", 2, "Failed", notification=NOTIFY_ON_FAILURE, notified=True), lambda: None)
    assert not pending(finished("web-3", 3, "Success", notification=NOTIFY_ON_FAILURE), lambda: "Success")
    changed = {**NOTIFY_ON_FAILURE, "condition": ["Changed"]}
    assert needs_notify(finished("web-4", 4, "Success", notification=changed), lambda: "Failed")
    assert not needs_notify(finished("web-4", 4, "Success", notification=changed), lambda: "Success")


@pytest.fixture
def settled() -> Iterator[System]:
    """A namespace with 60 finished executions, settled by a first controller that is then stopped."""
    with KubeDouble() as double:
        system = System(double)
        system.apply_pipeline("web")
        for run in range(1, 61):
            body = finished(f"web-{run}", run, "Failed" if run % 3 == 0 else "Success",
                            notification=NOTIFY_ON_FAILURE if run % 2 == 0 else None, notified=run % 6 == 0)
            status = body.pop("status")
            created = system.kube.create("pipelineexecutions", "team", body)
            system.kube.replace_status("pipelineexecutions", "team", created["metadata"]["name"],
                                       {**created, "status": status})
        system.kube.patch("pipelines", "team", "web", {"status": {"nextRun": 61}})
        system.start_controller()
        system.pipeline_when("web", lambda s: s.get("lastExecutionId") == "web-60")
        time.sleep(1.0)
        system.stop_controller()
        try:
            yield system
        finally:
            system.close()


def _execution_requests(double: KubeDouble) -> list[tuple[str, str]]:
    """Requests on executions other than the list and the watch (a collection GET)."""
    return [(m, p) for m, p in double.request_log
            if "pipelineexecutions" in p and not (m == "GET" and p.split("?")[0].endswith("/pipelineexecutions"))]


def test_a_new_leader_lists_finished_executions_without_a_request_or_a_reconcile(
        settled: System, monkeypatch: pytest.MonkeyPatch) -> None:
    reconciled: list[str] = []
    real = ExecutionReconciler.reconcile
    monkeypatch.setattr(ExecutionReconciler, "reconcile",
                        lambda self, ns, name: (reconciled.append(name), real(self, ns, name))[1])
    double = settled.double
    double.request_log.clear()
    double.log_requests = True
    writes = double.writes()
    controller = settled.start_controller()
    wait_for(lambda: controller.metrics.ready and len(controller.queue) == 0, what="the controller to settle")
    time.sleep(1.0)
    assert _execution_requests(double) == []
    assert double.writes() == writes, "no write for a settled history"
    assert reconciled == [], "a finished execution with its finish actions done is not even queued"
    assert controller.index.newest("team", "web") == "web-60" and len(controller.index) == 60

    # a resync (any change that is not the status, here a label) costs nothing either
    double.log_requests = False
    for run in (1, 2, 3):
        settled.kube.patch("pipelineexecutions", "team", f"web-{run}", {"metadata": {"labels": {"seen": "yes"}}})
    wait_for(lambda: all((controller.executions.get("team", f"web-{r}") or {}).get("metadata", {})
                         .get("labels", {}).get("seen") for r in (1, 2, 3)), what="the label changes")
    double.request_log.clear()
    double.log_requests = True
    writes = double.writes()
    time.sleep(1.0)
    assert _execution_requests(double) == [] and double.writes() == writes and reconciled == []


def test_a_finished_run_still_owed_its_notification_is_reconciled(settled: System,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The ones that are not settled yet (a Failed run whose notification was never claimed) are."""
    reconciled: list[str] = []
    real = ExecutionReconciler.reconcile
    monkeypatch.setattr(ExecutionReconciler, "reconcile",
                        lambda self, ns, name: (reconciled.append(name), real(self, ns, name))[1])
    body = finished("web-61", 61, "Failed", notification=NOTIFY_ON_FAILURE)
    status = body.pop("status")
    created = settled.kube.create("pipelineexecutions", "team", body)
    settled.kube.replace_status("pipelineexecutions", "team", "web-61", {**created, "status": status})
    settled.start_controller()
    wait_for(lambda: any(c["type"] == "Notified" for c in settled.execution("web-61")["status"]["conditions"]),
             what="web-61 to be notified")
    assert "web-61" in reconciled
    assert "web-60" not in reconciled and "web-1" not in reconciled
