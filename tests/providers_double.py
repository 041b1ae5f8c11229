"""Commit status endpoints of GitHub, GitLab, Bitbucket Cloud and Bitbucket Server, on one port.

Each behaviour follows the provider's documentation (cited beside it). What a test can arrange:
the commits each repository has (`commits`), tokens with the scopes they carry (`tokens`), a
number of answers to fail with 502 (`fail_next`), and reading back every status posted
(`posts`, in order) and each commit's current statuses (`current`).

Paths: GitHub under `/github` (its API base, like Enterprise's `/api/v3`), GitLab under
`/gitlab/api/v4`, Bitbucket Cloud under `/bitbucket/2.0`, Bitbucket Server at `/bbs`.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlparse

GITHUB_STATES = ("error", "failure", "pending", "success")
GITLAB_STATES = ("pending", "running", "success", "failed", "canceled")
BB_CLOUD_STATES = ("INPROGRESS", "SUCCESSFUL", "FAILED", "STOPPED")
BB_SERVER_STATES = ("INPROGRESS", "SUCCESSFUL", "FAILED")

# GitLab app/models/commit_status.rb: the state machine of a commit status (event -> allowed from)
_GITLAB_EVENTS = {"enqueue": ("created",), "run": ("pending",), "success": ("created", "pending", "running"),
                  "drop": ("created", "pending", "running"), "cancel": ("created", "pending", "running")}
_GITLAB_TARGET = {"enqueue": "pending", "run": "running", "success": "success", "drop": "failed",
                  "cancel": "canceled"}


@dataclass
class Post:
    provider: str
    repo: str
    sha: str
    body: dict[str, Any]


@dataclass
class StatusDouble:
    commits: dict[str, set[str]] = field(default_factory=dict)  # repo path -> its commit shas
    tokens: dict[str, set[str]] = field(default_factory=dict)  # token -> scopes
    posts: list[Post] = field(default_factory=list)
    current: dict[tuple[str, str, str, str], dict[str, Any]] = field(default_factory=dict)  # provider, repo, sha, key
    fail_next: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> StatusDouble:
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = None
                code, answer = double.route(urlparse(self.path).path, dict(self.headers), body)
                data = b"" if answer is None else json.dumps(answer).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # only the status endpoints are modelled here
                data = b'{"message": "Not Found"}'
                self.send_response(404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    # ------------------------------------------------------------------ helpers for tests

    def final_posts(self, provider: str | None = None) -> list[Post]:
        return [p for p in self.posts if (provider is None or p.provider == provider)
                and _state_of(p) not in ("pending", "running", "INPROGRESS")]

    # ------------------------------------------------------------------ routing

    def route(self, path: str, headers: dict[str, str], body: Any) -> tuple[int, Any]:
        with self.lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                return 502, {"message": "Bad Gateway"}
            if not isinstance(body, dict):
                return 400, {"message": "Problems parsing JSON"}
            if m := re.fullmatch(r"/github/repos/([^/]+/[^/]+)/statuses/([0-9a-f]+)", path):
                return self._github(m.group(1), m.group(2), headers, body)
            if m := re.fullmatch(r"/gitlab/api/v4/projects/([^/]+)/statuses/([0-9a-f]+)", path):
                return self._gitlab(unquote(m.group(1)), m.group(2), headers, body)
            if m := re.fullmatch(r"/bitbucket/2\.0/repositories/([^/]+/[^/]+)/commit/([0-9a-f]+)/statuses/build/?",
                                 path):
                return self._bitbucket_cloud(m.group(1), m.group(2), headers, body)
            if m := re.fullmatch(r"/bbs/rest/build-status/1\.0/commits/([0-9a-f]+)", path):
                return self._bitbucket_server(m.group(1), headers, body)
            return 404, {"message": "Not Found"}

    def _token(self, headers: dict[str, str], *names: str) -> tuple[str, set[str]] | None:
        for name in names:
            value = headers.get(name) or headers.get(name.lower()) or ""
            if name == "Authorization":
                kind, _, cred = value.partition(" ")
                if kind.lower() == "basic":
                    cred = base64.b64decode(cred).decode().partition(":")[2]  # user:app-password
                value = cred
            if value in self.tokens:
                return value, self.tokens[value]
        return None

    def _github(self, repo: str, sha: str, headers: dict[str, str], body: dict[str, Any]) -> tuple[int, Any]:
        # docs.github.com REST "Commit statuses: Create a commit status"
        found = self._token(headers, "Authorization")
        if found is None:
            return 401, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}
        if repo not in self.commits:
            return 404, {"message": "Not Found"}
        if "repo:status" not in found[1]:  # fine-grained tokens need "Commit statuses" write
            return 403, {"message": "Resource not accessible by personal access token"}
        if body.get("state") not in GITHUB_STATES:
            return 422, {"message": "Validation Failed", "errors": [{"resource": "Status", "field": "state",
                                                                      "code": "custom"}]}
        if sha not in self.commits[repo]:
            return 422, {"message": f"No commit found for SHA: {sha}"}
        context = str(body.get("context") or "default")
        # "there is a limit of 1000 statuses per sha and context within a repository"
        if sum(1 for p in self.posts if (p.provider, p.repo, p.sha, p.body.get("context")) ==
               ("github", repo, sha, context)) >= 1000:
            return 422, {"message": "Validation Failed"}
        self.posts.append(Post("github", repo, sha, dict(body)))
        status = {"id": len(self.posts), "state": body["state"], "description": body.get("description"),
                  "target_url": body.get("target_url"), "context": context}
        self.current[("github", repo, sha, context)] = status
        return 201, status

    def _gitlab(self, project: str, sha: str, headers: dict[str, str], body: dict[str, Any]) -> tuple[int, Any]:
        # docs.gitlab.com "Commits API: Set the pipeline status of a commit" (lib/api/commit_statuses.rb)
        found = self._token(headers, "PRIVATE-TOKEN")
        if found is None:
            return 401, {"message": "401 Unauthorized"}
        if "api" not in found[1]:
            return 403, {"error": "insufficient_scope", "error_description": "The request requires higher privileges "
                         "than provided by the access token.", "scope": "api"}
        if project not in self.commits:
            return 404, {"message": "404 Project Not Found"}
        if sha not in self.commits[project]:
            return 404, {"message": "404 Commit Not Found"}
        state = body.get("state")
        if state not in GITLAB_STATES:
            return 400, {"error": "state does not have a valid value"}
        name = str(body.get("name") or body.get("context") or "default")
        ref = str(body.get("ref") or "main")
        key = ("gitlab", project, sha, f"{name}@{ref}")
        existing = self.current.get(key)
        # GenericCommitStatus.running_or_pending.find_or_initialize_by(name:, ref:): a finished one is not reused
        status = existing if existing and existing["status"] in ("pending", "running") else {"status": "created"}
        events = {"pending": ["enqueue!"], "running": ["enqueue", "run!"], "success": ["success!"],
                  "failed": ["drop!"], "canceled": ["cancel!"]}[str(state)]
        for event in events:
            bang = event.endswith("!")
            name_ = event.rstrip("!")
            if status["status"] in _GITLAB_EVENTS[name_]:
                status = {**status, "status": _GITLAB_TARGET[name_]}
            elif bang:  # StateMachines::InvalidTransition -> render_api_error!(e.message, 400)
                return 400, {"message": f"Cannot transition status via :{name_} from :{status['status']} "
                                        f"(Reason(s): Status cannot transition via \"{name_}\")"}
        status = {**status, "name": name, "ref": ref, "sha": sha, "target_url": body.get("target_url"),
                  "description": body.get("description")}
        self.current[key] = status
        self.posts.append(Post("gitlab", project, sha, dict(body)))
        return 201, status

    def _bitbucket_cloud(self, repo: str, sha: str, headers: dict[str, str], body: dict[str, Any]) -> tuple[int, Any]:
        # developer.atlassian.com/cloud/bitbucket/rest/api-group-commit-statuses: create a build status
        found = self._token(headers, "Authorization")
        if found is None:
            return 401, {"type": "error", "error": {"message": "Unauthorized"}}
        if "repository:write" not in found[1]:
            return 403, {"type": "error", "error": {"message": "Your credentials lack one or more required privilege "
                                                               "scopes.", "detail": {"required": ["repository:write"]}}}
        if repo not in self.commits or sha not in self.commits[repo]:
            return 404, {"type": "error", "error": {"message": "Commit not found"}}
        for required in ("key", "state", "url"):
            if not body.get(required):
                return 400, {"type": "error", "error": {"message": "Bad request",
                                                        "fields": {required: ["This field is required."]}}}
        if body["state"] not in BB_CLOUD_STATES:
            return 400, {"type": "error", "error": {"message": "Bad request", "fields": {"state": ["invalid"]}}}
        # "If the specified key already exists, the existing status object will be overwritten."
        status = {"type": "commitstatus", **{k: body.get(k) for k in ("key", "state", "name", "url", "description",
                                                                      "refname")}}
        self.current[("bitbucket-cloud", repo, sha, str(body["key"]))] = status
        self.posts.append(Post("bitbucket-cloud", repo, sha, dict(body)))
        return 201, status

    def _bitbucket_server(self, sha: str, headers: dict[str, str], body: dict[str, Any]) -> tuple[int, Any]:
        # developer.atlassian.com/server/bitbucket/how-tos/updating-build-status-for-commits (build-status 1.0)
        if self._token(headers, "Authorization") is None:
            return 401, {"errors": [{"context": None, "message": "Authentication failed. Please check your "
                                     "credentials and try again.", "exceptionName": "AuthorisationException"}]}
        errors = [{"context": k, "message": f"{k} must be provided"} for k in ("state", "key", "url")
                  if not body.get(k)]
        if not errors and body["state"] not in BB_SERVER_STATES:
            errors = [{"context": "state", "message": f"state must be one of {', '.join(BB_SERVER_STATES)}"}]
        if errors:
            return 400, {"errors": errors}
        self.current[("bitbucket-server", "", sha, str(body["key"]))] = dict(body)  # a key is overwritten
        self.posts.append(Post("bitbucket-server", "", sha, dict(body)))
        return 204, None


def _state_of(post: Post) -> str:
    return str(post.body.get("state", ""))
