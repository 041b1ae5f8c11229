"""Runs from git events and schedules.

Webhooks (`WebhookReceiver`, served on its own port by `translator controller --webhook-port`):

- `POST /hooks/github` — `X-Hub-Signature-256: sha256=<HMAC-SHA256(secret, body)>`, events
  `push` (a `refs/tags/*` ref is a tag event), `pull_request` (opened, synchronize, reopened),
  `ping`; delivery id `X-GitHub-Delivery`.
- `POST /hooks/gitlab` — `X-Gitlab-Token: <secret>`, events `Push Hook`, `Tag Push Hook`,
  `Merge Request Hook` (open, reopen, update); delivery id `X-Gitlab-Event-UUID`.
- `POST /hooks/generic` — `X-Translator-Signature: sha256=<HMAC-SHA256(secret, body)>`,
  `X-Translator-Delivery: <id>`, body `{"event": "push"|"tag"|"pull_request", "repositoryUrl",
  "branch", "ref", "commit", "message", "author", "targetBranch"}`.

Bodies are untrusted and read within bounds (api/bounded.py): `Content-Length` is required (a
chunked body is 411) and at most 10 MiB (413, before any byte is read), a sender gets 10 s of
socket time, at most 16 deliveries are read at once (then 503), and the JSON is parsed within
limits on values and nesting (400 with the reason). None of it reaches a traceback.

`?pipeline=<namespace>/<name>` targets one Pipeline; without it every Pipeline whose
`repositoryUrl` is the event's repository runs, if its trigger flags allow the event. As in
Rancher, a pull request runs the *target* branch's pipeline file on the PR's head commit, with
`event: pull_request` (the compiler withholds secrets from such runs).

Exactly once per delivery: the execution's name is derived from the delivery id
(`<pipeline>-wh-<sha256(delivery)[:10]>`), so a replayed delivery — to any replica, after any
restart — collides with the first one's execution (409) and makes no second run. A request
that is unsigned or wrongly signed is refused (401) and logged with its delivery id and
reason, never its body.

Schedules (`due_cron`): a Pipeline's `cron` makes at most one run per scheduled time, named
`<pipeline>-cron-<UTC yyyymmddhhmm>`: a restart or a new leader recomputes the same name, so
no time runs twice; after downtime only the latest missed time runs (no backlog storm).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError
from kubernetes import client

from translator.api.bounded import WEBHOOK_BODY, InputRefused, load_json
from translator.api.resources_types import API_VERSION
from translator.compiler.names import dns_label
from translator.controller.runs import pipeline_labels
from translator.kubeclient import Kube

log = logging.getLogger("translator.webhook")

MAX_BODY = WEBHOOK_BODY.max_bytes  # 10 MiB; GitHub caps deliveries at 25 MB, most are a few kB
MAX_HANDLERS = 16  # deliveries read at once; more wait in the listen backlog or get 503
READ_SECONDS = 10.0  # a client that sends its body slower than this is cut off
DELIVERY_ANNOTATION = "devops.cubepaas.io/delivery"
SCHEDULE_ANNOTATION = "devops.cubepaas.io/scheduled-for"


class WebhookRefused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


@dataclass(frozen=True)
class GitEvent:
    event: str  # push | tag | pull_request
    repository_urls: tuple[str, ...]
    branch: str  # the branch whose pipeline file runs (a PR's target branch)
    ref: str
    commit: str
    message: str = ""
    author: str = ""
    delivery: str = ""


def normalize_url(url: str) -> str:
    """`https://GitHub.com/a/b.git`, `git@github.com:a/b` and `ssh://git@github.com/a/b` compare equal."""
    url = url.strip().lower().removesuffix("/").removesuffix(".git")
    match = re.match(r"^(?:[a-z+]+://)?(?:[^@/]+@)?([^/:]+)(?::\d+)?[:/](.+)$", url)
    return f"{match.group(1)}/{match.group(2)}" if match else url


def _signature_ok(secret: str, body: bytes, header: str) -> bool:
    if not secret or not header.startswith("sha256="):
        return False
    wanted = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(wanted, header.removeprefix("sha256="))


def _json(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, within WEBHOOK_BODY's bounds (size, values, nesting)."""
    try:
        data = load_json(body or b"{}", WEBHOOK_BODY, subject="webhook body", what="a webhook body")
    except InputRefused as exc:
        raise WebhookRefused(413 if "larger than" in exc.message else 400, str(exc)) from None
    if not isinstance(data, dict):
        raise WebhookRefused(400, f"webhook body: a JSON object was expected, not {type(data).__name__}")
    return data


