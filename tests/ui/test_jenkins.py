"""Runs on the Jenkins engine in the UI, for real: the API double with RBAC on, the real controller
driving the Jenkins HTTP double, the UI on loopback — and a user with only namespace `edit`.

A running step's log is followed live through the UI's event stream (LogViewer reading the build's
progressive text) with a Secret's value masked, and read again from the archive once the build
ended; Stop and Rerun from failed are pressed in the browser on a Jenkins run.
"""

from __future__ import annotations

import copy
import html
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.controller.harness import SIMPLE, wait_for
from tests.jenkins.double import JenkinsDouble
from tests.kube_double.server import KubeDouble
from tests.s3_server import ACCESS_KEY, SECRET_KEY, S3Server
from tests.ui.conftest import login
from tests.ui.harness import UiWorld
from tests.ui.test_http import _events, _login, _run
from translator.engines.jenkins import JenkinsEngine

BUCKET = "ui-jenkins-logs"
PASSWORD = "hunter2-s3cret"


@pytest.fixture
def jenkins() -> Iterator[JenkinsDouble]:
    with JenkinsDouble() as double:
        double.state.stage_seconds = 0.1
        yield double


@pytest.fixture
def jworld(jenkins: JenkinsDouble, s3_server: S3Server) -> Iterator[UiWorld]:
    """The UI world with the namespace's setting on an external Jenkins (the double) and a log store."""
    store = s3_server.client()
    if not store.bucket_exists(BUCKET):
        store.make_bucket(BUCKET)
    setting = {"jenkins": {"url": jenkins.url, "credentialsSecret": "jenkins-creds"},
               "logs": {"endpoint": s3_server.endpoint, "bucket": BUCKET, "insecure": True,
                        "credentialsSecret": "log-store"}}
    with KubeDouble() as double:
        w = UiWorld(double, engine="jenkins", setting=setting)
        w.system.secret("jenkins-creds", {"username": "admin", "token": "secret"})
        w.system.secret("log-store", {"accesskey": ACCESS_KEY, "secretkey": SECRET_KEY})
        w.start()
        assert w.system.controller is not None
        engine = w.system.controller.registry.get("jenkins")
        assert isinstance(engine, JenkinsEngine)
        engine.poll_seconds, engine.attempts = 0.05, 1
        try:
            yield w
        finally:
            w.close()


def _masked_config(world: UiWorld) -> dict[str, Any]:
    config = copy.deepcopy(SIMPLE)
    config["stages"][0]["steps"][0]["envFrom"] = [{"sourceName": "db", "sourceKey": "password"}]
    world.system.secret("db", {"password": PASSWORD})
    return config


def _job(world: UiWorld, name: str) -> str:
    ex = wait_for(lambda: (e := world.system.execution(name)) and (e.get("status") or {}).get("engineRef", {})
                  .get("jenkinsJob") and e, 15, "the Jenkins job")
    return str(ex["status"]["engineRef"]["jenkinsJob"])


def _step_state(world: UiWorld, name: str, stage: int, step: int) -> str:
    stages = (world.system.execution(name).get("status") or {}).get("stages") or []
    return str(stages[stage]["steps"][step - 1]["state"]) if len(stages) > stage else ""


def _log_text(seen: list[tuple[str, str]]) -> str:
    return html.unescape("".join(data for name, data in seen if name == "log"))


