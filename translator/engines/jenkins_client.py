"""A thin Jenkins REST client: exactly the calls the Jenkins engine makes.

Why not python-jenkins: the engine needs the pipeline REST API (`wfapi/describe`) and the
progressive logs of flow nodes, which that library does not wrap, and it brings `requests` and
`pbr` for the rest; these calls over urllib3 (already here through the kubernetes client), with
tenacity for transient failures, are simpler to own and to test.

What a real Jenkins does that this client is written for:
- CSRF (core CrumbFilter): a POST needs a crumb unless it authenticates with an API token
  (ApiCrumbExclusion); DefaultCrumbIssuer salts the crumb with the HTTP session id, so the session
  cookie that came with the crumb is kept and sent back. A 403 is a crumb problem only when Jenkins
  says "No valid crumb was included in the request": then crumb and session are fetched again,
  once. Any other 403 is a permission Jenkins refuses: an error at once, never retried.
- A redirect on a GET (a login page, http -> https, a wrong context path) is an error naming
  where it pointed, not a page to parse as JSON.
- Jenkins may live under a context path (`https://ci.example.com/jenkins`): every path is relative
  to the URL given, and URLs Jenkins hands back (queue item, console) are cut to that base.
- A flow node's log is read from `log/logText/progressiveText` (plain text, paged by
  `X-Text-Size` / `X-More-Data`, stapler LargeText.doProgressText); `wfapi/log` holds only the
  last 10 KiB, as HTML (pipeline-stage-view FlowNodeLogExt.create). Timestamper's line prefixes
  (`[2024-01-31T12:00:00.000Z] `, timestamper GlobalDecorator) are removed: the archive keeps what
  the step printed.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import quote, urlparse

import urllib3
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

NO_CRUMB = "No valid crumb was included in the request"  # core CrumbFilter.doFilter
_STAMP = re.compile(r"^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] ", re.MULTILINE)  # timestamper GlobalDecorator
_QUEUE_ITEM = re.compile(r"/queue/item/(\d+)/?$")


class JenkinsError(Exception):
    """Jenkins answered with an error (or not at all); `status` is 0 when unreachable."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message

    @property
    def transient(self) -> bool:
        return self.status == 0 or self.status >= 500 or self.status == 429


class _CrumbRejected(Exception):
    """A POST was refused for its crumb: fetch crumb and session again, then once more."""


@dataclass
class QueuedBuild:
    queue_id: int
    number: int | None = None  # the build number, once the executor made the build
    cancelled: bool = False
    left: bool = False  # the item left the queue (a LeftItem): an executor took it, or it was cancelled


@dataclass
class JobState:
    in_queue: bool
    queue_id: int | None
    last_build: int | None


@dataclass
class JobSummary:
    name: str
    description: str
    building: bool
    in_queue: bool
    ended_millis: int  # the last build's end (epoch ms), 0 when none ended


def strip_timestamps(text: str) -> str:
    return _STAMP.sub("", text)


