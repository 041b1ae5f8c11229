"""The UI over plain HTTP: who the UI acts as, cookies, CSRF, the validator and editor API, the
event streams, and what a Jenkins run looks like — against the API double with RBAC on."""

from __future__ import annotations

import html
import logging
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from kubernetes import client

from tests.controller.harness import wait_for
from tests.ui.harness import UiWorld
from translator.controller import runs
from translator.ui.auth import Sessions, cluster_base


def _login(world: UiWorld, token: str, namespaces: str = "team") -> tuple[requests.Session, str]:
    s = requests.Session()
    page = s.get(world.url + "/login")
    nonce = re.search(r'name="nonce" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    answer = s.post(world.url + "/login", data={"token": token, "nonce": nonce, "namespaces": namespaces},
                    headers={"Origin": world.url}, allow_redirects=False)
    assert answer.status_code == 303, answer.text
    home = s.get(world.url + "/")
    csrf = re.search(r'"X-CSRF-Token": "([0-9a-f]+)"', home.text).group(1)  # type: ignore[union-attr]
    return s, csrf


def _run(s: requests.Session, world: UiWorld, csrf: str) -> str:
    """Press Run: the new execution's name (`<pipeline>-run-<random>`: the controller numbers it)."""
    made = _post(s, world, "/ns/team/pipelines/web/run", csrf, data={"branch": "master"})
    return made.headers["HX-Redirect"].rsplit("/", 1)[1]


def _post(s: requests.Session, world: UiWorld, path: str, csrf: str | None, **kw: Any) -> requests.Response:
    headers = {"HX-Request": "true", "Origin": world.url, **({"X-CSRF-Token": csrf} if csrf else {})}
    headers.update(kw.pop("headers", {}))
    return s.post(world.url + path, headers=headers, **kw)


@pytest.fixture
def alice(world: UiWorld) -> Iterator[tuple[requests.Session, str]]:
    world.system.apply_pipeline("web")
    yield _login(world, "alice-token")


def test_the_session_cookie_is_httponly_samesite_strict_and_holds_no_more_than_the_token(world: UiWorld) -> None:
    s = requests.Session()
    nonce = re.search(r'name="nonce" value="([^"]+)"', s.get(world.url + "/login").text).group(1)  # type: ignore
    answer = s.post(world.url + "/login", data={"token": "alice-token", "nonce": nonce, "namespaces": ""},
                    headers={"Origin": world.url}, allow_redirects=False)
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("translator_session=alice-token;") and "HttpOnly" in cookie
    assert "SameSite=strict" in cookie and "Path=/" in cookie
    assert answer.headers["location"] == "/"


def test_a_token_the_api_server_refuses_logs_nobody_in(world: UiWorld) -> None:
    s = requests.Session()
    nonce = re.search(r'name="nonce" value="([^"]+)"', s.get(world.url + "/login").text).group(1)  # type: ignore
    answer = s.post(world.url + "/login", data={"token": "stolen-or-expired", "nonce": nonce},
                    headers={"Origin": world.url}, allow_redirects=False)
    assert answer.status_code == 401 and "did not accept this token (401 Unauthorized)" in answer.text
    assert "translator_session" not in s.cookies
    assert s.get(world.url + "/", allow_redirects=False).headers["location"] == "/login"
    # a login form posted without its nonce cookie (a cross-site login) is refused too
    fresh = requests.post(world.url + "/login", data={"token": "alice-token", "nonce": nonce},
                          headers={"Origin": world.url}, allow_redirects=False)
    assert fresh.status_code == 401 and "expired" in fresh.text


def test_state_changing_requests_need_the_sessions_csrf_token(world: UiWorld,
                                                              alice: tuple[requests.Session, str]) -> None:
    s, csrf = alice
    assert _post(s, world, "/ns/team/pipelines/web/run", None, data={"branch": "master"}).status_code == 403
    _, other_csrf = _login(world, "viewer-token")
    assert other_csrf != csrf
    assert _post(s, world, "/ns/team/pipelines/web/run", other_csrf, data={"branch": "master"}).status_code == 403
    assert _post(s, world, "/ns/team/pipelines/web/run", csrf, data={"branch": "master"},
                 headers={"Origin": "https://evil.example.com"}).status_code == 403
    assert world.system.kube.list("pipelineexecutions", "team")["items"] == []
    made = _post(s, world, "/ns/team/pipelines/web/run", csrf, data={"branch": "master"})
    assert made.status_code == 204 and re.fullmatch(r"/ns/team/runs/web-run-[a-z0-9]+", made.headers["HX-Redirect"])