def test_a_running_jenkins_steps_log_streams_live_masked_then_comes_from_the_archive(
        jworld: UiWorld, jenkins: JenkinsDouble) -> None:
    jworld.system.apply_pipeline("web", _masked_config(jworld))
    jenkins.state.hold("build-1")
    s, csrf = _login(jworld, "alice-token")
    name = _run(s, jworld, csrf)
    job = _job(jworld, name)
    wait_for(lambda: _step_state(jworld, name, 1, 1) == "Building", 15, "Build step 1 running on Jenkins")
    seen: list[tuple[str, str]] = []
    url = f"{jworld.url}/live/ns/team/runs/{name}/log?stage=1&step=1"
    with s.get(url, stream=True, timeout=30) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        reader = threading.Thread(target=_events, args=(stream, 100, seen), daemon=True)
        reader.start()
        wait_for(lambda: "==> stage 1 'Build', step 1" in _log_text(seen), 10, "the log's header")
        jenkins.state.print(job, "build-1", "compiling module one\n")
        wait_for(lambda: "compiling module one" in _log_text(seen), 10, "a line printed on Jenkins, streamed")
        jenkins.state.print(job, "build-1", f"connecting with {PASSWORD}\n")
        wait_for(lambda: "connecting with" in _log_text(seen), 10, "the next line")
        assert "connecting with ***" in _log_text(seen)
        assert not [n for n, _ in seen if n == "end"]  # the step still runs: the stream stays open
        jenkins.state.release("build-1")
        wait_for(lambda: any(n == "end" for n, _ in seen), 15, "the end of the log")
    live = _log_text(seen)
    assert "end of log" in seen[-1][1] and PASSWORD not in "".join(d for _, d in seen)
    assert live.index("compiling module one") < live.index("connecting with ***")
    jworld.system.wait_state(name, "Success", timeout=20)
    wait_for(lambda: all(t.get("log") for st in jworld.system.execution(name)["status"]["stages"]
                         for t in st["steps"]), 15, "every step's log archived")
    jenkins.state.down = True  # the build's Jenkins is gone: the log store alone answers now
    again: list[tuple[str, str]] = []
    with s.get(url, stream=True, timeout=30) as stream:
        reader = threading.Thread(target=_events, args=(stream, 100, again), daemon=True)
        reader.start()
        wait_for(lambda: any(n == "end" for n, _ in again), 15, "the archived log")
    archived = _log_text(again)
    assert archived.startswith("==> stage 1 'Build', step 1") and ": Success <==" in archived
    assert "compiling module one\nconnecting with ***\n" in archived and PASSWORD not in archived
    assert "end of log" in again[-1][1]
    assert {d[0] for d in jworld.ui_requests()} == {"alice"}  # the Secrets too were read with her token
    v, _ = _login(jworld, "viewer-token")  # `view` reads no Secrets: not the log store's, not Jenkins'
    refused: list[tuple[str, str]] = []
    with v.get(url, stream=True, timeout=30) as stream:
        reader = threading.Thread(target=_events, args=(stream, 100, refused), daemon=True)
        reader.start()
        wait_for(lambda: any(n == "end" for n, _ in refused), 15, "the viewer's answer")
    assert "cannot read the log store's Secret log-store: Forbidden" in html.unescape(refused[-1][1])


def test_stop_a_jenkins_run_in_the_browser_as_an_edit_user(jworld: UiWorld,
                                                          jenkins: JenkinsDouble, page: Any) -> None:
    jworld.system.apply_pipeline("web")
    jenkins.state.hold("build-1")
    login(page, jworld, "alice-token")
    page.goto(jworld.url + "/ns/team/pipelines/web")
    page.click("#run-button")
    page.wait_for_url(re.compile(r"/ns/team/runs/web-run-[a-z0-9]+$"))
    name = page.url.rsplit("/", 1)[1]
    step = page.locator('[data-step="1-1"]')
    wait_for(lambda: step.get_attribute("data-state") == "Building", 15, "Build step 1 running on Jenkins")
    job = _job(jworld, name)
    assert "Jenkins job " + job in page.inner_text("#run")
    assert page.locator("#engine-link").get_attribute("href") == f"{jenkins.url}/job/{job}/1/"
    page.click("#stop-button")
    wait_for(lambda: page.inner_text("#run-state") == "Aborted", 15, "the run to stop")
    build = jenkins.state.builds[job][1]
    assert build.aborted_at is not None  # the build itself was stopped on Jenkins
    assert step.get_attribute("data-state") == "Aborted"
    assert page.locator('[data-step="2-1"]').get_attribute("data-state") == "Waiting"  # never started
    assert "stopped by alice" in page.inner_text("#run")
    assert page.locator("#stop-button").count() == 0 and page.locator("#rerun-failed-button").count() == 1
    assert page.js_errors == []