def _branch_of(ref: str) -> str:
    return ref.removeprefix("refs/heads/")


def parse_github(headers: dict[str, str], body: bytes, secret: str) -> GitEvent | None:
    if not _signature_ok(secret, body, headers.get("x-hub-signature-256", "")):
        raise WebhookRefused(401, "missing or wrong X-Hub-Signature-256")
    kind = headers.get("x-github-event", "")
    data = _json(body)
    delivery = headers.get("x-github-delivery", "")
    repo = data.get("repository") or {}
    urls = tuple(u for u in (repo.get("clone_url"), repo.get("ssh_url"), repo.get("html_url")) if u)
    if kind == "push":
        ref = str(data.get("ref") or "")
        if data.get("deleted"):
            return None
        head = data.get("head_commit") or {}
        if ref.startswith("refs/tags/"):
            return GitEvent("tag", urls, "", ref, str(data.get("after") or ""), str(head.get("message") or ""),
                            str((data.get("pusher") or {}).get("name") or ""), delivery)
        return GitEvent("push", urls, _branch_of(ref), ref, str(data.get("after") or ""),
                        str(head.get("message") or ""), str((data.get("pusher") or {}).get("name") or ""), delivery)
    if kind == "pull_request":
        if data.get("action") not in ("opened", "synchronize", "reopened"):
            return None
        pr = data.get("pull_request") or {}
        return GitEvent("pull_request", urls, str((pr.get("base") or {}).get("ref") or ""),
                        f"refs/pull/{data.get('number')}/head", str((pr.get("head") or {}).get("sha") or ""),
                        str(pr.get("title") or ""), str((pr.get("user") or {}).get("login") or ""), delivery)
    return None  # ping and everything else: accepted, nothing to run


def parse_gitlab(headers: dict[str, str], body: bytes, secret: str) -> GitEvent | None:
    token = headers.get("x-gitlab-token", "")
    if not secret or not hmac.compare_digest(token.encode(), secret.encode()):
        raise WebhookRefused(401, "missing or wrong X-Gitlab-Token")
    kind = headers.get("x-gitlab-event", "")
    data = _json(body)
    delivery = headers.get("x-gitlab-event-uuid", "") or headers.get("idempotency-key", "")
    project = data.get("project") or {}
    urls = tuple(u for u in (project.get("git_http_url"), project.get("git_ssh_url"), project.get("web_url")) if u)
    if kind in ("Push Hook", "Tag Push Hook"):
        ref = str(data.get("ref") or "")
        after = str(data.get("checkout_sha") or data.get("after") or "")
        if not after or set(after) == {"0"}:
            return None  # a deleted branch or tag
        commits = data.get("commits") or []
        message = str((commits[-1] if commits else {}).get("message") or "")
        if kind == "Tag Push Hook" or ref.startswith("refs/tags/"):
            return GitEvent("tag", urls, "", ref, after, message, str(data.get("user_username") or ""), delivery)
        return GitEvent("push", urls, _branch_of(ref), ref, after, message, str(data.get("user_username") or ""),
                        delivery)
    if kind == "Merge Request Hook":
        attrs = data.get("object_attributes") or {}
        if attrs.get("action") not in ("open", "reopen", "update"):
            return None
        return GitEvent("pull_request", urls, str(attrs.get("target_branch") or ""),
                        f"refs/merge-requests/{attrs.get('iid')}/head",
                        str((attrs.get("last_commit") or {}).get("id") or ""), str(attrs.get("title") or ""),
                        str((data.get("user") or {}).get("username") or ""), delivery)
    return None


