"""A thin Jenkins REST client: exactly the calls the Jenkins engine makes.

Why not python-jenkins: the engine needs the pipeline REST API (`wfapi/describe`) and the
progressive log (`logText/progressiveText`), which that library does not wrap, and it brings
`requests` and `pbr` for the rest; these dozen calls over urllib3 (already here through the
kubernetes client), with tenacity for transient failures, are simpler to own and to test.

CSRF: a crumb is fetched once (and again after a 403) and sent on every POST.
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import urllib3
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential


class JenkinsError(Exception):
    """Jenkins answered with an error (or not at all); `status` is 0 when unreachable."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message

    @property
    def transient(self) -> bool:
        return self.status == 0 or self.status >= 500 or self.status == 429


@dataclass
class QueuedBuild:
    queue_id: int
    number: int | None = None  # the build number, once Jenkins left the queue
    cancelled: bool = False


@dataclass
class JobState:
    in_queue: bool
    queue_id: int | None
    last_build: int | None


_TAG = re.compile(r"<[^>]*>")


def _plain(console_html: str) -> str:
    """Jenkins' annotated console (HTML) as the text the step printed."""
    return html.unescape(_TAG.sub("", console_html))


@dataclass
class JenkinsClient:
    url: str
    username: str = ""
    token: str = ""
    timeout: float = 10.0
    attempts: int = 5
    _crumb: dict[str, str] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.url = self.url.rstrip("/")
        self._http = urllib3.PoolManager(timeout=urllib3.Timeout(total=self.timeout), retries=False)

    # ------------------------------------------------------------------ plumbing

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = dict(extra or {})
        if self.username:
            raw = f"{self.username}:{self.token}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
        return headers

    def _request(self, method: str, path: str, *, body: bytes | None = None, content_type: str = "",
                 ok: tuple[int, ...] = (200, 201, 204, 302)) -> urllib3.BaseHTTPResponse:
        @retry(retry=retry_if_exception(lambda e: isinstance(e, JenkinsError) and e.transient),
               wait=wait_exponential(multiplier=0.1, max=3), stop=stop_after_attempt(self.attempts), reraise=True)
        def attempt() -> urllib3.BaseHTTPResponse:
            headers = self._headers({"Content-Type": content_type} if content_type else None)
            if method == "POST":
                headers.update(self.crumb())
            try:
                resp = self._http.request(method, self.url + path, body=body, headers=headers, redirect=False)
            except urllib3.exceptions.HTTPError as exc:
                raise JenkinsError(0, f"Jenkins at {self.url} did not answer: {exc}") from exc
            if resp.status == 403 and method == "POST" and self._crumb is not None:
                self._crumb = None  # expired crumb (a restarted Jenkins): fetch a new one, try again
                raise JenkinsError(503, "crumb expired")
            if resp.status not in ok:
                text = resp.data[:300].decode("utf-8", "replace")
                raise JenkinsError(resp.status, f"{method} {path}: HTTP {resp.status}: {text}")
            return resp

        return attempt()

    def _json(self, path: str) -> dict[str, Any]:
        resp = self._request("GET", path)
        data: dict[str, Any] = json.loads(resp.data or b"{}")
        return data

    def crumb(self) -> dict[str, str]:
        if self._crumb is None:
            try:
                resp = self._http.request("GET", self.url + "/crumbIssuer/api/json", headers=self._headers())
            except urllib3.exceptions.HTTPError as exc:
                raise JenkinsError(0, f"Jenkins at {self.url} did not answer: {exc}") from exc
            if resp.status == 404:
                self._crumb = {}  # CSRF protection off
            elif resp.status != 200:
                raise JenkinsError(resp.status, f"crumb: HTTP {resp.status}")
            else:
                data = json.loads(resp.data)
                self._crumb = {data["crumbRequestField"]: data["crumb"]}
        return dict(self._crumb)

    # ------------------------------------------------------------------ jobs and builds

    @staticmethod
    def _job(name: str) -> str:
        return "/job/" + quote(name, safe="")

    def job_exists(self, name: str) -> bool:
        try:
            self._request("GET", self._job(name) + "/config.xml")
            return True
        except JenkinsError as exc:
            if exc.status == 404:
                return False
            raise

    def put_job(self, name: str, config_xml: str) -> None:
        """Create the job, or update its config.xml when it exists."""
        body = config_xml.encode()
        if self.job_exists(name):
            self._request("POST", self._job(name) + "/config.xml", body=body, content_type="application/xml")
        else:
            self._request("POST", "/createItem?name=" + quote(name, safe=""), body=body,
                          content_type="application/xml")

    def job_state(self, name: str) -> JobState | None:
        """Whether the job exists, is queued, and its newest build: what a retried submit checks."""
        try:
            data = self._json(self._job(name) + "/api/json?tree=inQueue,queueItem[id],lastBuild[number]")
        except JenkinsError as exc:
            if exc.status == 404:
                return None
            raise
        queue = data.get("queueItem") or {}
        last = data.get("lastBuild") or {}
        return JobState(in_queue=bool(data.get("inQueue")), queue_id=queue.get("id"), last_build=last.get("number"))

    def build(self, name: str) -> QueuedBuild:
        resp = self._request("POST", self._job(name) + "/build")
        location = resp.headers.get("Location", "")
        queue_id = int(location.rstrip("/").rsplit("/", 1)[-1])
        return QueuedBuild(queue_id)

    def queue_item(self, queue_id: int) -> QueuedBuild:
        data = self._json(f"/queue/item/{queue_id}/api/json")
        executable = data.get("executable") or {}
        return QueuedBuild(queue_id, executable.get("number"), bool(data.get("cancelled")))

    def cancel_queued(self, queue_id: int) -> None:
        self._request("POST", f"/queue/cancelItem?id={queue_id}")

    def stop_build(self, name: str, number: int) -> None:
        self._request("POST", f"{self._job(name)}/{number}/stop")

    def describe(self, name: str, number: int) -> dict[str, Any]:
        """The pipeline REST API's view of a build: status and stages."""
        return self._json(f"{self._job(name)}/{number}/wfapi/describe")

    def log(self, name: str, number: int, start: int = 0) -> tuple[str, int, bool]:
        """(text from `start`, the next offset, whether more will come)."""
        resp = self._request("GET", f"{self._job(name)}/{number}/logText/progressiveText?start={start}")
        size = int(resp.headers.get("X-Text-Size", start + len(resp.data)))
        return resp.data.decode("utf-8", "replace"), size, resp.headers.get("X-More-Data") == "true"

    def stage_log(self, name: str, number: int, stage_id: str) -> Iterator[str]:
        """The log of one stage (one step of ours): each of its flow nodes' logs, as plain text.

        wfapi/log returns a node's log with `hasMore` when it holds only the beginning; then the
        node's whole console is streamed from `consoleUrl`, never loaded at once.
        """
        base = f"{self._job(name)}/{number}/execution/node"
        nodes = self._json(f"{base}/{quote(stage_id, safe='')}/wfapi/describe").get("stageFlowNodes") or []
        for node in nodes:
            data = self._json(f"{base}/{quote(str(node.get('id')), safe='')}/wfapi/log")
            if not data.get("hasMore"):
                yield _plain(str(data.get("text") or ""))
                continue
            path = str(data.get("consoleUrl") or f"{base}/{node.get('id')}/log").removeprefix(self.url)
            yield from self._stream_text(path if path.startswith("/") else "/" + path)

    def _stream_text(self, path: str) -> Iterator[str]:
        try:
            resp = self._http.request("GET", self.url + path, headers=self._headers(), preload_content=False)
        except urllib3.exceptions.HTTPError as exc:
            raise JenkinsError(0, f"Jenkins at {self.url} did not answer: {exc}") from exc
        try:
            if resp.status != 200:
                raise JenkinsError(resp.status, f"GET {path}: HTTP {resp.status}")
            pending = b""
            for chunk in resp.stream(256 * 1024):
                pending += chunk
                cut = pending.rfind(b"\n") + 1  # only whole lines: a tag or entity never splits
                if cut:
                    yield _plain(pending[:cut].decode("utf-8", "replace"))
                    pending = pending[cut:]
            if pending:
                yield _plain(pending.decode("utf-8", "replace"))
        finally:
            resp.release_conn()

    def follow_log(self, name: str, number: int) -> Iterator[str]:
        offset, more = 0, True
        while more:
            text, offset, more = self.log(name, number, offset)
            if text:
                yield text