def test_rerun_a_failed_jenkins_run_from_the_failed_step_in_the_browser(jworld: UiWorld,
                                                                       jenkins: JenkinsDouble, page: Any) -> None:
    first: list[str] = []
    # the first job Jenkins was given (the first run's) fails at Ship; the rerun's passes
    jenkins.state.outcome = lambda job, stage: "FAILED" if stage == "ship" and job == next(iter(
        jenkins.state.jobs)) else "SUCCESS"
    jworld.system.apply_pipeline("web")
    login(page, jworld, "alice-token")
    page.goto(jworld.url + "/ns/team/pipelines/web")
    page.click("#run-button")
    page.wait_for_url(re.compile(r"/ns/team/runs/web-run-[a-z0-9]+$"))
    first.append(page.url.rsplit("/", 1)[1])
    wait_for(lambda: page.inner_text("#run-state") == "Failed", 20, "the Jenkins run to fail")
    assert "Run: stage 'Ship' step 1 failed" in page.inner_text("#run")
    first_job = _job(jworld, first[0])
    page.click("#rerun-failed-button")
    page.wait_for_url(lambda url: re.search(r"/ns/team/runs/web-run-[a-z0-9]+$", url) is not None
                      and not url.endswith(first[0]))
    second = page.url.rsplit("/", 1)[1]
    first.append(second)
    wait_for(lambda: page.inner_text("#run-state") == "Success", 20, "the rerun to succeed")
    for stage, step in ((1, 1), (1, 2)):
        card = page.locator(f'[data-step="{stage}-{step}"]')
        assert card.get_attribute("data-state") == "Skipped" and "reused from run 1" in card.inner_text()
    assert page.locator('[data-step="2-1"]').get_attribute("data-state") == "Success"
    assert f"rerun of {first[0]}" in page.inner_text("#run") and page.inner_text("h1").startswith("web #2")
    job = _job(jworld, second)
    assert job != first_job and f"Jenkins job {job} #1" in page.inner_text("#run")
    ran = jenkins.state.builds[job][1].results  # what Jenkins ran this time: not the reused Build steps
    assert ran["ship"][0] == "SUCCESS" and ran.get("build-1", ("NOT_EXECUTED",))[0] == "NOT_EXECUTED"
    assert page.js_errors == []



def test_a_jenkins_step_ending_between_two_reads_of_its_log_still_streams_its_last_lines(
        jworld: UiWorld, jenkins: JenkinsDouble, monkeypatch: pytest.MonkeyPatch) -> None:
    """The UI's viewer reads the build's log, and the step ends (its last lines written, its status
    Success) before the viewer looks at the status again: the stream must still carry those lines."""
    jworld.system.apply_pipeline("web")
    jenkins.state.hold("build-1")
    s, csrf = _login(jworld, "alice-token")
    name = _run(s, jworld, csrf)
    job = _job(jworld, name)
    wait_for(lambda: _step_state(jworld, name, 1, 1) == "Building", 15, "Build step 1 running on Jenkins")
    jenkins.state.print(job, "build-1", "first line\n")
    assert jworld.system.controller is not None
    controllers = jworld.system.controller.registry.get("jenkins")
    real = JenkinsEngine.step_log

    def step_log(self: JenkinsEngine, *args: Any) -> Iterator[str]:
        text = "".join(real(self, *args))
        if self is not controllers and "first line" in text and "build-1" in jenkins.state.held:
            jenkins.state.release("build-1")  # ends right after this read: its last lines written
            wait_for(lambda: _step_state(jworld, name, 1, 1) == "Success", 15, "the step's end in its status")
        return iter([text])

    monkeypatch.setattr(JenkinsEngine, "step_log", step_log)
    seen: list[tuple[str, str]] = []
    with s.get(f"{jworld.url}/live/ns/team/runs/{name}/log?stage=1&step=1", stream=True, timeout=30) as stream:
        reader = threading.Thread(target=_events, args=(stream, 100, seen), daemon=True)
        reader.start()
        wait_for(lambda: any(n == "end" for n, _ in seen), 20, "the end of the log")
    text = _log_text(seen)
    assert "first line\n" in text and "<build-1> done & ok" in text  # what it printed as it ended