def parse_generic(headers: dict[str, str], body: bytes, secret: str) -> GitEvent | None:
    if not _signature_ok(secret, body, headers.get("x-translator-signature", "")):
        raise WebhookRefused(401, "missing or wrong X-Translator-Signature")
    data = _json(body)
    event = str(data.get("event") or "push")
    if event not in ("push", "tag", "pull_request"):
        raise WebhookRefused(400, f"event {event!r} is not push, tag or pull_request")
    branch = str(data.get("targetBranch") if event == "pull_request" else data.get("branch") or "")
    return GitEvent(event, (str(data.get("repositoryUrl") or ""),), branch or "", str(data.get("ref") or ""),
                    str(data.get("commit") or ""), str(data.get("message") or ""), str(data.get("author") or ""),
                    headers.get("x-translator-delivery", ""))


PARSERS: dict[str, Callable[[dict[str, str], bytes, str], GitEvent | None]] = {
    "github": parse_github, "gitlab": parse_gitlab, "generic": parse_generic,
}


def wants(pipeline: dict[str, Any], event: GitEvent) -> bool:
    spec = pipeline.get("spec") or {}
    flag = {"push": "triggerWebhookPush", "tag": "triggerWebhookTag", "pull_request": "triggerWebhookPr"}[event.event]
    default = event.event == "push"
    if not spec.get(flag, default):
        return False
    ours = normalize_url(str(spec.get("repositoryUrl") or ""))
    return any(normalize_url(u) == ours for u in event.repository_urls if u)


def execution_for_event(namespace: str, pipeline: dict[str, Any], event: GitEvent) -> dict[str, Any]:
    name = pipeline["metadata"]["name"]
    digest = hashlib.sha256(f"{namespace}/{name}/{event.delivery}".encode()).hexdigest()[:10]
    branch = event.branch or (event.ref.removeprefix("refs/tags/") if event.event == "tag" else "")
    return {
        "apiVersion": API_VERSION, "kind": "PipelineExecution",
        "metadata": {"name": dns_label(f"{name}-wh-{digest}", max_length=253), "namespace": namespace,
                     "labels": pipeline_labels(name),
                     "annotations": {DELIVERY_ANNOTATION: event.delivery[:200]}},
        "spec": {"pipelineName": name, "run": 0, "repositoryUrl": pipeline["spec"].get("repositoryUrl", ""),
                 "triggeredBy": "webhook", "triggerUserName": event.author, "event": event.event,
                 "branch": branch, "ref": event.ref, "commit": event.commit, "message": event.message[:1000],
                 "author": event.author},
    }


def create_once(kube: Kube, namespace: str, body: dict[str, Any]) -> bool:
    """Create the execution; False when one of that name exists (a replay, or a schedule already run)."""
    try:
        kube.create("pipelineexecutions", namespace, body)
        return True
    except client.ApiException as exc:
        if exc.status == 409:
            return False
        raise


@dataclass
class WebhookResult:
    status: int
    message: str
    created: tuple[str, ...] = ()


