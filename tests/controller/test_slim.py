"""What the informer caches hold: paged lists, no apply bookkeeping, finished executions compact
and still enough for every decision made from them, Workflows of finished runs metadata only."""

from __future__ import annotations

import json
from typing import Any

from kubernetes import config

from tests.controller.harness import SIMPLE, System
from tests.controller.test_finished import NOTIFY_ON_FAILURE, finished
from tests.kube_double.server import KubeDouble
from translator.controller import runs, slim
from translator.controller.finish import pending
from translator.controller.index import entry_of
from translator.controller.informer import Informer
from translator.kubeclient import GROUP, VERSION, Kube


def _full(name: str, run: int, **kw: Any) -> dict[str, Any]:
    obj = finished(name, run, **kw)
    obj["metadata"].update(namespace="team", uid=f"uid-{name}", resourceVersion="42",
                           creationTimestamp="2026-01-01T00:00:00Z", managedFields=[{"manager": "kubectl"}] * 20,
                           annotations={slim.LAST_APPLIED: "{" + "x" * 5000 + "}", runs.STOP_ANNOTATION: "ann"})
    obj["status"]["stages"] = [{"name": f"s{i}", "state": "Success", "steps": [
        {"state": "Success", "log": f"team/web/{run}/{i}/{j}/main.log", "started": "t", "ended": "t"}
        for j in range(3)]} for i in range(4)]
    obj["status"]["engineRef"] = {"engine": "jenkins", "jenkinsJob": f"team-{name}", "jenkinsBuild": 1}
    return obj


def test_a_finished_execution_is_kept_compact_with_what_is_read_of_it() -> None:
    full = _full("web-2", 2, state="Failed", notification=NOTIFY_ON_FAILURE)
    cached = slim.execution(full)
    assert isinstance(cached, slim.Frozen) and len(cached.data) < len(json.dumps(full)) / 10
    compact = cached.thaw()
    assert slim.is_compact(compact) and not slim.is_compact(full)
    assert "managedFields" not in compact["metadata"] and slim.LAST_APPLIED not in compact["metadata"]["annotations"]
    assert compact["metadata"]["annotations"][runs.STOP_ANNOTATION] == "ann"
    assert entry_of(compact) == entry_of(full), "the index reads the same from both"
    for previous in (None, "Success", "Failed"):
        assert pending(compact, lambda p=previous: p) == pending(full, lambda p=previous: p)
    assert compact["status"]["engineRef"] == full["status"]["engineRef"]  # history pruning deletes the job
    # a live one is kept whole, less the apply bookkeeping
    live = {**full, "status": {"executionState": "Building"}}
    kept = slim.execution(live)
    assert isinstance(kept, dict) and kept["spec"] == live["spec"] and "managedFields" not in kept["metadata"]


def test_a_handler_gets_the_received_version_without_expanding_the_compact_copy_of_it() -> None:
    full = _full("web-2", 2, state="Failed", notification=NOTIFY_ON_FAILURE)
    full["metadata"].update(uid="u2", resourceVersion="40")
    informer = Informer(Kube.__new__(Kube), plural="pipelineexecutions", group=GROUP, version=VERSION,
                        slim=slim.execution)
    assert informer.newest(full) is None
    informer.cache[("team", "web-2")] = slim.execution(full)
    assert slim.meta_of(informer.cache[("team", "web-2")]) == {"uid": "u2", "resourceVersion": "40"}
    assert informer.newest(full) is full  # that very version: no expansion
    older = {**full, "metadata": {**full["metadata"], "resourceVersion": "39"}}
    got = informer.newest(older)  # the cache holds a later version (our own write): that one
    assert got is not None and got["metadata"]["resourceVersion"] == "40" and slim.is_compact(got)


def test_the_informer_lists_in_pages_and_caches_compact_objects() -> None:
    with KubeDouble() as double:
        double.create_namespace("team")
        kube = Kube(config.new_client_from_config(config_file=double.kubeconfig))
        for run in range(1, 11):
            body = finished(f"web-{run}", run)
            status = body.pop("status")
            made = kube.create("pipelineexecutions", "team", body)
            kube.replace_status("pipelineexecutions", "team", made["metadata"]["name"], {**made, "status": status})
        double.log_requests = True
        seen: list[str] = []
        informer = Informer(kube, plural="pipelineexecutions", group=GROUP, version=VERSION, page_size=3,
                            slim=slim.execution, handler=lambda _k, o: seen.append(o["metadata"]["name"]))
        informer.start()
        try:
            assert informer.synced.wait(10)
            lists = [p for m, p in double.request_log if m == "GET" and "watch=" not in p]
            assert len(lists) == 4 and all("limit=3" in p for p in lists) and all("continue=" in p for p in lists[1:])
            assert len(informer) == 10 and sorted(seen) == sorted(f"web-{r}" for r in range(1, 11))
            assert all(isinstance(v, slim.Frozen) for v in informer.cache.values())
            assert (informer.get("team", "web-3") or {})["status"]["executionState"] == "Success"
        finally:
            informer.stop()


def test_a_finished_runs_workflow_shrinks_to_its_metadata() -> None:
    with KubeDouble() as double:
        system = System(double, step_seconds=0.02)
        ctrl = system.start_controller()
        try:
            system.apply_pipeline("web", SIMPLE)
            name = runs.create_run(system.kube, "team", "web")["metadata"]["name"]
            system.wait_state(name, "Success")
            cached = ctrl.workflows.cache[("team", name)]
            assert isinstance(cached, slim.Frozen) and set(cached.thaw()) <= {"apiVersion", "kind", "metadata"}
            assert isinstance(ctrl.executions.cache[("team", name)], slim.Frozen)
            assert ctrl.states() == {"Success": 1}
        finally:
            system.close()


def test_a_compact_execution_tells_the_commit_reporter_what_the_whole_one_does() -> None:
    from datetime import UTC, datetime

    from translator.controller.commit_status import Reporter

    pipeline = {"spec": {"sourceCodeCredentialName": "gh"}}
    credential = {"spec": {"sourceCodeType": "github"}}
    reporter = Reporter(None, ui_url="", identity="me", clock=lambda: datetime(2026, 1, 1, tzinfo=UTC),  # type: ignore[arg-type]
                        pipeline=lambda _ns, _n: pipeline, credential=lambda _ns, _n: credential,
                        requeue=lambda _ns, _n, _d: None)
    try:
        full = _full("web-3", 3)
        full["spec"]["commit"] = "a" * 40
        due = reporter.due(full)
        assert due is not None and due.phase == "Final"
        compact = slim.execution(full).thaw()  # type: ignore[union-attr]
        assert slim.is_compact(compact) and compact["spec"]["commit"] == "a" * 40
        assert reporter.due(compact) is not None, "a restart before the final report still reports it"
        claimed = {"type": "Reported", "status": "Unknown", "reason": "Reporting", "message": "claimed by other",
                   "lastUpdateTime": "2026-01-01T00:00:00Z"}
        full["status"]["conditions"].append(claimed)
        compact = slim.execution(full).thaw()  # type: ignore[union-attr]
        assert compact["status"]["conditions"][-1] == claimed, "the claim's holder and time are kept"
        assert reporter.due(compact) is None and reporter.due(full) is None  # a fresh claim of another's
        full["status"]["conditions"][-1] = {"type": "Reported", "status": "True", "reason": "Reported"}
        assert reporter.due(slim.execution(full).thaw()) is None  # type: ignore[union-attr]
    finally:
        reporter.stop()
