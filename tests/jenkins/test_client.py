"""The Jenkins REST client against an HTTP double that answers like Jenkins."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.jenkins.double import JenkinsDouble
from translator.api.states import State
from translator.compiler.compile import compile_text
from translator.compiler.context import ExecutionContext
from translator.engines.jenkins_client import JenkinsClient, JenkinsError
from translator.status.jenkins import observe

PIPELINE = """
stages:
- name: Build
  steps:
  - runScriptConfig: {image: alpine, shellScript: make}
  - runScriptConfig: {image: alpine, shellScript: lint}
- name: Ship
  steps:
  - runScriptConfig: {image: alpine, shellScript: ship}
"""


@pytest.fixture
def jenkins() -> Iterator[JenkinsDouble]:
    with JenkinsDouble() as double:
        yield double


def _client(jenkins: JenkinsDouble, **kw: object) -> JenkinsClient:
    return JenkinsClient(jenkins.url, username="admin", token="secret", **kw)  # type: ignore[arg-type]


def _job() -> tuple[str, str, list[str]]:
    result = compile_text(PIPELINE, ExecutionContext(pipeline="web", run=3), engine="jenkins")
    assert result.jenkins is not None and result.plan is not None
    return result.jenkins.job_name, result.jenkins.config_xml, [s.id for s in result.plan.steps]


def _wait_build(client: JenkinsClient, queue_id: int) -> int:
    for _ in range(200):
        item = client.queue_item(queue_id)
        if item is not None and item.number:
            return item.number
        time.sleep(0.01)
    raise AssertionError("never left the queue")


def _run_to_end(client: JenkinsClient, job: str, number: int) -> dict[str, object]:
    for _ in range(500):
        view = client.describe(job, number)
        if view["status"] not in ("IN_PROGRESS", "NOT_EXECUTED"):  # NOT_EXECUTED: starting (RunExt)
            return view
        time.sleep(0.01)
    raise AssertionError("never ended")


def test_create_update_build_and_follow_to_success(jenkins: JenkinsDouble) -> None:
    client = _client(jenkins)
    job, xml, tasks = _job()
    assert not client.job_exists(job)
    client.put_job(job, xml)  # 404 then createItem
    assert client.job_exists(job)
    client.put_job(job, xml)  # exists: config.xml updated, not a second job
    queued = client.build(job)
    number = _wait_build(client, queued.queue_id)
    assert number == 1
    seen = set()
    for _ in range(500):
        obs = observe(client.describe(job, number), tasks)
        seen |= {s.state for s in obs.steps.values()}
        if obs.finished:
            break
        time.sleep(0.005)
    assert obs.state is State.SUCCESS and all(s.state is State.SUCCESS for s in obs.steps.values())
    assert State.BUILDING in seen  # IN_PROGRESS was observed on the way
    text = "".join(client.follow_log(job, number))
    assert "[ship] SUCCESS" in text


def test_failed_step_and_unreached_rest(jenkins: JenkinsDouble) -> None:
    jenkins.state.outcome = lambda _job, stage: "FAILED" if stage == "build-2" else "SUCCESS"
    client = _client(jenkins)
    job, xml, tasks = _job()
    client.put_job(job, xml)
    number = _wait_build(client, client.build(job).queue_id)
    obs = observe(_run_to_end(client, job, number), tasks)  # type: ignore[arg-type]
    assert obs.state is State.FAILED
    assert obs.steps["build-2"].state is State.FAILED and "exit code 1" in obs.steps["build-2"].message
    assert "ship" not in obs.steps  # never reached: the execution shows it Waiting, as on Argo


def test_stop_while_running_and_cancel_while_queued(jenkins: JenkinsDouble) -> None:
    jenkins.state.stage_seconds = 0.3
    client = _client(jenkins)
    job, xml, tasks = _job()
    client.put_job(job, xml)
    number = _wait_build(client, client.build(job).queue_id)
    time.sleep(0.05)
    client.stop_build(job, number)
    obs = observe(client.describe(job, number), tasks)
    assert obs.state is State.ABORTED and obs.shutdown
    jenkins.state.queue_seconds = 60
    queued = client.build(job)
    client.cancel_queued(queued.queue_id)
    item = client.queue_item(queued.queue_id)
    assert item is not None and item.cancelled and item.number is None


def test_crumb_and_credentials(jenkins: JenkinsDouble) -> None:
    job, xml, _ = _job()
    with pytest.raises(JenkinsError) as err:
        JenkinsClient(jenkins.url, username="admin", token="wrong", attempts=1).put_job(job, xml)
    assert err.value.status == 401
    client = _client(jenkins)
    client.put_job(job, xml)
    assert set(client.crumb()) == {"Jenkins-Crumb"}


def test_a_password_keeps_the_session_its_crumb_belongs_to(jenkins: JenkinsDouble) -> None:
    """Finding 13: DefaultCrumbIssuer salts the crumb with the session; a client without cookies 403s."""
    client = JenkinsClient(jenkins.url, username="admin", token="admin-password", attempts=2)
    job, xml, _ = _job()
    client.put_job(job, xml)
    assert client.build(job).queue_id
    jenkins.state.sessions.clear()  # a restarted Jenkins forgot the session: crumb and cookie fetched again
    client.put_job(job, xml)


def test_a_403_that_is_not_about_the_crumb_fails_at_once(jenkins: JenkinsDouble) -> None:
    client = _client(jenkins, attempts=5)
    job, xml, _ = _job()
    client.put_job(job, xml)
    jenkins.state.forbidden = frozenset({"Job/Build"})
    started = time.monotonic()
    with pytest.raises(JenkinsError) as err:
        client.build(job)
    assert err.value.status == 403 and not err.value.transient
    assert "admin is missing the Job/Build permission" in err.value.message
    assert time.monotonic() - started < 1  # not retried as if transient


def test_a_redirect_on_a_get_is_a_jenkins_error_not_a_parse_crash(jenkins: JenkinsDouble) -> None:
    jenkins.state.redirect_to = "https://sso.example.com/oauth2/start"
    with pytest.raises(JenkinsError) as err:
        _client(jenkins, attempts=1).job_state("x")
    assert err.value.status == 302 and "sso.example.com" in err.value.message and not err.value.transient


def test_build_starts_without_the_quiet_period(jenkins: JenkinsDouble) -> None:
    client = _client(jenkins)
    job, xml, _ = _job()
    client.put_job(job, xml)
    queued = client.build(job)
    assert jenkins.state.queue[queued.queue_id].buildable_at <= time.time()  # delay=0sec


def test_a_jenkins_under_a_context_path(jenkins: JenkinsDouble) -> None:
    jenkins.state.context = "/jenkins"
    client = _client(jenkins)
    assert client.url.endswith("/jenkins")
    job, xml, tasks = _job()
    client.put_job(job, xml)
    number = _wait_build(client, client.build(job).queue_id)
    assert observe(_run_to_end(client, job, number), tasks).state is State.SUCCESS  # type: ignore[arg-type]
    assert client.relative(f"{jenkins.url}/queue/item/3/") == "/queue/item/3/"


def test_a_cancel_that_comes_after_the_item_left_says_so(jenkins: JenkinsDouble) -> None:
    jenkins.state.queue_seconds, jenkins.state.start_gap_seconds = 0.0, 0.3
    client = _client(jenkins)
    job, xml, _ = _job()
    client.put_job(job, xml)
    queued = client.build(job)
    time.sleep(0.05)
    state = client.job_state(job)
    assert state is not None and not state.in_queue and state.last_build is None  # the gap
    item = client.queue_item(queued.queue_id)
    assert item is not None and item.left and item.number is None and not item.cancelled
    assert client.cancel_queued(queued.queue_id) is False  # too late: the build is starting


def test_step_logs_longer_than_wfapi_log_are_read_whole_as_plain_text(jenkins: JenkinsDouble) -> None:
    """Finding 18: wfapi/log keeps the last 10 KiB as HTML; progressiveText has it all, paged."""
    jenkins.state.page_bytes = 8192
    text = "".join(f"{i:05d} <b>&amp; \u00e9\n" for i in range(5000))
    jenkins.state.log_text = lambda _job, stage: text if stage == "build-1" else "short\n"
    client = _client(jenkins)
    job, xml, _ = _job()
    client.put_job(job, xml)
    number = _wait_build(client, client.build(job).queue_id)
    view = _run_to_end(client, job, number)
    stage = next(s for s in view["stages"] if s["name"] == "build-1")  # type: ignore[attr-defined]
    assert "".join(client.stage_log(job, number, stage["id"])) == text


def test_timestamper_prefixes_do_not_reach_the_log(jenkins: JenkinsDouble) -> None:
    jenkins.state.all_pipelines_timestamps = True
    client = _client(jenkins)
    job, xml, _ = _job()
    client.put_job(job, xml)
    number = _wait_build(client, client.build(job).queue_id)
    view = _run_to_end(client, job, number)
    stage = next(s for s in view["stages"] if s["name"] == "ship")  # type: ignore[attr-defined]
    assert "".join(client.stage_log(job, number, stage["id"])) == "+ run ship\n<ship> done & ok\n"


def test_jenkins_down_is_a_clear_transient_error(jenkins: JenkinsDouble) -> None:
    jenkins.state.down = True
    client = _client(jenkins, attempts=2)
    with pytest.raises(JenkinsError) as err:
        client.job_exists("x")
    assert err.value.transient and "503" in err.value.message
    with pytest.raises(JenkinsError) as err:
        JenkinsClient("http://127.0.0.1:9", attempts=1, timeout=1).job_exists("x")
    assert err.value.status == 0 and "did not answer" in err.value.message
