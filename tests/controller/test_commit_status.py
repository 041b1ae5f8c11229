"""Commit and pull-request statuses: each run's state on its commit at GitHub, GitLab, Bitbucket Cloud
and Bitbucket Server, through the real controller, against the providers' status endpoints
(tests/providers_double.py) — including a controller restart between the run's end and its report."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.controller.harness import System, wait_for
from tests.kube_double.server import KubeDouble
from tests.providers_double import Post, StatusDouble
from translator.controller.commit_status import post, target_for, wanted

SHA = "4f7d2c1b9a0e8d7c6b5a49382716050f1e2d3c4b"
UI = "https://ci.example.com"
REPOS = {  # kind, provider config hostname, repository URL, API path on the double, repo path
    "github": ("github", "github.example.com", "https://github.example.com/acme/web.git", "/github", "acme/web"),
    "gitlab": ("gitlab", "gitlab.example.com", "https://gitlab.example.com/grp/sub/web.git", "/gitlab/api/v4",
               "grp/sub/web"),
    "bitbucket-cloud": ("bitbucket", "bitbucket.org", "https://bitbucket.org/acme/web.git", "/bitbucket/2.0",
                        "acme/web"),
    "bitbucket-server": ("bitbucket", "bitbucket.example.com", "https://bitbucket.example.com/scm/proj/web.git",
                         "/bbs", "scm/proj/web"),
}
SCOPES = {"repo:status", "api", "repository:write"}


@pytest.fixture
def statuses() -> Iterator[StatusDouble]:
    double = StatusDouble(commits={r[4]: {SHA} for r in REPOS.values()}, tokens={"good": set(SCOPES)}).start()
    yield double
    double.stop()


def _world(kube: KubeDouble, statuses: StatusDouble, provider: str, *, token: str = "good",
           ui_url: str = UI) -> System:
    kind, host, url, path, _ = REPOS[provider]
    system = System(kube)
    system.secret("scm-token", {"token": token})
    system.kube.create("sourcecodeproviderconfigs", "team", {
        "apiVersion": "devops.cubepaas.io/v1alpha1", "kind": "SourceCodeProviderConfig", "metadata": {"name": kind},
        "spec": {"type": kind, "hostname": host, "apiUrl": statuses.url + path}})
    system.kube.create("sourcecodecredentials", "team", {
        "apiVersion": "devops.cubepaas.io/v1alpha1", "kind": "SourceCodeCredential", "metadata": {"name": "bot"},
        "spec": {"sourceCodeType": kind, "userName": "bot", "secretName": "scm-token"}})
    system.apply_pipeline("web", repositoryUrl=url, sourceCodeCredentialName="bot")
    controller = system.start_controller(ui_url=ui_url)
    controller.reporter.backoff = 0.2
    return system


def _run(system: System, name: str = "web-1", **spec: Any) -> None:
    """An execution as a webhook makes it: a commit and a branch."""
    system.kube.create("pipelineexecutions", "team", {
        "apiVersion": "devops.cubepaas.io/v1alpha1", "kind": "PipelineExecution", "metadata": {"name": name},
        "spec": {"pipelineName": "web", "triggeredBy": "webhook", "commit": SHA, "branch": "main", "event": "push",
                 **spec}})


def _reported(system: System, name: str = "web-1") -> dict[str, Any]:
    conds = (system.execution(name).get("status") or {}).get("conditions") or []
    return next((c for c in conds if c["type"] == "Reported"), {})


def _states(posts: list[Post]) -> list[str]:
    return [str(p.body["state"]) for p in posts]


@pytest.mark.parametrize("provider", sorted(REPOS))
def test_a_run_reports_pending_running_and_its_end_on_the_commit(provider: str, statuses: StatusDouble) -> None:
    with KubeDouble() as kube:
        system = _world(kube, statuses, provider)
        system.sim.paused.add("ship")
        try:
            _run(system)
            wait_for(lambda: statuses.posts and statuses.posts[-1].body["description"] == "Running", 20,
                     "running reported")
            system.sim.paused.discard("ship")
            system.wait_state("web-1", "Success")
            wait_for(lambda: _reported(system).get("status") == "True", 20, "the end reported")
            assert "reported to" in _reported(system)["message"]
        finally:
            system.close()
    posts = statuses.posts
    final = posts[-1].body
    running, success = {"github": ("pending", "success"), "gitlab": ("running", "success"),
                        "bitbucket-cloud": ("INPROGRESS", "SUCCESSFUL"),
                        "bitbucket-server": ("INPROGRESS", "SUCCESSFUL")}[provider]
    # pending first when the run was still waiting at the report, then running, then the end, once
    assert _states(posts)[-2:] == [running, success] and len(posts) <= 3
    assert [p.body["description"] for p in posts][-2] == "Running"
    assert {p.sha for p in posts} == {SHA} and {p.provider for p in posts} == {provider}
    assert final.get("context") == "translator/web" or final.get("name") == "translator/web"
    link = final.get("target_url") or final.get("url")
    assert link == f"{UI}/ns/team/runs/web-1"
    assert str(final["description"]).startswith("Succeeded")


def test_a_queued_run_is_pending_on_its_commit_and_says_so(statuses: StatusDouble) -> None:
    other = SHA.replace("4f", "5e")
    statuses.commits["acme/web"].add(other)
    with KubeDouble() as kube:
        system = _world(kube, statuses, "github")
        system.sim.paused.add("ship")
        try:
            system.kube.patch("pipelinesettings", "team", "default", {"spec": {"executorQuota": 1}})
            _run(system, "web-1")
            system.wait_state("web-1", "Building")
            _run(system, "web-2", commit=other)  # another commit, queued behind web-1
            system.wait_state("web-2", "Queueing")
            wait_for(lambda: [p for p in statuses.posts if p.sha == other
                              and p.body["description"] == "Queued behind other runs"], 10, "queued reported")
        finally:
            system.close()
    queued = [p for p in statuses.posts if p.sha == other]
    assert {p.body["state"] for p in queued} == {"pending"} and queued[-1].body["context"] == "translator/web"
    assert queued[-1].body["description"] == "Queued behind other runs"


def test_a_failed_run_says_where_it_failed(statuses: StatusDouble) -> None:
    with KubeDouble() as kube:
        system = _world(kube, statuses, "github")
        system.sim.outcome = lambda _wf, task: "Failed" if task == "ship" else "Succeeded"
        try:
            _run(system)
            system.wait_state("web-1", "Failed")
            wait_for(lambda: _reported(system).get("status") == "True", 10, "the failure reported")
        finally:
            system.close()
    final = statuses.posts[-1].body
    assert final["state"] == "failure" and final["description"] == "Failed at Ship \u203a alpine: make ship"


def test_without_a_ui_url_github_gets_no_link_and_bitbucket_the_commit(statuses: StatusDouble) -> None:
    for provider, expected in (("github", None), ("bitbucket-cloud", f"https://bitbucket.org/acme/web/commits/{SHA}")):
        with KubeDouble() as kube:
            system = _world(kube, statuses, provider, ui_url="")
            try:
                _run(system)
                system.wait_state("web-1", "Success")
                wait_for(lambda s=system: _reported(s).get("status") == "True", 10, "reported")
            finally:
                system.close()
        body = statuses.posts[-1].body
        assert (body.get("target_url") if provider == "github" else body.get("url")) == expected


def test_a_token_without_the_scope_is_recorded_and_retried_without_holding_the_run(statuses: StatusDouble) -> None:
    statuses.tokens["weak"] = {"repo"}  # can read the repository, cannot write statuses
    with KubeDouble() as kube:
        system = _world(kube, statuses, "github", token="weak")
        try:
            _run(system)
            system.wait_state("web-1", "Success")  # the run never waits for the provider
            cond = wait_for(lambda: (c := _reported(system)).get("status") == "False" and "success" in c["message"]
                            and c, 10, "the refusal recorded")
            assert cond["reason"] == "Forbidden" and "scope to write commit statuses" in cond["message"]
            assert "Resource not accessible" in cond["message"]
            statuses.tokens["weak"].add("repo:status")  # the owner grants the scope: the retry goes through
            wait_for(lambda: _reported(system).get("status") == "True", 15, "the retry to succeed")
        finally:
            system.close()
    assert _states(statuses.final_posts()) == ["success"]


def test_a_provider_error_is_retried_with_backoff(statuses: StatusDouble) -> None:
    with KubeDouble() as kube:
        system = _world(kube, statuses, "gitlab")
        try:
            statuses.fail_next = 100  # every pending/running report fails: the run goes on
            _run(system)
            system.wait_state("web-1", "Success")
            wait_for(lambda: _reported(system).get("reason") == "HTTP502", 10, "the error recorded")
            statuses.fail_next = 2  # the provider's trouble ends after two more answers
            wait_for(lambda: _reported(system).get("status") == "True", 20, "a later attempt to succeed")
        finally:
            system.close()
    assert _states(statuses.final_posts("gitlab")) == ["success"]


def test_a_restart_between_the_runs_end_and_its_report_reports_once(statuses: StatusDouble) -> None:
    with KubeDouble() as kube:
        system = _world(kube, statuses, "gitlab")
        system.sim.paused.add("ship")
        try:
            _run(system)
            wait_for(lambda: statuses.posts and statuses.posts[-1].body["description"] == "Running", 20,
                     "running reported")
            system.stop_controller()  # the controller is gone when the run ends
            system.sim.paused.discard("ship")
            wait_for(lambda: (system.workflows()[0].get("status") or {}).get("phase") == "Succeeded", 10, "Argo done")
            assert _states(statuses.final_posts()) == []
            system.start_controller(ui_url=UI)  # a new controller (a new identity) picks the run up
            wait_for(lambda: _reported(system).get("status") == "True", 15, "the end reported")
            system.stop_controller()
            system.start_controller(ui_url=UI)  # and another one finds nothing left to say
            time.sleep(1.0)
        finally:
            system.close()
    assert _states(statuses.final_posts()) == ["success"]
    assert _states(statuses.posts)[-2:] == ["running", "success"]


def test_a_claim_left_by_a_dead_controller_is_taken_over(statuses: StatusDouble) -> None:
    with KubeDouble() as kube:
        system = _world(kube, statuses, "bitbucket-server")
        try:
            system.stop_controller()
            _run(system)
            obj = system.execution("web-1")  # as a dead leader left it: finished, the final report claimed
            obj["status"] = {"executionState": "Success", "started": "2026-01-01T00:00:00Z",
                             "ended": "2026-01-01T00:01:00Z", "duration": "1m0s", "conditions": [
                                 {"type": "Initialized", "status": "True", "reason": "Initialized"},
                                 {"type": "Reported", "status": "Unknown", "reason": "Reporting",
                                  "message": "claimed by dead-controller", "lastUpdateTime": "2026-01-01T00:01:00Z",
                                  "lastTransitionTime": "2026-01-01T00:01:00Z"}]}
            system.kube.replace_status("pipelineexecutions", "team", "web-1", obj)
            controller = system.start_controller(ui_url=UI)
            controller.reporter.claim_timeout = 60.0  # a day-old claim is long stale
            wait_for(lambda: _reported(system).get("status") == "True", 15, "the stale claim taken over")
        finally:
            system.close()
    assert _states(statuses.posts) == ["SUCCESSFUL"] and statuses.posts[0].body["description"] == "Succeeded in 1m0s"


def test_runs_without_a_commit_or_a_credential_report_nothing(statuses: StatusDouble) -> None:
    with KubeDouble() as kube:
        system = _world(kube, statuses, "github")
        try:
            _run(system, "web-1", commit="")  # started by hand: no commit to report on
            system.wait_state("web-1", "Success")
            time.sleep(0.5)
            assert _reported(system) == {}
        finally:
            system.close()
    assert statuses.posts == []


# ---------------------------------------------------------------------------- pure decisions


def _ex(state: str, **status: Any) -> dict[str, Any]:
    return {"metadata": {"name": "web-1", "namespace": "team"},
            "spec": {"pipelineName": "web", "commit": SHA, "pipelineConfig": {"stages": [
                {"name": "Test", "steps": [{"runScriptConfig": {"image": "golang", "shellScript": "go vet"}},
                                           {"runScriptConfig": {"image": "golang", "shellScript": "go test"}}]}]}},
            "status": {"executionState": state, **status}}


def test_the_wanted_report_follows_the_runs_state() -> None:
    assert wanted(_ex("Waiting")).state == "pending" and wanted(_ex("Queueing")).description.startswith("Queued")
    assert wanted(_ex("Building")).phase == "Running"
    assert wanted(_ex("Success", duration="3m12s")).description == "Succeeded in 3m12s"
    failed = _ex("Failed", stages=[{"name": "Clone", "steps": [{"state": "Success"}]},
                                   {"name": "Test", "steps": [{"state": "Success"}, {"state": "Failed"}]}],
                 conditions=[{"type": "Built", "status": "False", "reason": "StepFailed"}])
    assert wanted(failed).state == "failure" and wanted(failed).description == "Failed at Test \u203a golang: go test"
    lost = _ex("Failed", conditions=[{"type": "Provisioned", "status": "False", "reason": "EngineUnreachable",
                                      "message": "jenkins did not answer"}])
    assert wanted(lost).state == "error" and wanted(lost).description == "Error: jenkins did not answer"
    stopped = _ex("Aborted", conditions=[{"type": "Built", "status": "False", "reason": "Stopped",
                                          "message": "stopped by alice"}])
    assert wanted(stopped).state == "canceled" and wanted(stopped).description == "Stopped by alice"


def test_targets_and_auth_for_each_provider() -> None:
    gh = target_for("github", "https://github.com/acme/web.git", {"token": "t"})
    assert gh is not None and gh.base == "https://api.github.com" and gh.headers["Authorization"] == "Bearer t"
    ghe = target_for("github", "git@github.corp.com:acme/web.git", {"token": "t"})
    assert ghe is not None and ghe.base == "https://github.corp.com/api/v3" and ghe.repo == "acme/web"
    bb = target_for("bitbucket", "https://bitbucket.org/acme/web.git", {"username": "bot", "password": "app-pw"})
    assert bb is not None and bb.kind == "bitbucket-cloud" and bb.headers["Authorization"].startswith("Basic ")
    bbs = target_for("bitbucket", "https://bitbucket.example.com/scm/proj/web.git", {"token": "t"})
    assert bbs is not None and bbs.kind == "bitbucket-server" and bbs.base == "https://bitbucket.example.com"
    assert target_for("git", "https://example.com/x.git", {}) is None


# ---------------------------------------------------------------------------- the doubles' behaviour


def test_gitlab_refuses_to_enqueue_a_status_already_pending(statuses: StatusDouble) -> None:
    from translator.controller.commit_status import Report
    from translator.controller.providers import ProviderError

    target = target_for("gitlab", "https://gitlab.example.com/grp/sub/web.git", {"token": "good"},
                        api_url=statuses.url + "/gitlab/api/v4")
    assert target is not None
    pending = Report("Pending", "pending", "Waiting")
    post(target, SHA, context="translator/web", report=pending, url="", ref="main")
    post(target, SHA, context="translator/web", report=pending, url="", ref="main")  # 400 from GitLab: already so
    assert len(statuses.posts) == 1
    code, answer = statuses.route(f"/gitlab/api/v4/projects/grp%2Fsub%2Fweb/statuses/{SHA}", {"PRIVATE-TOKEN": "good"},
                                  {"state": "pending", "name": "translator/web", "ref": "main"})
    assert code == 400 and answer["message"].startswith("Cannot transition status via :enqueue from :pending")
    code, _ = statuses.route(f"/gitlab/api/v4/projects/grp%2Fsub%2Fweb/statuses/{SHA}", {"PRIVATE-TOKEN": "good"},
                             {"state": "success", "name": "translator/web", "ref": "main"})
    assert code == 201  # pending -> success is allowed; a finished status is never reused
    code, _ = statuses.route(f"/gitlab/api/v4/projects/grp%2Fsub%2Fweb/statuses/{SHA}", {"PRIVATE-TOKEN": "good"},
                             {"state": "running", "name": "translator/web", "ref": "main"})
    assert code == 201
    with pytest.raises(ProviderError):
        post(target, "0" * 40, context="translator/web", report=pending, url="", ref="main")  # no such commit: 404


def test_bitbucket_needs_a_url_and_overwrites_a_key(statuses: StatusDouble) -> None:
    path = f"/bitbucket/2.0/repositories/acme/web/commit/{SHA}/statuses/build"
    auth = {"Authorization": "Bearer good"}
    code, answer = statuses.route(path, auth, {"key": "translator/web", "state": "INPROGRESS"})
    assert code == 400 and answer["error"]["fields"] == {"url": ["This field is required."]}
    for state in ("INPROGRESS", "SUCCESSFUL"):
        assert statuses.route(path, auth, {"key": "translator/web", "state": state, "url": "https://x"})[0] == 201
    current = [v for k, v in statuses.current.items() if k[0] == "bitbucket-cloud"]
    assert [c["state"] for c in current] == ["SUCCESSFUL"]
    code, _ = statuses.route(f"/bbs/rest/build-status/1.0/commits/{SHA}", auth,
                             {"key": "k", "state": "STOPPED", "url": "https://x"})
    assert code == 400  # Server's build-status 1.0 knows INPROGRESS, SUCCESSFUL and FAILED only


def test_github_answers_404_for_a_repository_the_token_cannot_see(statuses: StatusDouble) -> None:
    code, answer = statuses.route(f"/github/repos/acme/secret/statuses/{SHA}", {"Authorization": "Bearer good"},
                                  {"state": "success"})
    assert code == 404 and answer == {"message": "Not Found"}
    code, _ = statuses.route(f"/github/repos/acme/web/statuses/{SHA}", {"Authorization": "Bearer nope"},
                             {"state": "success"})
    assert code == 401


def test_a_report_due_while_backing_off_is_looked_at_again_when_the_wait_is_over() -> None:
    # found in CI: the failed running report's requeue merged into a sooner one of the same key (the
    # pending report's), which came while the backoff still held, and the final report never went out
    from datetime import UTC, datetime

    from tests.controller.test_finished import finished
    from translator.controller.commit_status import Reporter

    requeued: list[tuple[str, str, float]] = []
    reporter = Reporter(None, ui_url="", identity="me", clock=lambda: datetime(2026, 1, 1, tzinfo=UTC),  # type: ignore[arg-type]
                        pipeline=lambda _ns, _n: {"spec": {"sourceCodeCredentialName": "gh"}},
                        credential=lambda _ns, _n: {"spec": {"sourceCodeType": "github"}},
                        requeue=lambda ns, n, delay: requeued.append((ns, n, delay)))
    try:
        run = finished("web-1", 1)
        run["metadata"]["namespace"] = "team"
        run["spec"]["commit"] = "a" * 40
        reporter._not_before[("team", "web-1")] = time.monotonic() + 5.0  # an earlier attempt failed
        reporter.consider(run)
        assert [(ns, n) for ns, n, _ in requeued] == [("team", "web-1")]
        assert 4.0 < requeued[0][2] <= 5.0, "back when the wait is over, not before and not never"
        assert not reporter._inflight, "nothing is sent while backing off"
    finally:
        reporter.stop()