def test_every_kubernetes_call_is_made_with_the_users_own_token(world: UiWorld,
                                                                alice: tuple[requests.Session, str]) -> None:
    s, csrf = alice
    name = _run(s, world, csrf)
    s.get(world.url + f"/ns/team/runs/{name}")
    s.get(world.url + "/ns/team/pipelines/web/config")
    asked = world.ui_requests()
    assert {d[0] for d in asked} == {"alice"}  # nobody else: not the UI's, not the controller's identity
    assert ("alice", "create", "devops.cubepaas.io", "pipelineexecutions", "", "team", True) in asked
    assert ("alice", "watch", "devops.cubepaas.io", "pipelineexecutions", "", "team", True) in asked
    assert not [d for d in asked if d[4] == "status"]  # a user never writes status: the controller numbers runs
    assert world.system.execution(name)["spec"]["triggerUserName"] == "alice"


def test_the_uis_own_credentials_never_reach_a_users_client() -> None:
    cfg = client.Configuration(host="https://kube.example.com:6443")
    cfg.api_key = {"authorization": "Bearer controller-token"}
    cfg.cert_file, cfg.key_file, cfg.username, cfg.password = "/c.pem", "/k.pem", "admin", "pw"
    cfg.ssl_ca_cert = "/ca.pem"
    base = cluster_base(client.ApiClient(cfg))
    assert (base.host, base.ssl_ca_cert) == ("https://kube.example.com:6443", "/ca.pem")
    assert base.api_key == {} and base.cert_file is None and base.key_file is None and not base.password
    made: list[client.Configuration] = []

    def capture(base_: client.Configuration, token: str) -> Any:
        from translator.ui.auth import user_client

        kube = user_client(base_, token)
        made.append(kube.api_client.configuration)
        raise client.ApiException(status=401)

    sessions = Sessions(base, make_client=capture)
    with pytest.raises(Exception, match="401"):
        sessions.login("user-token")
    assert made[0].api_key == {"authorization": "Bearer user-token"} and made[0].cert_file is None


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.getMessage()} {record.__dict__}")


def test_no_token_in_logs(world: UiWorld) -> None:
    world.system.apply_pipeline("web")
    capture, root = _Capture(), logging.getLogger()
    level = root.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    try:
        s, csrf = _login(world, "alice-token")
        name = _run(s, world, csrf)
        s.get(world.url + f"/ns/team/runs/{name}")
        s.get(world.url + f"/ns/team/runs/{name}/logs?stage=0&step=1")
    finally:
        root.removeHandler(capture)
        root.setLevel(level)
    text = "\n".join(capture.lines)
    assert "login" in text and "alice-token" not in text


def test_a_user_who_cannot_read_runs_sees_none_and_a_forbidden_answer_is_kubernetes_own(world: UiWorld) -> None:
    world.system.apply_pipeline("web")
    name = runs.create_run(world.system.kube, "team", "web")["metadata"]["name"]
    s, csrf = _login(world, "nobody-token")
    assert "No namespace whose pipelines you may list" in s.get(world.url + "/").text
    assert s.get(world.url + f"/ns/team/runs/{name}").status_code == 403
    refused = html.unescape(_post(s, world, f"/ns/team/runs/{name}/stop", csrf).text)
    assert f'The API server said 403: pipelineexecutions.devops.cubepaas.io "{name}" is forbidden' in refused
    assert 'User "nobody" cannot patch' in refused


def test_the_validator_answers_with_findings_at_their_lines(world: UiWorld,
                                                           alice: tuple[requests.Session, str]) -> None:
    s, csrf = alice
    text = "stages:\n- name: Build\n  steps:\n  - runScriptConfig:\n      shellScript: make\n"
    html = _post(s, world, "/api/validate", csrf, data={"text": text}).text
    assert 'data-line="4"' in html and "stages[0].steps[0].runScriptConfig.image: required" in html
    assert '<mark class="error" data-line="4"' in html
    assert "not valid YAML" in _post(s, world, "/api/validate", csrf, data={"text": "stages: [\n"}).text
    big = _post(s, world, "/api/validate", csrf, data={"text": "a" * (600 * 1024)}).text
    assert "larger than 512 KiB" in big


