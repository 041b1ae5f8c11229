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
        if item.number:
            return item.number
        time.sleep(0.01)
    raise AssertionError("never left the queue")


def _run_to_end(client: JenkinsClient, job: str, number: int) -> dict[str, object]:
    for _ in range(500):
        view = client.describe(job, number)
        if view["status"] != "IN_PROGRESS":
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
    assert item.cancelled and item.number is None


def test_crumb_and_credentials(jenkins: JenkinsDouble) -> None:
    job, xml, _ = _job()
    with pytest.raises(JenkinsError) as err:
        JenkinsClient(jenkins.url, username="admin", token="wrong", attempts=1).put_job(job, xml)
    assert err.value.status == 401
    client = _client(jenkins)
    client.put_job(job, xml)
    assert client.crumb() == {"Jenkins-Crumb": "c0ffee"}


def test_jenkins_down_is_a_clear_transient_error(jenkins: JenkinsDouble) -> None:
    jenkins.state.down = True
    client = _client(jenkins, attempts=2)
    with pytest.raises(JenkinsError) as err:
        client.job_exists("x")
    assert err.value.transient and "503" in err.value.message
    with pytest.raises(JenkinsError) as err:
        JenkinsClient("http://127.0.0.1:9", attempts=1, timeout=1).job_exists("x")
    assert err.value.status == 0 and "did not answer" in err.value.message