class WebhookReceiver:
    """Decides what a delivery does; `serve` puts it on a port."""

    def __init__(self, kube: Kube, secret: str, pipelines: Callable[[], Iterable[dict[str, Any]]]) -> None:
        self.kube, self.secret, self.pipelines = kube, secret, pipelines

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> WebhookResult:
        url = urlparse(path)
        provider = url.path.rstrip("/").rsplit("/", 1)[-1]
        headers = {k.lower(): v for k, v in headers.items()}
        delivery = headers.get("x-github-delivery") or headers.get("x-gitlab-event-uuid") or headers.get(
            "x-translator-delivery") or ""
        parser = PARSERS.get(provider)
        try:
            if not url.path.startswith("/hooks/") or parser is None:
                raise WebhookRefused(404, f"no webhook at {url.path} (use /hooks/github|gitlab|generic)")
            if len(body) > MAX_BODY:
                raise WebhookRefused(413, "body too large")
            try:
                event = parser(headers, body, self.secret)
            except (ValueError, AttributeError, TypeError) as exc:
                raise WebhookRefused(400, f"body is not the JSON the {provider} event needs: "
                                          f"{type(exc).__name__}") from None
        except WebhookRefused as refused:
            log.warning("webhook refused: %s", refused.reason,
                        extra={"provider": provider, "delivery": delivery, "status": refused.status})
            return WebhookResult(refused.status, refused.reason)
        if event is None:
            return WebhookResult(200, "event accepted; nothing to run")
        if not event.delivery:
            return WebhookResult(400, "the delivery has no id (X-GitHub-Delivery / X-Gitlab-Event-UUID / "
                                      "X-Translator-Delivery): replays could not be told apart")
        target = (parse_qs(url.query).get("pipeline") or [""])[0]
        chosen = []
        for pipeline in self.pipelines():
            ns, name = pipeline["metadata"].get("namespace", ""), pipeline["metadata"]["name"]
            if target and target != f"{ns}/{name}":
                continue
            if wants(pipeline, event):
                chosen.append(pipeline)
        created: list[str] = []
        for pipeline in chosen:
            ns = pipeline["metadata"]["namespace"]
            body_ = execution_for_event(ns, pipeline, event)
            try:
                made = create_once(self.kube, ns, body_)
            except client.ApiException as exc:  # the sender may deliver again: the name keeps it once
                log.warning("webhook run not created: API %s", exc.status, extra={"delivery": event.delivery})
                return WebhookResult(503, f"the run could not be created ({exc.status} {exc.reason}); "
                                          "deliver again", tuple(created))
            if made:
                created.append(f"{ns}/{body_['metadata']['name']}")
                log.info("webhook run created", extra={"delivery": event.delivery, "execution": created[-1]})
            else:
                log.info("webhook replay ignored", extra={"delivery": event.delivery})
        if not chosen:
            return WebhookResult(202, f"no pipeline runs on this {event.event} event")
        if not created:
            return WebhookResult(200, "already delivered: no new run")
        return WebhookResult(201, "created " + ", ".join(created), tuple(created))

    def serve(self, port: int, host: str = "0.0.0.0") -> ThreadingHTTPServer:
        receiver = self
        slots = threading.BoundedSemaphore(MAX_HANDLERS)

        class Handler(BaseHTTPRequestHandler):
            timeout = READ_SECONDS  # socket timeout: a slow or stalled sender holds no thread for long

            def log_message(self, *args: Any) -> None:
                return

            def _answer(self, result: WebhookResult) -> None:
                data = json.dumps({"message": result.message, "created": list(result.created)}).encode()
                self.send_response(result.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if result.status >= 400:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                refusal = _body_refusal(self.headers.get("Content-Length"), self.headers.get("Transfer-Encoding"))
                if refusal is not None:
                    self._answer(refusal)
                    return
                if not slots.acquire(timeout=READ_SECONDS):
                    self._answer(WebhookResult(503, "too many deliveries at once; deliver again"))
                    return
                try:
                    length = int(self.headers.get("Content-Length") or 0)
                    try:
                        body = self.rfile.read(length)
                    except OSError:  # the socket timed out, or the sender left
                        self.close_connection = True
                        return
                    if len(body) < length:
                        self._answer(WebhookResult(400, f"body ended after {len(body)} of {length} bytes"))
                        return
                    try:
                        result = receiver.handle(self.path, dict(self.headers.items()), body)
                    except Exception as exc:  # e.g. the API server is down while Pipelines are listed
                        log.warning("webhook not handled: %s", type(exc).__name__)
                        result = WebhookResult(503, "the delivery could not be handled now; deliver again")
                    self._answer(result)
                finally:
                    slots.release()

        server = ThreadingHTTPServer((host, port), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True, name="webhook").start()
        return server


def _body_refusal(length: str | None, transfer_encoding: str | None) -> WebhookResult | None:
    """Why a delivery's body will not be read, from its headers alone (before any byte of it)."""
    if transfer_encoding:
        return WebhookResult(411, "a chunked body is not accepted; send Content-Length")
    if length is None:
        return WebhookResult(411, "Content-Length is required")
    if not re.fullmatch(r"[0-9]+", length.strip()):
        return WebhookResult(400, f"Content-Length {length[:40]!r} is not a number of bytes")
    if len(length.strip()) > 18 or int(length) > MAX_BODY:
        return WebhookResult(413, f"body too large: {length.strip()[:20]} bytes, at most {MAX_BODY:,}")
    return None


# ---------------------------------------------------------------------- schedules

def due_cron(pipeline: dict[str, Any], now: datetime) -> tuple[datetime | None, datetime | None, str]:
    """(the latest scheduled time to run now, or None; the next scheduled time; a problem, if any).

    A time is due when it is after `status.lastCronTime` (or the Pipeline's creation) and not
    after `now`; only the latest due time is returned.
    """
    cron = (pipeline.get("spec") or {}).get("cron") or {}
    schedule = str(cron.get("schedule") or "")
    if not schedule:
        return None, None, ""
    try:
        zone = ZoneInfo(str(cron.get("timezone") or "UTC"))
    except (ZoneInfoNotFoundError, ValueError):
        return None, None, f"spec.cron.timezone: unknown time zone {cron.get('timezone')!r}"
    status = pipeline.get("status") or {}
    since_text = status.get("lastCronTime") or pipeline["metadata"].get("creationTimestamp") or ""
    try:
        since = datetime.fromisoformat(since_text.replace("Z", "+00:00")) if since_text else now - timedelta(minutes=1)
    except ValueError:
        since = now - timedelta(minutes=1)
    local_since = since.astimezone(zone)
    try:
        times = CronSim(schedule, local_since.replace(second=0, microsecond=0))
        latest = None
        for moment in times:
            if moment <= local_since:
                continue
            if moment > now.astimezone(zone):
                return latest, moment, ""
            latest = moment
    except (CronSimError, ValueError) as exc:
        return None, None, f"spec.cron.schedule: {schedule!r} is not a cron expression: {exc}"
    return latest, None, ""


def execution_for_schedule(namespace: str, pipeline: dict[str, Any], at: datetime) -> dict[str, Any]:
    name = pipeline["metadata"]["name"]
    stamp = at.astimezone(ZoneInfo("UTC")).strftime("%Y%m%d%H%M")
    cron = pipeline["spec"].get("cron") or {}
    branch = cron.get("branch") or pipeline["spec"].get("defaultBranch") or "master"
    return {
        "apiVersion": API_VERSION, "kind": "PipelineExecution",
        "metadata": {"name": dns_label(f"{name}-cron-{stamp}", max_length=253), "namespace": namespace,
                     "labels": pipeline_labels(name),
                     "annotations": {SCHEDULE_ANNOTATION: at.astimezone(ZoneInfo("UTC")).strftime(
                         "%Y-%m-%dT%H:%M:%SZ")}},
        "spec": {"pipelineName": name, "run": 0, "repositoryUrl": pipeline["spec"].get("repositoryUrl", ""),
                 "triggeredBy": "cron", "triggerUserName": "schedule", "event": "push", "branch": branch,
                 "ref": f"refs/heads/{branch}"},
    }
