"""The UI's page models: pure functions of the objects the API server returned."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from translator.ui import views
from translator.ui.index import RunIndex

NOW = datetime(2026, 5, 1, 12, 0, 30, tzinfo=UTC)
CONFIG = {"stages": [
    {"name": "Build", "steps": [{"runScriptConfig": {"image": "golang:1.22", "shellScript": "\n  go build ./...\n"}},
                                {"publishImageConfig": {"tag": "me/app:1", "dockerfilePath": "./Dockerfile"}}]},
    {"name": "Deploy", "steps": [{"applyYamlConfig": {"path": "deploy.yaml"}}]},
]}


def no_queue() -> tuple[int, int]:
    return 0, 0


def _ex(name: str, state: str = "Waiting", *, run: int = 1, created: str = "2026-05-01T12:00:00Z",
        **status: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "team", "creationTimestamp": created},
            "spec": {"pipelineName": "web", "run": run, "branch": "main", "pipelineConfig": CONFIG},
            "status": {"executionState": state, **status}}


def test_the_grid_has_the_implicit_clone_stage_and_names_steps_by_what_they_do() -> None:
    ex = _ex("web-1", "Building", stages=[
        {"name": "Clone", "state": "Success", "started": "2026-05-01T12:00:00Z", "ended": "2026-05-01T12:00:05Z",
         "steps": [{"state": "Success", "started": "2026-05-01T12:00:00Z", "ended": "2026-05-01T12:00:05Z"}]},
        {"name": "Build", "state": "Building", "steps": [
            {"state": "Building", "started": "2026-05-01T12:00:06Z"},
            {"state": "Skipped", "message": "reused from run 3"}]},
        {"name": "Deploy", "steps": [{}]}])
    grid = views.grid(ex, NOW)
    assert [c.name for c in grid] == ["Clone", "Build", "Deploy"]
    clone, build, deploy = grid
    assert clone.steps[0].label == "Clone" and clone.duration == "5s"
    assert build.steps[0].label == "golang:1.22: go build ./..." and build.steps[0].duration == "24s"  # running
    assert build.steps[1].label == "Publish image me/app:1" and build.steps[1].note == "reused from run 3"
    assert deploy.steps[0].label == "Apply YAML deploy.yaml" and deploy.steps[0].state == "Waiting"
    assert [s.index for s in build.steps] == [1, 2]  # as `translator logs --step` counts


def test_a_queued_run_says_how_many_wait_ahead() -> None:
    runs = [_ex("web-1", "Building"), _ex("web-2", "Queueing", run=2, created="2026-05-01T12:00:01Z"),
            _ex("web-3", "Queueing", run=3, created="2026-05-01T12:00:02Z"),
            _ex("web-4", "Queueing", run=4, created="2026-05-01T12:00:03Z")]
    index = RunIndex(runs)
    notice = views.notices(runs[3], lambda: index.queue("web-4"))[0]
    assert notice.level == "warn" and notice.text.startswith("Queued behind 2 run(s): 1 running")
    assert index.queue("web-2") == (0, 1) and index.queue("web-1") == (0, 1)  # a running run waits behind none
    index.put(_ex("web-2", "Building", run=2, created="2026-05-01T12:00:01Z"))  # admitted: the others move up
    assert index.queue("web-4") == (1, 2)
    asked: list[str] = []

    def queue() -> tuple[int, int]:
        asked.append("queue")
        return 0, 0

    views.notices(runs[0], queue)
    assert asked == []  # a run that is not queued never asks for the queue


def test_cache_waits_cold_runs_and_an_unreachable_engine_are_shown() -> None:
    waiting = _ex("web-1", "Building", conditions=[{"type": "Cached", "status": "Unknown", "reason": "WaitingForCache",
                                                    "message": "waiting up to 120 s for node-a"}])
    assert views.notices(waiting, no_queue)[0].text == "Waiting for a cache holder: waiting up to 120 s for node-a"
    cold = _ex("web-1", "Success", conditions=[{"type": "Cached", "status": "False", "reason": "RanCold",
                                                "message": "no node holding the cache could take it"}])
    assert views.notices(cold, no_queue)[0].text.startswith("Ran cold:")
    lost = _ex("web-1", "Building", conditions=[{"type": "Provisioned", "status": "False",
                                                 "reason": "JenkinsUnreachable",
                                                 "message": "connection refused; asking again"}])
    notice = views.notices(lost, no_queue)[0]
    assert notice.level == "error" and notice.text.startswith("Engine unreachable (JenkinsUnreachable)")


def test_engine_links_come_from_the_argo_url_and_the_jenkins_setting() -> None:
    argo = _ex("web-1", "Building", engineRef={"engine": "argo", "workflowName": "web-1", "workflowNamespace": "ci"})
    assert views.engine_link(argo, None, "https://argo.example.com/") == (
        "argo", "Workflow ci/web-1", "https://argo.example.com/workflows/ci/web-1")
    assert views.engine_link(argo, None, "")[2] == ""  # no Argo UI configured: no link
    jenkins = _ex("web-1", "Building", engineRef={"engine": "jenkins", "jenkinsJob": "team-web-1", "jenkinsBuild": 4})
    setting = {"spec": {"jenkins": {"url": "https://jenkins.example.com"}}}
    assert views.engine_link(jenkins, setting, "") == ("jenkins", "Jenkins job team-web-1 #4",
                                                       "https://jenkins.example.com/job/team-web-1/4/")
    deployed = "https://ci.example.com/jenkins/{namespace}/"  # --jenkins-url: the Jenkins the controller deploys
    assert views.engine_link(jenkins, None, "", deployed)[2] == "https://ci.example.com/jenkins/team/job/team-web-1/4/"
    assert views.engine_link(jenkins, {"spec": {"jenkins": {}}}, "", "http://127.0.0.1:8080")[2] == \
        "http://127.0.0.1:8080/job/team-web-1/4/"  # one namespace through `kubectl port-forward svc/jenkins`
    assert views.engine_link(jenkins, setting, "", deployed)[2].startswith("https://jenkins.example.com/")
    assert views.engine_link(jenkins, None, "")[2] == ""  # neither: the label, no link
    queued = _ex("web-1", "Building", engineRef={"engine": "jenkins", "jenkinsJob": "team-web-1"})
    assert views.engine_link(queued, None, "", deployed) == ("jenkins", "Jenkins job team-web-1", "")  # no build yet


def test_history_is_newest_first_filtered_and_paged() -> None:
    runs = [_ex(f"web-{i}", "Success" if i % 3 else "Failed", run=i) for i in range(1, 101)]
    runs += [{**_ex("api-1"), "spec": {"pipelineName": "api", "run": 1}}]
    page = views.history(runs, "web", NOW, page=2, per_page=25)
    assert page.total == 100 and page.pages == 4 and [r.run for r in page.rows][:2] == [75, 74]
    failed = views.history(runs, "web", NOW, state="Failed")
    assert failed.total == 33 and {r.state for r in failed.rows} == {"Failed"}
    assert views.history(runs, "web", NOW, branch="dev").total == 0 and page.branches == ("main",)
    assert views.history(runs, "web", NOW, page=99).page == 4  # past the end: the last page


def test_the_pipeline_list_shows_last_run_duration_and_triggers() -> None:
    pipeline = {"metadata": {"name": "web"}, "spec": {"repositoryUrl": "https://git/web.git", "triggerWebhookPr": True,
                                                      "cron": {"schedule": "0 3 * * *"}},
                "status": {"lastExecutionId": "web-7"}}
    last = _ex("web-7", "Failed", duration="1m4s")
    (row,) = views.pipeline_rows("team", [pipeline], {"web-7": last}.get, NOW)
    assert (row.last_state, row.last_duration, row.branch) == ("Failed", "1m4s", "master")
    assert row.triggers == "push, pull request, cron 0 3 * * *"
