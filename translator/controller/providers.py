"""GitHub and GitLab: a credential's repositories, and the repository webhook of a Pipeline.

- GitHub (github.com: `https://api.github.com`; Enterprise: `https://<host>/api/v3`):
  `GET /user/repos?per_page=100&page=N`, `POST /repos/{owner}/{repo}/hooks`,
  `DELETE /repos/{owner}/{repo}/hooks/{id}`; `Authorization: Bearer <token>`.
- GitLab (`https://<host>/api/v4`): `GET /projects?membership=true&per_page=100&page=N`
  (`X-Next-Page`), `POST /projects/{path}/hooks`, `DELETE /projects/{path}/hooks/{id}`;
  `PRIVATE-TOKEN: <token>`.

`SourceCodeProviderConfig.spec.apiUrl` overrides the derived base URL. Answers are read
within bounds (16 MiB, nodes, nesting: api/bounded.py); a larger or malformed one is a
ProviderError, as a failed request is.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import urllib3
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from translator.api.bounded import API_ANSWER, InputRefused, load_json, read_capped


class ProviderError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass(frozen=True)
class Repo:
    url: str
    full_name: str
    default_branch: str
    language: str
    pull: bool
    push: bool
    admin: bool


def repo_path(url: str) -> str:
    """`owner/name` (GitLab: `group/sub/name`) of a clone URL."""
    path = re.sub(r"^(?:[a-z+]+://)?(?:[^@/]+@)?[^/:]+(?::\d+)?[:/]", "", url.strip()).removesuffix("/")
    return path.removesuffix(".git")


@dataclass
class _Http:
    base: str
    headers: dict[str, str]
    timeout: float = 10.0
    _pool: urllib3.PoolManager = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.base = self.base.rstrip("/")
        self._pool = urllib3.PoolManager(timeout=urllib3.Timeout(total=self.timeout), retries=False)

    def request(self, method: str, path: str, body: Any = None, ok: tuple[int, ...] = (200, 201, 204)
                ) -> tuple[Any, dict[str, str]]:
        @retry(retry=retry_if_exception(lambda e: isinstance(e, ProviderError) and (e.status == 0 or e.status >= 500)),
               wait=wait_exponential(multiplier=0.2, max=3), stop=stop_after_attempt(3), reraise=True)
        def attempt() -> tuple[Any, dict[str, str]]:
            headers = {**self.headers, "Accept": "application/json"}
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            try:
                resp = self._pool.request(method, self.base + path, body=data, headers=headers, preload_content=False)
                try:  # the answer is untrusted too: read at most API_ANSWER.max_bytes of it (bounded.py)
                    answer = read_capped(resp, limit=API_ANSWER.max_bytes, subject=f"{method} {path}",
                                         what="an API answer")
                finally:
                    resp.release_conn()
            except urllib3.exceptions.HTTPError as exc:
                raise ProviderError(0, f"{self.base} did not answer: {type(exc).__name__}") from exc
            except InputRefused as exc:
                raise ProviderError(resp.status, str(exc)) from None
            if resp.status not in ok:
                raise ProviderError(resp.status, f"{method} {path}: HTTP {resp.status}: "
                                                 f"{answer[:200].decode('utf-8', 'replace')}")
            try:
                return load_json(answer, API_ANSWER, subject=f"{method} {path}"), dict(resp.headers)
            except InputRefused as exc:
                raise ProviderError(resp.status, f"{exc} (HTTP {resp.status})") from None

        return attempt()


class GitHub:
    def __init__(self, token: str, *, hostname: str = "github.com", api_url: str = "") -> None:
        base = api_url or ("https://api.github.com" if hostname in ("", "github.com") else f"https://{hostname}/api/v3")
        self.http = _Http(base, {"Authorization": f"Bearer {token}", "X-GitHub-Api-Version": "2022-11-28"})

    def list_repos(self) -> list[Repo]:
        repos, page = [], 1
        while True:
            items, headers = self.http.request("GET", f"/user/repos?per_page=100&page={page}")
            for r in items or []:
                perms = r.get("permissions") or {}
                repos.append(Repo(r["clone_url"], r["full_name"], r.get("default_branch") or "master",
                                  r.get("language") or "", bool(perms.get("pull")), bool(perms.get("push")),
                                  bool(perms.get("admin"))))
            if 'rel="next"' not in headers.get("Link", headers.get("link", "")) or not items:
                return repos
            page += 1

    def create_hook(self, repo_url: str, hook_url: str, secret: str, *, push: bool, pr: bool, tag: bool) -> str:
        events = (["push"] if push or tag else []) + (["pull_request"] if pr else [])
        created, _ = self.http.request("POST", f"/repos/{repo_path(repo_url)}/hooks", {
            "name": "web", "active": True, "events": events,
            "config": {"url": hook_url, "content_type": "json", "secret": secret, "insecure_ssl": "0"}})
        return str(created["id"])

    def delete_hook(self, repo_url: str, hook_id: str) -> None:
        try:
            self.http.request("DELETE", f"/repos/{repo_path(repo_url)}/hooks/{hook_id}")
        except ProviderError as exc:
            if exc.status != 404:
                raise


class GitLab:
    def __init__(self, token: str, *, hostname: str = "gitlab.com", api_url: str = "") -> None:
        self.http = _Http(api_url or f"https://{hostname or 'gitlab.com'}/api/v4", {"PRIVATE-TOKEN": token})

    def list_repos(self) -> list[Repo]:
        repos, page = [], "1"
        while page:
            items, headers = self.http.request("GET", f"/projects?membership=true&per_page=100&page={page}")
            for p in items or []:
                access = max(int(((p.get("permissions") or {}).get(k) or {}).get("access_level") or 0)
                             for k in ("project_access", "group_access"))
                repos.append(Repo(p["http_url_to_repo"], p["path_with_namespace"], p.get("default_branch") or "master",
                                  "", access >= 10, access >= 30, access >= 40))
            page = headers.get("X-Next-Page", headers.get("x-next-page", ""))
        return repos

    def create_hook(self, repo_url: str, hook_url: str, secret: str, *, push: bool, pr: bool, tag: bool) -> str:
        created, _ = self.http.request("POST", f"/projects/{quote(repo_path(repo_url), safe='')}/hooks", {
            "url": hook_url, "token": secret, "push_events": push, "tag_push_events": tag,
            "merge_requests_events": pr, "enable_ssl_verification": True})
        return str(created["id"])

    def delete_hook(self, repo_url: str, hook_id: str) -> None:
        try:
            self.http.request("DELETE", f"/projects/{quote(repo_path(repo_url), safe='')}/hooks/{hook_id}")
        except ProviderError as exc:
            if exc.status != 404:
                raise


def client_for(kind: str, token: str, hostname: str, api_url: str) -> GitHub | GitLab | None:
    if kind == "github":
        return GitHub(token, hostname=hostname or "github.com", api_url=api_url)
    if kind == "gitlab":
        return GitLab(token, hostname=hostname or "gitlab.com", api_url=api_url)
    return None