def test_saving_over_a_change_made_meanwhile_is_refused(world: UiWorld, alice: tuple[requests.Session, str]) -> None:
    s, csrf = alice
    editor = s.get(world.url + "/ns/team/pipelines/web/config").text
    version = re.search(r'name="resourceVersion" id="rv" value="(\d+)"', editor).group(1)  # type: ignore[union-attr]
    world.system.kube.patch("pipelines", "team", "web", {"spec": {"defaultBranch": "dev"}})  # someone else
    text = "stages:\n- name: Build\n  steps:\n  - runScriptConfig:\n      image: alpine\n      shellScript: make\n"
    refused = _post(s, world, "/ns/team/pipelines/web/config", csrf, data={"text": text, "resourceVersion": version})
    assert "The API server said 409" in refused.text
    assert world.system.kube.get("pipelines", "team", "web")["spec"]["config"]["stages"][0]["name"] == "Build"
    fresh = world.system.kube.get("pipelines", "team", "web")["metadata"]["resourceVersion"]
    saved = _post(s, world, "/ns/team/pipelines/web/config", csrf, data={"text": text, "resourceVersion": fresh})
    assert 'id="saved"' in saved.text
    stored = world.system.kube.get("pipelines", "team", "web")["spec"]["config"]
    assert stored == {"stages": [{"name": "Build", "steps": [{"runScriptConfig": {"image": "alpine",
                                                                                  "shellScript": "make"}}]}]}


def _events(response: requests.Response, count: int, out: list[tuple[str, str]]) -> None:
    """Read server-sent events into `out` as they come."""
    name, data = "", []
    try:
        for line in list_lines(response):
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
            elif line == "" and name:
                out.append((name, "\n".join(data)))
                name, data = "", []
                if len(out) >= count:
                    return
    except (AttributeError, requests.RequestException):  # the test closed the stream
        return


def list_lines(response: requests.Response) -> Iterator[str]:
    yield from response.iter_lines(chunk_size=1, decode_unicode=True)


def test_the_run_stream_sends_the_grid_then_every_change(world: UiWorld, alice: tuple[requests.Session, str]) -> None:
    s, csrf = alice
    world.system.sim.paused.add("ship")
    name = _run(s, world, csrf)
    world.system.wait_state(name, "Building")
    seen: list[tuple[str, str]] = []
    with s.get(world.url + f"/live/ns/team/runs/{name}", stream=True, timeout=20) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        reader = threading.Thread(target=_events, args=(stream, 50, seen), daemon=True)
        reader.start()
        wait_for(lambda: seen and seen[0][0] == "run", 10, "the first grid")
        world.system.sim.paused.discard("ship")
        wait_for(lambda: any('id="run-state">Success' in h for _, h in seen), 10, "the end, pushed")
    assert len({html for _, html in seen}) == len(seen)  # only changes are sent


def test_streams_and_fragments_without_a_session_answer_401(world: UiWorld) -> None:
    assert requests.get(world.url + "/live/ns/team/runs/web-1").status_code == 401
    answer = requests.post(world.url + "/api/validate", data={"text": ""}, headers={"HX-Request": "true"})
    assert answer.status_code == 401 and answer.headers["HX-Redirect"] == "/login"


def test_pages_load_only_the_packaged_assets(world: UiWorld, alice: tuple[requests.Session, str]) -> None:
    s, _ = alice
    page = s.get(world.url + "/ns/team/pipelines/web")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(src.startswith("/") for src in sources), sources
    for asset in ("/static/htmx.min.js", "/static/htmx-ext-sse.js", "/static/app.js", "/static/app.css"):
        assert s.get(world.url + asset).status_code == 200
    assert "htmx.org 2.0.11" in s.get(world.url + "/static/LICENSES.txt").text