@dataclass
class JenkinsClient:
    url: str
    username: str = ""
    token: str = ""
    timeout: float = 10.0
    attempts: int = 5
    _crumb: dict[str, str] | None = field(default=None, init=False, repr=False)
    _cookies: dict[str, str] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.url = self.url.rstrip("/")
        self._base_path = urlparse(self.url).path  # the context path, e.g. /jenkins
        self._http = urllib3.PoolManager(timeout=urllib3.Timeout(total=self.timeout), retries=False)

    # ------------------------------------------------------------------ plumbing

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = dict(extra or {})
        if self.username:
            raw = f"{self.username}:{self.token}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
        if self._cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in sorted(self._cookies.items()))
        return headers

    def _keep_cookies(self, resp: urllib3.BaseHTTPResponse) -> None:
        for header in resp.headers.getlist("Set-Cookie"):
            jar: SimpleCookie = SimpleCookie()
            jar.load(header)
            self._cookies.update({name: morsel.value for name, morsel in jar.items()})

    def relative(self, url: str) -> str:
        """A URL or root-relative path Jenkins gave back -> a path under this client's base."""
        path = urlparse(url).path if "://" in url else url
        if self._base_path and path.startswith(self._base_path + "/"):
            path = path[len(self._base_path):]
        return path if path.startswith("/") else "/" + path

    def _send(self, method: str, path: str, *, body: bytes | None, content_type: str,
              preload: bool = True) -> urllib3.BaseHTTPResponse:
        crumb = self.crumb() if method == "POST" else {}  # first: it may bring the session cookie
        headers = self._headers({"Content-Type": content_type} if content_type else None)
        headers.update(crumb)
        try:
            resp = self._http.request(method, self.url + path, body=body, headers=headers, redirect=False,
                                      preload_content=preload)
        except urllib3.exceptions.HTTPError as exc:
            raise JenkinsError(0, f"Jenkins at {self.url} did not answer: {exc}") from exc
        self._keep_cookies(resp)
        return resp

    def _request(self, method: str, path: str, *, body: bytes | None = None, content_type: str = "",
                 ok: tuple[int, ...] = (200, 201, 204)) -> urllib3.BaseHTTPResponse:
        # a POST's redirect is its answer (core: stop, doDelete forward to a page); a GET's is an error
        accepted = (*ok, 302, 303) if method == "POST" else ok

        @retry(retry=retry_if_exception(lambda e: isinstance(e, JenkinsError) and e.transient),
               wait=wait_exponential(multiplier=0.1, max=3), stop=stop_after_attempt(self.attempts), reraise=True)
        def attempt() -> urllib3.BaseHTTPResponse:
            for fresh in (False, True):
                resp = self._send(method, path, body=body, content_type=content_type)
                text = resp.data[:500].decode("utf-8", "replace")
                if resp.status == 403 and method == "POST" and NO_CRUMB in text and not fresh:
                    self._crumb, self._cookies = None, {}  # the session the crumb belonged to is gone
                    continue
                if resp.status in accepted:
                    return resp
                if resp.status in (301, 302, 303, 307, 308):
                    where = resp.headers.get("Location", "")
                    raise JenkinsError(resp.status, f"{method} {path}: Jenkins redirected to {where!r}: check the "
                                       "setting's jenkins.url (scheme, context path) and the credentials")
                if resp.status == 403:
                    detail = NO_CRUMB if NO_CRUMB in text else _plain_error(text)
                    raise JenkinsError(403, f"{method} {path}: Jenkins refused ({detail}) for user "
                                       f"{self.username or 'anonymous'!r}")
                raise JenkinsError(resp.status, f"{method} {path}: HTTP {resp.status}: {_plain_error(text)}")
            raise AssertionError("unreachable")

        return attempt()

    def _json(self, path: str) -> dict[str, Any]:
        resp = self._request("GET", path)
        try:
            data = json.loads(resp.data or b"{}")
        except ValueError as exc:
            raise JenkinsError(resp.status, f"GET {path}: Jenkins answered something that is not JSON: "
                               f"{resp.data[:200].decode('utf-8', 'replace')!r}") from exc
        if not isinstance(data, dict):
            raise JenkinsError(resp.status, f"GET {path}: Jenkins answered JSON that is not an object")
        return data

    def crumb(self) -> dict[str, str]:
        """The crumb for this client's session (made on the first call, kept with its cookie)."""
        if self._crumb is None:
            try:
                resp = self._http.request("GET", self.url + "/crumbIssuer/api/json", headers=self._headers(),
                                          redirect=False)
            except urllib3.exceptions.HTTPError as exc:
                raise JenkinsError(0, f"Jenkins at {self.url} did not answer: {exc}") from exc
            self._keep_cookies(resp)
            if resp.status == 404:
                self._crumb = {}  # CSRF protection off
            elif resp.status != 200:
                raise JenkinsError(resp.status, f"GET /crumbIssuer/api/json: HTTP {resp.status}: "
                                   f"{_plain_error(resp.data[:300].decode('utf-8', 'replace'))}")
            else:
                try:
                    data = json.loads(resp.data)
                    self._crumb = {str(data["crumbRequestField"]): str(data["crumb"])}
                except (ValueError, KeyError, TypeError) as exc:
                    raise JenkinsError(200, "GET /crumbIssuer/api/json: not a crumb") from exc
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
        """Queue a build now (`delay=0sec`: not after the 5 s quiet period); its queue item."""
        resp = self._request("POST", self._job(name) + "/build?delay=0sec")
        match = _QUEUE_ITEM.search(self.relative(resp.headers.get("Location", "")))
        if match is None:
            raise JenkinsError(resp.status, f"POST {self._job(name)}/build: no queue item in the answer "
                               f"(Location {resp.headers.get('Location', '')!r})")
        return QueuedBuild(int(match.group(1)))

    def queue_item(self, queue_id: int) -> QueuedBuild | None:
        """The queue item; None once Jenkins forgot it (core Queue keeps a left item 5 minutes)."""
        try:
            data = self._json(f"/queue/item/{queue_id}/api/json")
        except JenkinsError as exc:
            if exc.status == 404:
                return None
            raise
        executable = data.get("executable") or {}
        left = str(data.get("_class", "")).endswith("$LeftItem")
        return QueuedBuild(queue_id, executable.get("number"), bool(data.get("cancelled")), left)

    def cancel_queued(self, queue_id: int) -> bool:
        """Cancel a queued item; False when it had already left the queue (its build started)."""
        # core Queue.doCancelItem: 204 cancelled; a LeftItem cannot be cancelled (500), an unknown id 404
        resp = self._request("POST", f"/queue/cancelItem?id={queue_id}", ok=(200, 204, 404, 500))
        return resp.status in (200, 204, 302, 303)

    def stop_build(self, name: str, number: int) -> None:
        self._request("POST", f"{self._job(name)}/{number}/stop")

    def delete_job(self, name: str) -> None:
        self._request("POST", f"{self._job(name)}/doDelete", ok=(200, 204, 404))

    def jobs(self) -> list[JobSummary]:
        tree = "jobs[name,description,inQueue,lastBuild[building,timestamp,duration]]"
        out = []
        for job in self._json(f"/api/json?tree={tree}").get("jobs") or []:
            last = job.get("lastBuild") or {}
            ended = int(last.get("timestamp") or 0) + int(last.get("duration") or 0) if last else 0
            out.append(JobSummary(name=str(job.get("name") or ""), description=str(job.get("description") or ""),
                                  building=bool(last.get("building")), in_queue=bool(job.get("inQueue")),
                                  ended_millis=ended if last and not last.get("building") else 0))
        return out

    def describe(self, name: str, number: int) -> dict[str, Any]:
        """The pipeline REST API's view of a build: status and stages."""
        return self._json(f"{self._job(name)}/{number}/wfapi/describe")

    def _progressive(self, path: str, start: int) -> tuple[bytes, int, bool]:
        resp = self._request("GET", f"{path}?start={start}")
        try:
            size = int(resp.headers.get("X-Text-Size", start + len(resp.data)))
        except ValueError:
            size = start + len(resp.data)
        return resp.data, size, resp.headers.get("X-More-Data") == "true"

    def _paged_text(self, path: str) -> Iterator[str]:
        """A progressive text from its start, as it is now: whole lines, timestamper prefixes removed."""
        offset, more, pending = 0, True, b""
        while more:
            data, size, more = self._progressive(path, offset)
            if size <= offset and not data:
                break  # still being written, nothing new: the log as it is now
            offset = size
            pending += data
            cut = pending.rfind(b"\n") + 1
            if cut:
                yield strip_timestamps(pending[:cut].decode("utf-8", "replace"))
                pending = pending[cut:]
        if pending:
            yield strip_timestamps(pending.decode("utf-8", "replace"))

    def log(self, name: str, number: int, start: int = 0) -> tuple[str, int, bool]:
        """The build's console: (text from `start`, the next offset, whether more will come)."""
        data, size, more = self._progressive(f"{self._job(name)}/{number}/logText/progressiveText", start)
        return data.decode("utf-8", "replace"), size, more

    def stage_log(self, name: str, number: int, stage_id: str) -> Iterator[str]:
        """The log of one stage (one step of ours): each of its flow nodes' whole logs, as plain text.

        Each node's `log/logText/progressiveText` is read page by page from offset 0 (workflow-support
        LogStorageAction's page reads `logText/progressiveHtml` the same way), never loaded at once.
        """
        base = f"{self._job(name)}/{number}/execution/node"
        nodes = self._json(f"{base}/{quote(stage_id, safe='')}/wfapi/describe").get("stageFlowNodes") or []
        for node in nodes:
            yield from self._paged_text(f"{base}/{quote(str(node.get('id')), safe='')}/log/logText/progressiveText")

    def follow_log(self, name: str, number: int) -> Iterator[str]:
        offset, more = 0, True
        while more:
            text, offset, more = self.log(name, number, offset)
            if text:
                yield text


_TAG = re.compile(r"<[^>]*>")


def _plain_error(text: str) -> str:
    """Jenkins' error page (HTML) -> its message, short."""
    plain = " ".join(_TAG.sub(" ", text).split())
    return plain[:200]
