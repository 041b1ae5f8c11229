"""Runs from webhooks and schedules: signed deliveries over real HTTP, replays, pull requests
from the target branch's file with credentials, and cron across restarts."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.controller.harness import SIMPLE, System, wait_for
from tests.git_server import GitServer, add_commit, make_repo
from translator.controller.manager import Controller, ControllerConfig
from translator.controller.triggers import WebhookReceiver, due_cron, normalize_url
from translator.kubeclient import update_with_retry

SECRET = "hook-secret"
REPO = "https://github.com/acme/web.git"


def _receiver(system: System) -> WebhookReceiver:
    return WebhookReceiver(system.kube, SECRET, lambda: system.kube.list("pipelines")["items"])


def _github(kind: str, payload: dict[str, Any], delivery: str, secret: str = SECRET) -> tuple[dict[str, str], bytes]:
    body = json.dumps(payload).encode()
    sig = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-GitHub-Event": kind, "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": sig,
            "Content-Type": "application/json"}, body


def _push(ref: str = "refs/heads/master", after: str = "a" * 40) -> dict[str, Any]:
    return {"ref": ref, "after": after, "head_commit": {"message": "fix the build"}, "pusher": {"name": "alice"},
            "repository": {"clone_url": REPO, "ssh_url": "git@github.com:acme/web.git"}}


def _executions(system: System) -> list[dict[str, Any]]:
    return system.kube.list("pipelineexecutions", "team")["items"]


def test_urls_of_one_repository_compare_equal() -> None:
    assert normalize_url("https://GitHub.com/acme/web.git") == normalize_url("git@github.com:acme/web") \
        == normalize_url("ssh://git@github.com/acme/web/") == "github.com/acme/web"
    assert normalize_url("https://github.com/acme/web") != normalize_url("https://github.com/acme/api")


def test_signed_push_over_http_runs_once_and_a_replay_does_not(system: System) -> None:
    system.apply_pipeline("web", repositoryUrl=REPO)
    server = _receiver(system).serve(0, host="127.0.0.1")
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hooks/github"
        headers, body = _github("push", _push(), "delivery-1")

        def post() -> tuple[int, dict[str, Any]]:
            req = urllib.request.Request(url, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(req) as resp:
                    return resp.status, json.loads(resp.read())
            except urllib.error.HTTPError as err:
                return err.code, json.loads(err.read())

        status, answer = post()
        assert status == 201 and answer["created"][0].startswith("team/web-wh-")
        assert post()[0] == 200  # the same delivery again: no second run
        assert len(_executions(system)) == 1
    finally:
        server.shutdown()
    ex = system.wait_state(answer["created"][0].split("/")[1], "Success")
    spec = ex["spec"]
    assert (spec["triggeredBy"], spec["event"], spec["branch"], spec["commit"], spec["run"]) == (
        "webhook", "push", "master", "a" * 40, 1)
    assert spec["message"] == "fix the build" and spec["triggerUserName"] == "alice"


def test_unsigned_or_wrongly_signed_is_refused_and_logged_without_its_body(
        system: System, caplog: pytest.LogCaptureFixture) -> None:
    system.apply_pipeline("web", repositoryUrl=REPO)
    receiver = _receiver(system)
    headers, body = _github("push", {**_push(), "secret-marker": "do-not-log-me"}, "d-bad", secret="wrong")
    with caplog.at_level(logging.WARNING, logger="translator.webhook"):
        assert receiver.handle("/hooks/github", headers, body).status == 401
        unsigned = {k: v for k, v in headers.items() if k != "X-Hub-Signature-256"}
        assert receiver.handle("/hooks/github", unsigned, body).status == 401
    assert not _executions(system)
    assert "X-Hub-Signature-256" in caplog.text and "do-not-log-me" not in caplog.text
    assert all(getattr(r, "delivery", "") == "d-bad" for r in caplog.records)


def test_trigger_flags_tags_and_pull_requests(system: System) -> None:
    system.apply_pipeline("web", repositoryUrl=REPO)  # push only (Rancher's default)
    system.apply_pipeline("api", repositoryUrl=REPO, triggerWebhookPush=False, triggerWebhookPr=True,
                          triggerWebhookTag=True)
    receiver = _receiver(system)
    result = receiver.handle("/hooks/github", *_github("push", _push("refs/tags/v1.2.0"), "d-tag"))
    assert result.status == 201 and len(result.created) == 1 and result.created[0].startswith("team/api-wh-")
    tag = system.kube.get("pipelineexecutions", "team", result.created[0].split("/")[1])["spec"]
    assert (tag["event"], tag["ref"], tag["branch"]) == ("tag", "refs/tags/v1.2.0", "v1.2.0")
    pr = {"action": "opened", "number": 7, "repository": {"clone_url": REPO},
          "pull_request": {"title": "Add x", "base": {"ref": "master"}, "head": {"sha": "b" * 40},
                           "user": {"login": "bob"}}}
    result = receiver.handle("/hooks/github", *_github("pull_request", pr, "d-pr"))
    spec = system.kube.get("pipelineexecutions", "team", result.created[0].split("/")[1])["spec"]
    assert (spec["event"], spec["branch"], spec["ref"], spec["commit"]) == (
        "pull_request", "master", "refs/pull/7/head", "b" * 40)
    closed = {**pr, "action": "closed"}
    assert receiver.handle("/hooks/github", *_github("pull_request", closed, "d-closed")).status == 200
    assert receiver.handle("/hooks/github", *_github("ping", {"zen": "hi"}, "d-ping")).status == 200
    other = {**_push(), "repository": {"clone_url": "https://github.com/acme/other.git"}}
    assert receiver.handle("/hooks/github", *_github("push", other, "d-other")).status == 202
    assert len(_executions(system)) == 2


def test_gitlab_and_generic_deliveries(system: System) -> None:
    system.apply_pipeline("web", repositoryUrl="https://gitlab.example.com/acme/web.git", triggerWebhookPr=True)
    receiver = _receiver(system)
    push = {"ref": "refs/heads/dev", "checkout_sha": "c" * 40, "user_username": "carol",
            "commits": [{"message": "wip"}], "project": {"git_http_url": "https://gitlab.example.com/acme/web.git"}}
    headers = {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": SECRET, "X-Gitlab-Event-UUID": "g-1"}
    result = receiver.handle("/hooks/gitlab", headers, json.dumps(push).encode())
    assert result.status == 201
    assert receiver.handle("/hooks/gitlab", {**headers, "X-Gitlab-Token": "nope"},
                           json.dumps(push).encode()).status == 401
    mr = {"object_attributes": {"action": "open", "iid": 3, "target_branch": "main", "title": "MR",
                                "last_commit": {"id": "d" * 40}},
          "user": {"username": "dave"}, "project": {"git_http_url": "https://gitlab.example.com/acme/web.git"}}
    result = receiver.handle("/hooks/gitlab", {**headers, "X-Gitlab-Event": "Merge Request Hook",
                                               "X-Gitlab-Event-UUID": "g-2"}, json.dumps(mr).encode())
    spec = system.kube.get("pipelineexecutions", "team", result.created[0].split("/")[1])["spec"]
    assert (spec["event"], spec["branch"], spec["ref"]) == ("pull_request", "main", "refs/merge-requests/3/head")
    generic = json.dumps({"event": "push", "repositoryUrl": "git@gitlab.example.com:acme/web.git",
                          "branch": "main", "commit": "e" * 40}).encode()
    sig = "sha256=" + hmac.new(SECRET.encode(), generic, hashlib.sha256).hexdigest()
    result = receiver.handle("/hooks/generic?pipeline=team/web",
                             {"X-Translator-Signature": sig, "X-Translator-Delivery": "gen-1"}, generic)
    assert result.status == 201
    assert receiver.handle("/hooks/generic", {"X-Translator-Signature": sig}, generic).status == 400  # no id
    assert len(_executions(system)) == 3


def test_pull_request_runs_the_target_branch_file_read_with_credentials(system: System, tmp_path: Path) -> None:
    target = "stages:\n- name: Target\n  steps:\n  - runScriptConfig: {image: alpine, shellScript: base}\n"
    head = "stages:\n- name: Head\n  steps:\n  - runScriptConfig: {image: alpine, shellScript: evil}\n"
    bare, _ = make_repo(tmp_path, "web", {".rancher-pipeline.yml": target})
    head_commit = add_commit(bare, "feature", {".rancher-pipeline.yml": head})
    system.secret("scm-token", {"token": "s3cret-token"})
    system.kube.create("sourcecodecredentials", "team", {
        "apiVersion": "devops.cubepaas.io/v1alpha1", "kind": "SourceCodeCredential", "metadata": {"name": "bot"},
        "spec": {"sourceCodeType": "github", "userName": "bot", "secretName": "scm-token"}})
    with GitServer(tmp_path, user="bot", password="s3cret-token") as git:
        url = f"{git.url}/web.git"
        system.apply_pipeline("web", inline=False, repositoryUrl=url, triggerWebhookPr=True,
                              sourceCodeCredentialName="bot")
        body = {"pipeline": "ignored", "action": "synchronize", "number": 9, "repository": {"clone_url": url},
                "pull_request": {"base": {"ref": "master"}, "head": {"sha": head_commit}, "user": {"login": "x"}}}
        result = _receiver(system).handle("/hooks/github", *_github("pull_request", body, "d-pr-9"))
        name = result.created[0].split("/")[1]
        ex = system.wait_state(name, "Success", timeout=20)
    assert [s["name"] for s in ex["status"]["stages"]] == ["Clone", "Target"]
    assert ex["spec"]["commit"] == head_commit and ex["spec"]["event"] == "pull_request"


def test_pipeline_file_unreadable_fails_initialization_clearly(system: System) -> None:
    system.apply_pipeline("web", inline=False, repositoryUrl="http://127.0.0.1:1/none.git")
    result = _receiver(system).handle("/hooks/generic", *_generic_push("http://127.0.0.1:1/none.git"))
    ex = system.wait_state(result.created[0].split("/")[1], "Failed")
    cond = next(c for c in ex["status"]["conditions"] if c["type"] == "Initialized")
    assert cond["reason"] == "ConfigNotFound" and "git fetch" in cond["message"]


def _generic_push(url: str) -> tuple[dict[str, str], bytes]:
    body = json.dumps({"event": "push", "repositoryUrl": url, "branch": "master"}).encode()
    sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Translator-Signature": sig, "X-Translator-Delivery": "gen-x"}, body


# ---------------------------------------------------------------------- cron

def test_due_cron_is_the_latest_missed_time_only() -> None:
    now = datetime(2026, 11, 25, 10, 7, 30, tzinfo=UTC)
    pipeline = {"metadata": {"name": "web", "creationTimestamp": "2026-11-25T09:00:00Z"},
                "spec": {"cron": {"schedule": "*/5 * * * *"}}, "status": {"lastCronTime": "2026-11-25T09:50:00Z"}}
    due, following, problem = due_cron(pipeline, now)
    assert (due, following, problem) == (datetime(2026, 11, 25, 10, 5, tzinfo=UTC),
                                         datetime(2026, 11, 25, 10, 10, tzinfo=UTC), "")
    pipeline["status"]["lastCronTime"] = "2026-11-25T10:05:00Z"
    assert due_cron(pipeline, now)[0] is None
    berlin = {**pipeline, "spec": {"cron": {"schedule": "0 11 * * *", "timezone": "Europe/Berlin"}},
              "status": {"lastCronTime": "2026-11-24T10:00:00Z"}}
    assert due_cron(berlin, now)[0] == datetime(2026, 11, 25, 10, 0, tzinfo=UTC)  # 11:00 CET
    assert "not a cron expression" in due_cron({**pipeline, "spec": {"cron": {"schedule": "every day"}}}, now)[2]


def test_cron_runs_once_per_time_across_restarts(system: System) -> None:
    clock = {"now": datetime.now(UTC).replace(second=30, microsecond=0)}
    system.stop_controller()
    minute = clock["now"].replace(second=0)
    body = {"apiVersion": "devops.cubepaas.io/v1alpha1", "kind": "Pipeline", "metadata": {"name": "nightly"},
            "spec": {"repositoryUrl": REPO, "config": SIMPLE, "cron": {"schedule": "* * * * *"}}}
    system.kube.create("pipelines", "team", body)
    current = system.kube.get("pipelines", "team", "nightly")
    current["status"] = {"nextRun": 1, "lastCronTime": (minute - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")}
    system.kube.replace_status("pipelines", "team", "nightly", current)

    def start() -> Controller:
        return Controller(system.kube, ControllerConfig(workers=2), clock=lambda: clock["now"]).start()

    controller = start()
    try:
        wait_for(lambda: [e for e in _executions(system) if e["spec"]["triggeredBy"] == "cron"])
        crons = [e for e in _executions(system) if e["spec"]["triggeredBy"] == "cron"]
        assert [e["metadata"]["name"] for e in crons] == [f"nightly-cron-{minute:%Y%m%d%H%M}"]  # not five
        wait_for(lambda: system.kube.get("pipelines", "team", "nightly")["status"].get("lastCronTime")
                 == minute.strftime("%Y-%m-%dT%H:%M:%SZ"))
    finally:
        controller.stop()
    # a new leader, the same minute: nothing new; even with lastCronTime lost, the name collides
    def rewind(cur: dict[str, Any]) -> dict[str, Any]:
        cur["status"]["lastCronTime"] = (minute - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        return cur

    update_with_retry(lambda: system.kube.get("pipelines", "team", "nightly"), rewind,
                      lambda b: system.kube.replace_status("pipelines", "team", "nightly", b))
    controller = start()
    try:
        wait_for(lambda: system.kube.get("pipelines", "team", "nightly")["status"].get("lastCronTime")
                 == minute.strftime("%Y-%m-%dT%H:%M:%SZ"))
        assert len([e for e in _executions(system) if e["spec"]["triggeredBy"] == "cron"]) == 1
        clock["now"] += timedelta(minutes=1)
        system.kube.patch("pipelines", "team", "nightly", {"metadata": {"annotations": {"touch": "1"}}})
        wait_for(lambda: len([e for e in _executions(system) if e["spec"]["triggeredBy"] == "cron"]) == 2)
        ex = system.wait_state(f"nightly-cron-{minute + timedelta(minutes=1):%Y%m%d%H%M}", "Success")
        assert ex["spec"]["branch"] == "master" and ex["spec"]["run"] >= 1
    finally:
        controller.stop()


def test_a_bad_schedule_is_reported_on_the_pipeline(system: System) -> None:
    system.apply_pipeline("web", cron={"schedule": "61 * * * *"})
    pipeline = system.pipeline_when("web", lambda st: st.get("cronMessage"))
    assert "spec.cron.schedule" in pipeline["status"]["cronMessage"]


def test_an_api_failure_answers_503_so_the_delivery_can_be_retried(system: System) -> None:
    system.apply_pipeline("web", repositoryUrl=REPO)
    receiver = _receiver(system)
    original = receiver.kube.create

    def refuse(*args: Any, **kwargs: Any) -> Any:
        from kubernetes import client

        raise client.ApiException(status=500, reason="etcd timeout")

    receiver.kube.create = refuse  # type: ignore[method-assign]
    result = receiver.handle("/hooks/github", *_github("push", _push(), "d-503"))
    assert result.status == 503 and "deliver again" in result.message
    receiver.kube.create = original  # type: ignore[method-assign]
    assert receiver.handle("/hooks/github", *_github("push", _push(), "d-503")).status == 201