def test_a_jenkins_run_shows_the_same_grid_and_links_to_its_build(world: UiWorld,
                                                                  alice: tuple[requests.Session, str]) -> None:
    s, _ = alice
    world.system.stop_controller()  # the status below is what a Jenkins run leaves; nobody else writes it
    world.system.kube.create("pipelineexecutions", "team", {
        "apiVersion": "devops.cubepaas.io/v1alpha1", "kind": "PipelineExecution", "metadata": {"name": "web-5"},
        "spec": {"pipelineName": "web", "run": 5, "branch": "main",
                 "pipelineConfig": world.system.kube.get("pipelines", "team", "web")["spec"]["config"]}})
    obj = world.system.execution("web-5")
    obj["status"] = {"executionState": "Failed", "started": "2026-05-01T12:00:00Z", "ended": "2026-05-01T12:02:00Z",
                     "duration": "2m0s", "engineRef": {"engine": "jenkins", "jenkinsJob": "team-web-5",
                                                       "jenkinsBuild": 12},
                     "stages": [{"name": "Clone", "state": "Success", "steps": [{"state": "Success"}]},
                                {"name": "Build", "state": "Failed", "steps": [{"state": "Success"},
                                                                               {"state": "Failed"}]},
                                {"name": "Ship", "state": "Waiting", "steps": [{"state": "Waiting"}]}]}
    world.system.kube.replace_status("pipelineexecutions", "team", "web-5", obj)
    page = wait_for(lambda: (p := s.get(world.url + "/ns/team/runs/web-5")).status_code == 200 and p.text, 10,
                    "the run page")
    # the setting names no Jenkins: the controller deployed one (jenkins.team.svc), reached as --jenkins-url says
    assert 'href="https://jenkins-team.example.com/job/team-web-5/12/"' in page
    assert 'data-step="1-2" data-state="Failed"' in page and "Jenkins job team-web-5 #12" in page
    world.system.kube.patch("pipelinesettings", "team", "default",
                            {"spec": {"jenkins": {"url": "https://jenkins.example.com/ci/"}}})
    wait_for(lambda: 'href="https://jenkins.example.com/ci/job/team-web-5/12/"' in s.get(
        world.url + "/ns/team/runs/web-5").text, 10, "the external Jenkins's own address")


def test_a_pages_stream_sends_nothing_the_page_already_shows_then_every_change(
        world: UiWorld, alice: tuple[requests.Session, str]) -> None:
    s, csrf = alice
    world.system.sim.paused.add("ship")
    name = _run(s, world, csrf)
    wait_for(lambda: world.system.execution(name)["status"]["stages"][2]["steps"][0]["state"] == "Building", 15,
             "Ship running")
    page = s.get(world.url + f"/ns/team/runs/{name}").text
    live = html.unescape(re.search(r'sse-connect="([^"]+)"', page).group(1))  # type: ignore[union-attr]
    assert re.search(r"[?&]version=\d+&seen=[0-9a-f]{32}$", live), live
    seen: list[tuple[str, str]] = []
    with s.get(world.url + live, stream=True, timeout=20) as stream:
        reader = threading.Thread(target=_events, args=(stream, 50, seen), daemon=True)
        reader.start()
        time.sleep(1.0)
        assert seen == []  # what the page shows is current: not rendered or sent again
        world.system.sim.paused.discard("ship")
        wait_for(lambda: any('id="run-state">Success' in h for _, h in seen), 10, "the end, pushed")
    stale = re.sub(r"seen=[0-9a-f]{32}", "seen=" + "0" * 32, re.sub(r"version=\d+", "version=1", live))
    again: list[tuple[str, str]] = []
    with s.get(world.url + stale, stream=True, timeout=20) as stream:  # a page older than the run: sent at once
        reader = threading.Thread(target=_events, args=(stream, 1, again), daemon=True)
        reader.start()
        wait_for(lambda: again, 10, "the current grid")
    assert again[0][0] == "run" and 'id="run-state">Success' in again[0][1]
    history = s.get(world.url + "/ns/team/pipelines/web").text
    live = html.unescape(re.search(r'sse-connect="([^"]+)"', history).group(1))  # type: ignore[union-attr]
    listed: list[tuple[str, str]] = []
    with s.get(world.url + live, stream=True, timeout=20) as stream:
        reader = threading.Thread(target=_events, args=(stream, 50, listed), daemon=True)
        reader.start()
        time.sleep(1.0)
        assert listed == []  # the same history as the page's: not sent again
        _run(s, world, csrf)
        wait_for(lambda: listed and listed[-1][0] == "history", 10, "the new run in the history")
