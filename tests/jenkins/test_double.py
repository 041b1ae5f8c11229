"""The Jenkins double's own behaviours, each named after what the real Jenkins does (the
double's comments cite the source). The engine's code is tested against these."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import urllib3

from tests.jenkins import script_model
from tests.jenkins.double import JenkinsDouble, run_like_durable_task
from translator.compiler.compile import compile_text
from translator.compiler.context import ExecutionContext

PIPELINE = """
stages:
- name: Build
  steps:
  - runScriptConfig: {image: alpine, shellScript: make}
"""
HTTP = urllib3.PoolManager(retries=False)


@pytest.fixture
def jenkins() -> Iterator[JenkinsDouble]:
    with JenkinsDouble() as double:
        yield double


def _basic(user: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()}


def _req(jenkins: JenkinsDouble, method: str, path: str, *, secret: str = "secret", body: bytes | None = None,
         headers: dict[str, str] | None = None) -> Any:
    return HTTP.request(method, jenkins.url + path, body=body, redirect=False,
                        headers={**_basic("admin", secret), **(headers or {})})


def _config(script_text: str = PIPELINE, **ctx: Any) -> tuple[str, str]:
    out = compile_text(script_text, ExecutionContext(**({"pipeline": "web", "run": 1} | ctx)), engine="jenkins")
    assert out.jenkins is not None
    return out.jenkins.job_name, out.jenkins.config_xml


def _create(jenkins: JenkinsDouble, xml: str | None = None, name: str = "team-web-1") -> str:
    xml = xml or _config()[1]
    resp = _req(jenkins, "POST", f"/createItem?name={name}", body=xml.encode(),
                headers={"Content-Type": "application/xml"})
    assert resp.status == 200, resp.data
    return name


def _crumb(jenkins: JenkinsDouble, secret: str, cookie: str = "") -> tuple[str, str]:
    resp = _req(jenkins, "GET", "/crumbIssuer/api/json", secret=secret, headers={"Cookie": cookie} if cookie else {})
    return json.loads(resp.data)["crumb"], resp.headers.get("Set-Cookie", "").split(";")[0] or cookie


def test_crumb_is_bound_to_the_session(jenkins: JenkinsDouble) -> None:
    _create(jenkins)
    crumb, cookie = _crumb(jenkins, "admin-password")
    assert cookie.startswith("JSESSIONID.")
    without = _req(jenkins, "POST", "/job/team-web-1/build?delay=0sec", secret="admin-password",
                   headers={"Jenkins-Crumb": crumb})
    assert without.status == 403 and b"No valid crumb was included in the request" in without.data
    other_crumb, other_cookie = _crumb(jenkins, "admin-password")
    assert other_cookie != cookie and other_crumb != crumb
    mixed = _req(jenkins, "POST", "/job/team-web-1/build?delay=0sec", secret="admin-password",
                 headers={"Jenkins-Crumb": crumb, "Cookie": other_cookie})
    assert mixed.status == 403
    same = _req(jenkins, "POST", "/job/team-web-1/build?delay=0sec", secret="admin-password",
                headers={"Jenkins-Crumb": crumb, "Cookie": cookie})
    assert same.status == 201


def test_api_token_requests_need_no_crumb_a_password_does(jenkins: JenkinsDouble) -> None:
    name, xml = _config()
    token = _req(jenkins, "POST", f"/createItem?name={name}", body=xml.encode(),
                 headers={"Content-Type": "application/xml"})
    assert token.status == 200
    password = _req(jenkins, "POST", f"/job/{name}/build", secret="admin-password")
    assert password.status == 403 and b"No valid crumb" in password.data
    assert _req(jenkins, "GET", f"/job/{name}/api/json", secret="wrong").status == 401


def test_a_missing_permission_is_a_403_that_says_which(jenkins: JenkinsDouble) -> None:
    _create(jenkins)
    jenkins.state.forbidden = frozenset({"Job/Build"})
    resp = _req(jenkins, "POST", "/job/team-web-1/build?delay=0sec")
    assert resp.status == 403 and b"admin is missing the Job/Build permission" in resp.data
    assert b"crumb" not in resp.data


def test_build_waits_the_quiet_period_unless_delay_is_given(jenkins: JenkinsDouble) -> None:
    _create(jenkins)
    resp = _req(jenkins, "POST", "/job/team-web-1/build")
    assert resp.status == 201 and "/queue/item/" in resp.headers["Location"]
    item = next(iter(jenkins.state.queue.values()))
    assert item.buildable_at - time.time() > 4  # core: the job's quiet period, 5 s
    again = _req(jenkins, "POST", "/job/team-web-1/build?delay=0sec")
    assert again.headers["Location"] == resp.headers["Location"]  # one queue item per job


def test_queue_item_leaves_before_the_build_exists(jenkins: JenkinsDouble) -> None:
    jenkins.state.start_gap_seconds = 0.5
    _create(jenkins)
    qid = int(_req(jenkins, "POST", "/job/team-web-1/build?delay=0sec").headers["Location"].rstrip("/").split("/")[-1])
    deadline = time.time() + 5
    seen_gap = False
    while time.time() < deadline:
        job = json.loads(_req(jenkins, "GET", "/job/team-web-1/api/json").data)
        item = json.loads(_req(jenkins, "GET", f"/queue/item/{qid}/api/json").data)
        if not job["inQueue"] and job["lastBuild"] is None:  # neither queued nor built
            assert item["_class"].endswith("$LeftItem") and not item["cancelled"]
            seen_gap = seen_gap or item["executable"] is None  # (the build may have come between the two)
        if job["lastBuild"]:
            assert item["executable"]["number"] == job["lastBuild"]["number"] == 1
            break
        time.sleep(0.02)
    assert seen_gap


def test_cancel_item_after_it_left_is_refused_and_404_once_forgotten(jenkins: JenkinsDouble) -> None:
    jenkins.state.queue_seconds, jenkins.state.left_item_seconds = 0.0, 0.3
    _create(jenkins)
    qid = int(_req(jenkins, "POST", "/job/team-web-1/build?delay=0sec").headers["Location"].rstrip("/").split("/")[-1])
    time.sleep(0.1)
    late = _req(jenkins, "POST", f"/queue/cancelItem?id={qid}")
    assert late.status == 500 and b"Could not cancel run" in late.data
    time.sleep(0.4)
    assert _req(jenkins, "POST", f"/queue/cancelItem?id={qid}").status == 404
    assert _req(jenkins, "GET", f"/queue/item/{qid}/api/json").status == 404


def test_wfapi_says_not_executed_before_the_flow_execution_exists(jenkins: JenkinsDouble) -> None:
    jenkins.state.queue_seconds = jenkins.state.start_gap_seconds = 0.0
    jenkins.state.execution_seconds = 0.5
    _create(jenkins)
    _req(jenkins, "POST", "/job/team-web-1/build?delay=0sec")
    time.sleep(0.05)
    view = json.loads(_req(jenkins, "GET", "/job/team-web-1/1/wfapi/describe").data)
    assert view["status"] == "NOT_EXECUTED" and view["stages"] == []


def test_disable_concurrent_builds_keeps_the_second_in_the_queue(jenkins: JenkinsDouble) -> None:
    jenkins.state.queue_seconds = jenkins.state.start_gap_seconds = 0.0
    jenkins.state.stage_seconds = 2.0
    _create(jenkins)
    _req(jenkins, "POST", "/job/team-web-1/build?delay=0sec")
    _req(jenkins, "GET", "/job/team-web-1/api/json")
    time.sleep(0.05)
    _req(jenkins, "POST", "/job/team-web-1/build?delay=0sec")
    time.sleep(0.1)
    job = json.loads(_req(jenkins, "GET", "/job/team-web-1/api/json").data)
    assert job["inQueue"] and job["lastBuild"]["number"] == 1


def test_wfapi_log_is_the_last_10_kib_as_html_and_progressive_text_pages(jenkins: JenkinsDouble) -> None:
    jenkins.state.queue_seconds = jenkins.state.start_gap_seconds = jenkins.state.execution_seconds = 0.0
    jenkins.state.stage_seconds, jenkins.state.page_bytes = 0.01, 4096
    text = "".join(f"line {i} <&>\n" for i in range(3000))
    jenkins.state.log_text = lambda _j, _s: text
    _create(jenkins)
    _req(jenkins, "POST", "/job/team-web-1/build?delay=0sec")
    _req(jenkins, "GET", "/job/team-web-1/api/json")  # builds are made as requests come
    time.sleep(0.3)
    stages = json.loads(_req(jenkins, "GET", "/job/team-web-1/1/wfapi/describe").data)["stages"]
    leaf = next(s for s in stages if s["name"] == "build")
    node = json.loads(_req(jenkins, "GET", f"/job/team-web-1/1/execution/node/{leaf['id']}/wfapi/describe")
                      .data)["stageFlowNodes"][0]["id"]
    log = json.loads(_req(jenkins, "GET", f"/job/team-web-1/1/execution/node/{node}/wfapi/log").data)
    assert log["hasMore"] and "&lt;&amp;&gt;" in log["text"] and "line 2999" in log["text"]
    assert "line 0 " not in log["text"]  # the tail, not the head
    got, start, pages = b"", 0, 0
    while True:
        path = f"/job/team-web-1/1/execution/node/{node}/log/logText/progressiveText?start={start}"
        resp = _req(jenkins, "GET", path)
        got += resp.data
        start, pages = int(resp.headers["X-Text-Size"]), pages + 1
        if resp.headers.get("X-More-Data") != "true":
            break
    assert got.decode() == text and pages > 1
    page = _req(jenkins, "GET", f"/job/team-web-1/1/execution/node/{node}/log")
    assert page.headers["Content-Type"].startswith("text/html") and b"<script" in page.data


def test_jenkins_under_a_context_path_answers_only_there(jenkins: JenkinsDouble) -> None:
    jenkins.state.context = "/jenkins"
    assert jenkins.url.endswith("/jenkins")
    assert HTTP.request("GET", jenkins.url.removesuffix("/jenkins") + "/api/json", headers=_basic("admin", "secret"),
                        redirect=False).status == 404
    _create(jenkins)
    assert "/jenkins/queue/item/" in _req(jenkins, "POST", "/job/team-web-1/build?delay=0sec").headers["Location"]


def test_durable_task_runs_sh_with_xe_unless_the_script_starts_with_a_shebang() -> None:
    status, error, log = run_like_durable_task("false\necho after")
    assert status == "FAILED" and error == "script returned exit code 1" and "+ false" in log and "after" not in log
    status, _error, log = run_like_durable_task("#!/bin/sh\nfalse\necho after")
    assert status == "SUCCESS" and "after" in log and "+ false" not in log


def test_agent_writes_control_files_through_the_jnlp_containers_filesystem() -> None:
    script = ("podTemplate(label: 'x', yaml: 'spec:\\n  containers:\\n  - name: s\\n    volumeMounts:\\n"
              "    - {name: w, mountPath: /workspace}\\n') { node('x') { stage('a') { container('s') {"
              " dir('/workspace/source') { sh(script: 'true') } } } } }")
    job = script_model.model(script)
    error = script_model.filesystem_error(job, job.stages[0], job_name="j")
    assert "AccessDeniedException: /workspace/source" in error  # the default jnlp mounts none of it
    jnlp = "  - name: jnlp\\n    volumeMounts:\\n    - {name: w, mountPath: /workspace}\\n"
    shared = script.replace("') { node", jnlp + "') { node")
    job = script_model.model(shared)
    assert script_model.filesystem_error(job, job.stages[0], job_name="j") == ""
    top = script_model.model(shared.replace("dir('/workspace/source')", "dir('/workspace')"))
    assert "/workspace@tmp" in script_model.filesystem_error(top, top.stages[0], job_name="j")  # beside the mount


def test_plugin_overwrites_jenkins_label_with_its_sanitised_label(jenkins: JenkinsDouble) -> None:
    long = "p" * 70 + "-1"
    name, xml = _config(pipeline=long)
    jenkins.state.queue_seconds = jenkins.state.start_gap_seconds = 0.0
    _create(jenkins, xml, name)
    _req(jenkins, "POST", f"/job/{name}/build?delay=0sec")
    time.sleep(0.05)
    _req(jenkins, "GET", f"/job/{name}/api/json")
    pod = jenkins.state.agent_pod(name)
    label = jenkins.state.builds[name][1].job.label  # type: ignore[union-attr]
    assert len(label) > 57 and pod["metadata"]["labels"]["jenkins/label"] == label[-57:]
    assert script_model.sanitize_label("a.b/c") == "a_b_c" and script_model.sanitize_label("-a-") == "xax"
    assert any(c["name"] == "jnlp" for c in pod["spec"]["containers"])


def test_a_script_that_does_not_compile_fails_the_build(jenkins: JenkinsDouble) -> None:
    jenkins.state.queue_seconds = jenkins.state.start_gap_seconds = jenkins.state.execution_seconds = 0.0
    xml = _config()[1].replace("node(", "node((")
    _create(jenkins, xml)
    _req(jenkins, "POST", "/job/team-web-1/build?delay=0sec")
    time.sleep(0.05)
    _req(jenkins, "GET", "/job/team-web-1/api/json")
    assert json.loads(_req(jenkins, "GET", "/job/team-web-1/1/wfapi/describe").data)["status"] == "FAILED"


def test_a_running_nodes_progressive_text_is_its_log_so_far_with_more_data(jenkins: JenkinsDouble) -> None:
    """workflow-support LogStorageAction.getLogText: stepLog(node, !node.isActive()); the text grows while the
    step runs (X-More-Data: true) and is whole, without X-More-Data, once it ended."""
    state = jenkins.state
    state.queue_seconds = state.start_gap_seconds = state.execution_seconds = 0.0
    state.stage_seconds = 0.01
    state.hold("build")
    _create(jenkins)
    _req(jenkins, "POST", "/job/team-web-1/build?delay=0sec")

    def build_stage() -> dict[str, Any] | None:
        _req(jenkins, "GET", "/job/team-web-1/api/json")  # builds are made as requests come
        stages = json.loads(_req(jenkins, "GET", "/job/team-web-1/1/wfapi/describe").data).get("stages") or []
        return next((s for s in stages if s["name"] == "build"), None)

    deadline = time.monotonic() + 5
    while (stage := build_stage()) is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert stage is not None and stage["status"] == "IN_PROGRESS"
    node = json.loads(_req(jenkins, "GET", f"/job/team-web-1/1/execution/node/{stage['id']}/wfapi/describe")
                      .data)["stageFlowNodes"][0]["id"]
    path = f"/job/team-web-1/1/execution/node/{node}/log/logText/progressiveText"
    first = _req(jenkins, "GET", path + "?start=0")
    assert first.data == b"" and first.headers["X-More-Data"] == "true"
    state.print("team-web-1", "build", "compiling one\n")
    time.sleep(0.05)
    assert build_stage()["status"] == "IN_PROGRESS"  # type: ignore[index]  # held: still running
    second = _req(jenkins, "GET", path + "?start=0")
    assert second.data == b"compiling one\n" and second.headers["X-More-Data"] == "true"
    state.print("team-web-1", "build", "compiling two\n")
    state.release("build")
    deadline = time.monotonic() + 5
    while build_stage()["status"] == "IN_PROGRESS" and time.monotonic() < deadline:  # type: ignore[index]
        time.sleep(0.02)
    assert build_stage()["status"] == "SUCCESS"  # type: ignore[index]
    whole = _req(jenkins, "GET", path + "?start=0")
    assert whole.data.decode().startswith("compiling one\ncompiling two\n+ run build\n")
    assert "X-More-Data" not in whole.headers
    tail = _req(jenkins, "GET", path + f"?start={len(second.data)}")  # from an offset: only what came after
    assert tail.data.startswith(b"compiling two\n")
