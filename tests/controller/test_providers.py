"""GitHub and GitLab: a credential's repositories listed into SourceCodeRepository objects, and
the repository webhook created and deleted as a Pipeline's triggers change — against HTTP
doubles answering like their APIs (auth headers, pagination, hooks)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import pytest

from tests.controller.harness import System, wait_for
from tests.kube_double.server import KubeDouble
from translator.controller.providers import GitHub, GitLab, ProviderError, repo_path

TOKEN = "tok-123"


class ProviderDouble:
    """GitHub (`/api/v3`) and GitLab (`/api/v4`) on one port."""

    def __init__(self, repos: int = 130) -> None:
        self.github_repos = [{"full_name": f"acme/app{i}", "clone_url": f"https://github.example.com/acme/app{i}.git",
                              "default_branch": "main", "language": "Go",
                              "permissions": {"pull": True, "push": i % 2 == 0, "admin": i == 0}} for i in range(repos)]
        self.gitlab_repos = [{"path_with_namespace": f"grp/sub/svc{i}",
                              "http_url_to_repo": f"https://gitlab.example.com/grp/sub/svc{i}.git",
                              "default_branch": "master",
                              "permissions": {"project_access": {"access_level": 40 if i == 0 else 30},
                                              "group_access": None}} for i in range(3)]
        self.hooks: dict[str, dict[str, Any]] = {}  # id -> {repo, body}
        self.next_id = 1000
        self.log: list[tuple[str, str]] = []
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def _send(self, code: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _route(self, method: str) -> None:
                url = urlparse(self.path)
                path, query = url.path, parse_qs(url.query)
                double.log.append((method, self.path))
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"null")
                page = int((query.get("page") or ["1"])[0])
                if path.startswith("/api/v3/"):
                    if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                        return self._send(401, {"message": "Bad credentials"})
                    if path == "/api/v3/user/repos" and method == "GET":
                        items = double.github_repos[(page - 1) * 100: page * 100]
                        more = page * 100 < len(double.github_repos)
                        link = f'<{self.path.replace(f"page={page}", f"page={page + 1}")}>; rel="next"' if more else ""
                        return self._send(200, items, {"Link": link} if link else None)
                    if m := re.fullmatch(r"/api/v3/repos/([^/]+/[^/]+)/hooks", path):
                        double.next_id += 1
                        double.hooks[str(double.next_id)] = {"repo": m.group(1), "body": body}
                        return self._send(201, {"id": double.next_id, **body})
                    if (m := re.fullmatch(r"/api/v3/repos/([^/]+/[^/]+)/hooks/(\d+)", path)) and method == "DELETE":
                        return self._send(204) if double.hooks.pop(m.group(2), None) else self._send(404, {})
                if path.startswith("/api/v4/"):
                    if self.headers.get("PRIVATE-TOKEN") != TOKEN:
                        return self._send(401, {"message": "401 Unauthorized"})
                    if path == "/api/v4/projects" and method == "GET":
                        items = double.gitlab_repos[(page - 1) * 2: page * 2]
                        more = page * 2 < len(double.gitlab_repos)
                        return self._send(200, items, {"X-Next-Page": str(page + 1) if more else ""})
                    if m := re.fullmatch(r"/api/v4/projects/([^/]+)/hooks", self.path.split("?")[0]):
                        double.next_id += 1
                        double.hooks[str(double.next_id)] = {"repo": unquote(m.group(1)), "body": body}
                        return self._send(201, {"id": double.next_id, **body})
                    if (m := re.fullmatch(r"/api/v4/projects/([^/]+)/hooks/(\d+)", self.path)) and method == "DELETE":
                        return self._send(204) if double.hooks.pop(m.group(2), None) else self._send(404, {})
                return self._send(404, {"message": "Not Found"})

            def do_GET(self) -> None:
                self._route("GET")

            def do_POST(self) -> None:
                self._route("POST")

            def do_DELETE(self) -> None:
                self._route("DELETE")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def api() -> Iterator[ProviderDouble]:
    double = ProviderDouble()
    yield double
    double.server.shutdown()


def test_repo_paths() -> None:
    assert repo_path("https://github.com/acme/web.git") == "acme/web"
    assert repo_path("git@gitlab.example.com:grp/sub/svc.git") == "grp/sub/svc"


def test_clients_page_through_repositories_and_manage_hooks(api: ProviderDouble) -> None:
    github = GitHub(TOKEN, api_url=f"{api.url}/api/v3")
    repos = github.list_repos()
    assert len(repos) == 130 and repos[0].admin and not repos[1].push
    hook = github.create_hook("https://github.example.com/acme/app3.git", "https://ci/hooks/github", "s",
                              push=True, pr=True, tag=False)
    assert api.hooks[hook]["repo"] == "acme/app3" and api.hooks[hook]["body"]["events"] == ["push", "pull_request"]
    github.delete_hook("https://github.example.com/acme/app3.git", hook)
    github.delete_hook("https://github.example.com/acme/app3.git", hook)  # already gone: fine
    with pytest.raises(ProviderError) as err:
        GitHub("wrong", api_url=f"{api.url}/api/v3").list_repos()
    assert err.value.status == 401
    gitlab = GitLab(TOKEN, api_url=f"{api.url}/api/v4")
    projects = gitlab.list_repos()
    assert [p.full_name for p in projects] == ["grp/sub/svc0", "grp/sub/svc1", "grp/sub/svc2"]
    assert projects[0].admin and projects[1].push and not projects[1].admin
    hook = gitlab.create_hook("https://gitlab.example.com/grp/sub/svc1.git", "https://ci/hooks/gitlab", "s",
                              push=False, pr=True, tag=True)
    assert api.hooks[hook]["repo"] == "grp/sub/svc1" and api.hooks[hook]["body"]["token"] == "s"


@pytest.fixture
def system(api: ProviderDouble) -> Iterator[System]:
    with KubeDouble() as kube:
        sys_ = System(kube)
        sys_.secret("gh-token", {"token": TOKEN})
        for kind, version in (("github", "v3"), ("gitlab", "v4")):
            sys_.kube.create("sourcecodeproviderconfigs", "team", {
                "apiVersion": "devops.cubepaas.io/v1alpha1", "kind": "SourceCodeProviderConfig",
                "metadata": {"name": kind}, "spec": {"type": kind, "apiUrl": f"{api.url}/api/{version}"}})
        sys_.start_controller(webhook_url="https://ci.example.com", webhook_secret="hook-secret")
        try:
            yield sys_
        finally:
            sys_.close()


def _credential(system: System, name: str, kind: str) -> None:
    system.kube.create("sourcecodecredentials", "team", {
        "apiVersion": "devops.cubepaas.io/v1alpha1", "kind": "SourceCodeCredential", "metadata": {"name": name},
        "spec": {"sourceCodeType": kind, "userName": "bot", "secretName": "gh-token"}})


def test_a_credentials_repositories_become_objects(system: System, api: ProviderDouble) -> None:
    _credential(system, "bot", "github")
    repos = wait_for(lambda: (items := system.kube.list("sourcecoderepositories", "team")["items"])
                     and len(items) == 130 and items, 15)
    first = next(r for r in repos if r["spec"]["url"].endswith("/app0.git"))
    assert first["spec"]["permissions"] == {"pull": True, "push": True, "admin": True}
    assert first["spec"]["sourceCodeCredentialName"] == "bot" and first["spec"]["defaultBranch"] == "main"
    assert first["metadata"]["ownerReferences"][0]["kind"] == "SourceCodeCredential"
    # a repository gone from the account goes from the cluster at the next resync
    api.github_repos = api.github_repos[:5]
    assert system.controller is not None
    system.controller.reconcile_credential("team", "bot")
    assert len(system.kube.list("sourcecoderepositories", "team")["items"]) == 5


def test_pipeline_triggers_create_change_and_delete_the_repository_hook(system: System, api: ProviderDouble) -> None:
    _credential(system, "bot", "github")
    system.apply_pipeline("web", repositoryUrl="https://github.example.com/acme/app7.git",
                          sourceCodeCredentialName="bot", triggerWebhookPr=True)
    status = system.pipeline_when("web", lambda st: st.get("webhookId"))["status"]
    hook = api.hooks[status["webhookId"]]
    assert hook["repo"] == "acme/app7" and hook["body"]["events"] == ["push", "pull_request"]
    assert hook["body"]["config"]["url"] == "https://ci.example.com/hooks/github?pipeline=team/web"
    assert hook["body"]["config"]["secret"] == "hook-secret" and status["webhookEvents"] == "push,pr"
    first = status["webhookId"]
    system.kube.patch("pipelines", "team", "web", {"spec": {"triggerWebhookPr": False}})
    status = system.pipeline_when("web", lambda st: st.get("webhookEvents") == "push")["status"]
    assert first not in api.hooks and api.hooks[status["webhookId"]]["body"]["events"] == ["push"]
    system.kube.patch("pipelines", "team", "web", {"spec": {"triggerWebhookPush": False}})
    system.pipeline_when("web", lambda st: not st.get("webhookId"))
    assert not api.hooks


def test_gitlab_project_hook(system: System, api: ProviderDouble) -> None:
    _credential(system, "lab", "gitlab")
    system.apply_pipeline("svc", repositoryUrl="https://gitlab.example.com/grp/sub/svc1.git",
                          sourceCodeCredentialName="lab", triggerWebhookTag=True)
    status = system.pipeline_when("svc", lambda st: st.get("webhookId"))["status"]
    body = api.hooks[status["webhookId"]]["body"]
    assert api.hooks[status["webhookId"]]["repo"] == "grp/sub/svc1"
    assert (body["push_events"], body["tag_push_events"], body["merge_requests_events"]) == (True, True, False)
    assert body["url"] == "https://ci.example.com/hooks/gitlab?pipeline=team/svc"
