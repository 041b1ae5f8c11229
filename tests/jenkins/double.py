"""An HTTP double that answers like Jenkins (core 2.516, the pinned plugins) for the calls the
engine makes. Each behaviour names the source it follows; where unsure it is the stricter one.

What it models: users with a password and API tokens; session-bound CSRF crumbs; permissions;
an optional context path; createItem / config.xml / doDelete; the queue (quiet period, the item
that leaves the queue before its build exists, left items kept 5 minutes, cancelItem's answers,
DisableConcurrentBuildsJobProperty); builds whose wfapi status is NOT_EXECUTED before their flow
execution exists; stages run in script order (`stage_seconds` each), a failed one ending the
build; `sh` run as durable-task would run it (on request, for real); the agent pod's filesystems
(`script_model.filesystem_error`); wfapi/log's last 10 KiB as HTML; node logs paged through
progressiveText; timestamper's prefixes; the agent pod the kubernetes plugin would start.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse
from xml.etree import ElementTree

from tests.jenkins import script_model
from tests.jenkins.script_model import JobModel, ScriptError, Stage

CRUMB_FIELD = "Jenkins-Crumb"
CRUMB_SALT = "salt"
NO_CRUMB = "No valid crumb was included in the request"  # core CrumbFilter.doFilter
WFAPI_LOG_MAX = 10 * 1024  # pipeline-stage-view FlowNodeLogExt.MAX_RETURN_CHARS
CONCURRENCY = "DisableConcurrentBuildsJobProperty"


@dataclass
class QueueItem:
    id: int
    job: str
    buildable_at: float  # after the quiet period (core Queue.WaitingItem)
    cancelled: bool = False
    left_at: float | None = None  # left the queue (core Queue.LeftItem); the build comes later
    number: int | None = None


@dataclass
class Build:
    number: int
    job: JobModel | None  # None: the script does not compile
    created: float
    error: str = ""
    aborted_at: float | None = None
    results: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # stage -> (status, error, log)


@dataclass
class JenkinsState:
    user: str = "admin"
    password: str = "admin-password"
    token: str = "secret"  # an API token of `user` (core ApiTokenProperty)
    forbidden: frozenset[str] = frozenset()  # permissions `user` lacks, e.g. {"Job/Build"}
    context: str = ""  # Jenkins' context path (--prefix), e.g. "/jenkins"
    redirect_to: str = ""  # a sign-in proxy in front: every request is answered 302 to it
    quiet_period: float = 5.0  # core AbstractProject.getQuietPeriod default, unless ?delay=
    queue_seconds: float = 0.05  # until an executor takes a buildable item
    start_gap_seconds: float = 0.05  # the item has left the queue, the build does not exist yet
    execution_seconds: float = 0.02  # the build exists, its flow execution not yet (wfapi NOT_EXECUTED)
    left_item_seconds: float = 300.0  # core Queue.leftItems: expireAfterWrite 5 minutes
    stage_seconds: float = 0.05
    held: set[str] = field(default_factory=set)  # stages (by name) that, once reached, run until released
    released: dict[str, float] = field(default_factory=dict)  # stage -> when release() let it end
    printed: dict[tuple[str, str], str] = field(default_factory=dict)  # (job, stage) -> printed while it runs
    outcome: Any = None  # (job, stage) -> "SUCCESS" | "FAILED"
    run_scripts: Callable[[str, str], bool] | None = None  # (job, stage) -> run its `sh` for real
    log_text: Any = None  # (job, stage) -> the text the stage printed
    page_bytes: int = 64 * 1024  # progressiveText answers at most this much at once
    all_pipelines_timestamps: bool = False  # timestamper TimestamperConfig.allPipelines
    cloud_namespace: str = "jenkins"  # the Kubernetes cloud's namespace (KubernetesCloud.namespace)
    jobs: dict[str, str] = field(default_factory=dict)  # name -> config.xml
    queue: dict[int, QueueItem] = field(default_factory=dict)
    builds: dict[str, dict[int, Build]] = field(default_factory=dict)
    sessions: set[str] = field(default_factory=set)
    down: bool = False
    slow_seconds: float = 0.0  # every answer waits this long (a Jenkins under load)
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_queue: int = 100

    # ------------------------------------------------------------------ tests drive a running stage

    def hold(self, stage: str) -> None:
        """The stage, once its build reaches it, keeps running (IN_PROGRESS) until release()."""
        with self.lock:
            self.held.add(stage)

    def release(self, stage: str) -> None:
        """A held stage ends now (or stage_seconds after it began, if that is later)."""
        with self.lock:
            self.held.discard(stage)
            self.released[stage] = time.time()

    def print(self, job: str, stage: str, text: str) -> None:
        """What a running stage's `sh` writes: in its node's log at once, before the stage ends."""
        with self.lock:
            self.printed[(job, stage)] = self.printed.get((job, stage), "") + text

    # ------------------------------------------------------------------ the queue

    def advance(self) -> None:
        """Move queue items on: buildable after the quiet period, taken by an executor, built."""
        now = time.time()
        for item in self.queue.values():
            if item.cancelled or item.number is not None:
                continue
            if item.left_at is None:
                if now < item.buildable_at + self.queue_seconds or self._blocked(item.job):
                    continue
                item.left_at = now  # core Queue.onStartExecuting: a LeftItem whose executable is null
            if now - item.left_at < self.start_gap_seconds:
                continue
            builds = self.builds.setdefault(item.job, {})
            item.number = len(builds) + 1  # the Executor made the Run
            builds[item.number] = self._new_build(item.job, item.number, now)
        for qid in [q for q, i in self.queue.items() if i.left_at and now - i.left_at > self.left_item_seconds]:
            del self.queue[qid]  # core Queue.leftItems expired

    def _blocked(self, job: str) -> bool:
        """workflow-job DisableConcurrentBuildsJobProperty: no second build while one runs."""
        if CONCURRENCY not in self.jobs.get(job, ""):
            return False
        return any(not self.finished(job, b) for b in self.builds.get(job, {}).values())

    def _new_build(self, job: str, number: int, now: float) -> Build:
        script = ElementTree.fromstring(self.jobs[job]).findtext("definition/script") or ""
        try:
            return Build(number, script_model.model(script), now)
        except ScriptError as exc:  # workflow-cps: the script fails to compile, the build fails
            error = f"org.codehaus.groovy.control.MultipleCompilationErrorsException: {exc}"
            return Build(number, None, now, error=error)

    def queued(self, job: str) -> QueueItem | None:
        return next((i for i in self.queue.values() if i.job == job and not i.cancelled and i.left_at is None), None)

    # ------------------------------------------------------------------ builds

    def _leaves(self, build: Build) -> list[Stage]:
        return [s for s in build.job.stages if s.leaf] if build.job else []

    def _result(self, job: str, build: Build, stage: Stage) -> tuple[str, str, str]:
        """(status, error, log) of a leaf stage, decided once when it runs."""
        if stage.name in build.results:
            return build.results[stage.name]
        assert build.job is not None
        # what it printed while running, then the rest (workflow-api FileLogStorage: one growing log per node)
        log = self.printed.get((job, stage.name), "") + \
            (self.log_text or (lambda _j, s: f"+ run {s}\n<{s}> done & ok\n"))(job, stage.name)
        error = script_model.filesystem_error(build.job, stage, job_name=job)
        if stage.skipped:
            result = ("NOT_EXECUTED", "", "")
        elif error:
            result = ("FAILED", error, error + "\n")
        elif stage.script is not None and self.run_scripts and self.run_scripts(job, stage.name):
            result = run_like_durable_task(stage.script)
        else:
            status = (self.outcome or (lambda _j, _s: "SUCCESS"))(job, stage.name)
            result = (status, "script returned exit code 1" if status == "FAILED" else "", log)
        build.results[stage.name] = result
        return result

    def stage_view(self, job: str, build: Build) -> dict[str, Any]:
        """wfapi/describe (pipeline-stage-view RunExt): stages in the order they started, nested ones
        listed flat; a stage not reached yet is not listed."""
        now = build.aborted_at or time.time()
        begin = build.created + self.execution_seconds
        view: dict[str, Any] = {"id": str(build.number), "name": f"#{build.number}",
                                "startTimeMillis": int(build.created * 1000), "stages": []}
        if build.aborted_at is None and now < begin:
            view["status"] = "NOT_EXECUTED"  # RunExt.initStatus: run.getExecution() == null
            return view
        if build.job is None:
            view.update(status="FAILED", endTimeMillis=int(begin * 1000))
            return view
        spans: dict[str, tuple[float, float, str, str]] = {}  # leaf -> (start, end, status, error)
        at, status = begin, "SUCCESS"
        for leaf in self._leaves(build):
            if now < at:
                status = "IN_PROGRESS"
                break
            end = at + self.stage_seconds
            if leaf.name in self.held:
                end = float("inf")
            elif self.released.get(leaf.name, 0.0) > at:  # held, then released while it ran
                end = max(end, self.released[leaf.name])
            if now < end:
                state = "ABORTED" if build.aborted_at is not None else "IN_PROGRESS"
                spans[leaf.name] = (at, now, state, "")
                status = state
                break
            result, error, _log = self._result(job, build, leaf)
            spans[leaf.name] = (at, end, result, error)
            at = end
            if result == "FAILED":
                status = "FAILED"  # a scripted pipeline does not reach the rest
                break
        stages = []
        for i, stage in enumerate(build.job.stages):
            covered = [spans[n] for n in ([stage.name] if stage.leaf else _descendants(build.job, stage)) if n in spans]
            if not covered:
                continue
            states = [c[2] for c in covered]
            state = next((s for s in ("FAILED", "ABORTED", "IN_PROGRESS") if s in states), states[-1])
            if not stage.leaf and state == "NOT_EXECUTED" and not stage.skipped:
                state = "SUCCESS"
            if stage.skipped:
                state = "NOT_EXECUTED"
            start, end = covered[0][0], covered[-1][1]
            entry: dict[str, Any] = {"id": _stage_id(i), "name": stage.name, "status": state,
                                     "startTimeMillis": int(start * 1000), "durationMillis": int((end - start) * 1000)}
            if state == "FAILED":
                message = next(c[3] for c in covered if c[2] == "FAILED")
                entry["error"] = {"message": message, "type": "hudson.AbortException"}
            stages.append(entry)
        view["stages"] = stages
        view["status"] = status if build.aborted_at is None else "ABORTED"
        if view["status"] not in ("IN_PROGRESS", "NOT_EXECUTED"):
            view["endTimeMillis"] = int((now if build.aborted_at else at) * 1000)
        return view

    def finished(self, job: str, build: Build) -> bool:
        return self.stage_view(job, build)["status"] not in ("IN_PROGRESS", "NOT_EXECUTED")

    def node_log(self, job: str, build: Build, node_id: str) -> tuple[str, bool] | None:
        """(the flow node's whole log, whether it is still being written); None: no such node."""
        for i, stage in enumerate(build.job.stages if build.job else []):
            if node_id != _flow_id(_stage_id(i)):
                continue
            view = {s["name"]: s for s in self.stage_view(job, build)["stages"]}
            if stage.name not in view:
                return None
            if not stage.leaf:
                return "", False  # the outer stage's node is its `parallel` step: it prints nothing
            running = view[stage.name]["status"] == "IN_PROGRESS"
            # workflow-support LogStorageAction.getLogText: stepLog(node, !node.isActive()), the log so far
            # while the node runs (progressiveText answers X-More-Data), the whole of it once it ended
            text = self.printed.get((job, stage.name), "") if running else self._result(job, build, stage)[2]
            if build.job and (build.job.timestamps or self.all_pipelines_timestamps):
                stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(build.created)) + ".000Z"
                # timestamper GlobalDecorator: every line prefixed in the stored log
                text = "".join(f"[{stamp}] {line}" for line in text.splitlines(keepends=True))
            return text, running
        return None

    def agent_pod(self, job: str, number: int = 1) -> dict[str, Any]:
        """The agent pod the kubernetes plugin would start for the build (to create in the API double)."""
        model = self.builds[job][number].job
        assert model is not None
        name = f"{script_model.sanitize_label(model.label)}-{number:05d}"[-63:].lstrip("-")
        return script_model.agent_pod(model, cloud_namespace=self.cloud_namespace, pod_name=name)


def _descendants(job: JobModel, stage: Stage) -> list[str]:
    by_name = {s.name: s for s in job.stages}
    out: list[str] = []
    for child in stage.children:
        inner = by_name[child]
        out += [child] if inner.leaf else _descendants(job, inner)
    return out


def run_like_durable_task(script: str) -> tuple[str, str, str]:
    """Run `script` as durable-task does (BourneShellScript.launchWithCookie): `sh -xe script.sh`
    unless the text starts with `#!`, then the file itself (made executable) through its interpreter."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "script.sh")
        with open(path, "w", encoding="utf-8") as f:
            f.write(script)
        if script.startswith("#!"):
            os.chmod(path, 0o755)
            cmd = [path]
        else:
            cmd = ["sh", "-xe", path]
        proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=30, check=False,
                              env={"PATH": "/usr/bin:/bin"})
    log = proc.stdout + proc.stderr
    if proc.returncode:
        # workflow-durable-task-step DurableTaskStep: "script returned exit code N"
        return "FAILED", f"script returned exit code {proc.returncode}", log
    return "SUCCESS", "", log


def _stage_id(index: int) -> str:
    return str(10 + index * 10)


def _flow_id(stage_id: str) -> str:
    return stage_id + "1"


class JenkinsDouble:
    def __init__(self) -> None:
        self.state = JenkinsState()
        handler = type("H", (_Handler,), {"jenkins": self.state})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{self.state.context}"

    def __enter__(self) -> JenkinsDouble:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def crumb_for(user: str, ip: str, session: str) -> str:
    """core DefaultCrumbIssuer.issueCrumb: a digest of user, client IP and HTTP session id, salted."""
    return hashlib.sha256(f"{user};{ip};{session}{CRUMB_SALT}".encode()).hexdigest()


class _Handler(BaseHTTPRequestHandler):
    jenkins: JenkinsState
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        return

    def _send(self, code: int, body: str | bytes = b"", ctype: str = "application/json",
              headers: dict[str, str] | None = None) -> None:
        data = body.encode() if isinstance(body, str) else body
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if self._new_session:
            self.send_header("Set-Cookie", f"JSESSIONID.d0ub1e={self._new_session}; Path=/; HttpOnly")
        self.end_headers()
        self.wfile.write(data)

    def _error(self, code: int, message: str) -> None:
        """Jenkins' error page (core: HttpResponses.error / sendError): HTML, the message inside."""
        self._send(code, f"<html><head><title>Error {code}</title></head><body><h2>HTTP ERROR {code}</h2>"
                         f"<p>{html.escape(message)}</p></body></html>", "text/html")

    def _auth(self) -> tuple[str, bool] | None:
        """(user, by API token) for a valid Basic header; ('', False) anonymous; None invalid.
        core BasicHeaderProcessor: a token (BasicHeaderApiTokenAuthenticator) or the password."""
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return "", False
        user, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        if user != self.jenkins.user:
            return None
        if secret == self.jenkins.token:
            return user, True
        return (user, False) if secret == self.jenkins.password else None

    def _session(self) -> str:
        """The request's HTTP session; core DefaultCrumbIssuer calls req.getSession(), which makes one."""
        cookies = self.headers.get("Cookie", "")
        found = re.search(r"JSESSIONID\.d0ub1e=([0-9a-f]+)", cookies)
        if found and found.group(1) in self.jenkins.sessions:
            return found.group(1)
        session = os.urandom(8).hex()
        self.jenkins.sessions.add(session)
        self._new_session = session
        return session

    def _allowed(self, user: str, permission: str) -> bool:
        if permission in self.jenkins.forbidden:
            # core ACL.checkPermission -> AccessDeniedException3: 403
            self._error(403, f"{user or 'anonymous'} is missing the {permission} permission")
            return False
        return True

    def _route(self, method: str) -> None:
        self._new_session = ""
        js = self.jenkins
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if js.slow_seconds:
            time.sleep(js.slow_seconds)
        if js.down:
            self._error(503, "Jenkins is getting ready to work")
            return
        if js.redirect_to:
            self._send(302, headers={"Location": js.redirect_to})  # a sign-in proxy in front of Jenkins
            return
        url = urlparse(self.path)
        path, query = unquote(url.path), parse_qs(url.query)
        if js.context:
            if not path.startswith(js.context + "/"):
                self._error(404, "Not Found")  # winstone: outside the --prefix
                return
            path = path[len(js.context):]
        auth = self._auth()
        if auth is None:
            self._error(401, "Invalid password/token for user")  # core BasicHeaderProcessor
            return
        user, by_token = auth
        if not user:
            self._error(403, "Authentication required")  # loggedInUsersCanDoAnything, no anonymous read
            return
        with js.lock:
            if method == "POST" and not by_token:  # core ApiCrumbExclusion: API tokens need no crumb
                crumb = self.headers.get(CRUMB_FIELD, "")
                if crumb != crumb_for(user, self.client_address[0], self._session()):
                    self._error(403, NO_CRUMB)
                    return
            js.advance()
            self._dispatch(method, path, query, body, user)

    def _dispatch(self, method: str, path: str, query: dict[str, list[str]], body: bytes, user: str) -> None:
        js = self.jenkins
        root = f"http://{self.headers.get('Host', '')}{js.context}"
        if path == "/crumbIssuer/api/json":
            crumb = crumb_for(user, self.client_address[0], self._session())
            self._send(200, json.dumps({"_class": "hudson.security.csrf.DefaultCrumbIssuer", "crumb": crumb,
                                        "crumbRequestField": CRUMB_FIELD}))
        elif path == "/api/json":
            jobs = []
            for name in js.jobs:
                builds = js.builds.get(name) or {}
                last: dict[str, Any] | None = None
                if builds:
                    b = builds[max(builds)]
                    view = js.stage_view(name, b)
                    done = view["status"] not in ("IN_PROGRESS", "NOT_EXECUTED")
                    last = {"building": not done, "timestamp": int(b.created * 1000),
                            "duration": (view.get("endTimeMillis", 0) - int(b.created * 1000)) if done else 0}
                jobs.append({"name": name, "description": _description(js.jobs[name]),
                             "inQueue": js.queued(name) is not None, "lastBuild": last})
            self._send(200, json.dumps({"jobs": jobs}))
        elif path == "/createItem" and method == "POST":
            name = query["name"][0]
            if not self._allowed(user, "Job/Create"):
                return
            if name in js.jobs:
                self._error(400, f"A job already exists with the name '{name}'")
            else:
                ElementTree.fromstring(body)  # a real Jenkins refuses what is not XML
                js.jobs[name] = body.decode()
                self._send(200)
        elif m := re.fullmatch(r"/job/([^/]+)/config\.xml", path):
            name = m.group(1)
            if name not in js.jobs:
                self._error(404, "Not Found")
            elif method == "POST":
                if self._allowed(user, "Job/Configure"):
                    js.jobs[name] = body.decode()
                    self._send(200)
            else:
                self._send(200, js.jobs[name], "application/xml")
        elif (m := re.fullmatch(r"/job/([^/]+)/doDelete", path)) and method == "POST":
            if m.group(1) not in js.jobs:
                self._error(404, "Not Found")
            elif self._allowed(user, "Job/Delete"):
                del js.jobs[m.group(1)]
                js.builds.pop(m.group(1), None)
                self._send(302, headers={"Location": root + "/"})  # core AbstractItem.doDoDelete: to the parent
        elif (m := re.fullmatch(r"/job/([^/]+)/build", path)) and method == "POST":
            if m.group(1) not in js.jobs:
                self._error(404, "Not Found")
            elif self._allowed(user, "Job/Build"):
                existing = js.queued(m.group(1))
                if existing is None:  # core Queue.schedule2: one queue item per job, a second request joins it
                    delay = (query.get("delay") or [""])[0]
                    wait = float(delay.removesuffix("sec")) if delay else js.quiet_period
                    js.next_queue += 1
                    existing = QueueItem(js.next_queue, m.group(1), buildable_at=time.time() + wait)
                    js.queue[existing.id] = existing
                # core ParameterizedJobMixIn.doBuild: 201 Created, Location: the queue item
                self._send(201, headers={"Location": f"{root}/queue/item/{existing.id}/"})
        elif m := re.fullmatch(r"/job/([^/]+)/api/json", path):
            name = m.group(1)
            if name not in js.jobs:
                self._error(404, "Not Found")
            else:
                item = js.queued(name)
                builds = js.builds.get(name) or {}
                self._send(200, json.dumps({
                    "_class": "org.jenkinsci.plugins.workflow.job.WorkflowJob", "inQueue": item is not None,
                    "queueItem": {"id": item.id} if item else None,
                    "lastBuild": {"number": max(builds)} if builds else None}))
        elif m := re.fullmatch(r"/job/([^/]+)/(\d+)/execution/node/(\d+)/wfapi/describe", path):
            build = js.builds[m.group(1)][int(m.group(2))]
            view = js.stage_view(m.group(1), build)
            stage = next((s for s in view["stages"] if s["id"] == m.group(3)), None)
            if stage is None:
                self._error(404, "Not Found")
            else:
                model = build.job.stages[int(m.group(3)) // 10 - 1] if build.job else None
                kind = "Shell Script" if model and model.leaf else "Execute in parallel"
                self._send(200, json.dumps({**stage, "stageFlowNodes": [
                    {"id": _flow_id(stage["id"]), "name": kind, "status": stage["status"],
                     "parameterDescription": stage["name"]}]}))
        elif m := re.fullmatch(r"/job/([^/]+)/(\d+)/execution/node/(\d+)/(wfapi/log|log/?|log/logText/progressiveText)",
                               path):
            self._node_log(m.group(1), int(m.group(2)), m.group(3), m.group(4), query, root)
        elif m := re.fullmatch(r"/queue/item/(\d+)/api/json", path):
            item = js.queue.get(int(m.group(1)))
            if item is None:
                self._error(404, "Not Found")  # never known, or the left item expired
                return
            kind = "LeftItem" if item.left_at is not None or item.cancelled else "WaitingItem"
            out: dict[str, Any] = {"_class": f"hudson.model.Queue${kind}", "id": item.id, "cancelled": item.cancelled}
            if item.number is not None:
                out["executable"] = {"number": item.number, "url": f"{root}/job/{item.job}/{item.number}/"}
            elif kind == "LeftItem":
                out["executable"] = None  # core Queue.LeftItem.getExecutable: not made yet
            self._send(200, json.dumps(out))
        elif path == "/queue/cancelItem" and method == "POST":
            item = js.queue.get(int(query["id"][0]))
            if item is None:
                self._error(404, f"Provided id ({query['id'][0]}) not found")  # core Queue.doCancelItem
            elif item.left_at is not None or item.cancelled:
                self._error(500, f"Could not cancel run for id {item.id}")  # a LeftItem cannot be cancelled
            elif self._allowed(user, "Job/Cancel"):
                item.cancelled, item.left_at = True, time.time()
                self._send(204)
        elif (m := re.fullmatch(r"/job/([^/]+)/(\d+)/stop", path)) and method == "POST":
            build = js.builds[m.group(1)][int(m.group(2))]
            if self._allowed(user, "Job/Cancel"):
                if not js.finished(m.group(1), build):
                    build.aborted_at = time.time()
                self._send(302, headers={"Location": f"{root}/job/{m.group(1)}/{m.group(2)}/"})  # forwardToPreviousPage
        elif m := re.fullmatch(r"/job/([^/]+)/(\d+)/wfapi/describe", path):
            build = js.builds.get(m.group(1), {}).get(int(m.group(2)))
            if build is None:
                self._error(404, "Not Found")
            else:
                self._send(200, json.dumps(js.stage_view(m.group(1), build)))
        elif m := re.fullmatch(r"/job/([^/]+)/(\d+)/logText/progressiveText", path):
            build = js.builds[m.group(1)][int(m.group(2))]
            view = js.stage_view(m.group(1), build)
            text = "".join(f"[{s['name']}] {s['status']}\n" for s in view["stages"]).encode()
            self._progressive(text, query, view["status"] in ("IN_PROGRESS", "NOT_EXECUTED"))
        else:
            self._error(404, "Not Found")

    def _node_log(self, job: str, number: int, node: str, kind: str, query: dict[str, list[str]], root: str) -> None:
        js = self.jenkins
        found = js.node_log(job, js.builds[job][number], node)
        if found is None:
            self._error(404, "Not Found")
            return
        text, running = found
        raw = text.encode()
        if kind == "log/logText/progressiveText":
            self._progressive(raw, query, running)
        elif kind.startswith("log"):
            # workflow-support LogStorageAction/index.jelly: a whole page, chrome and scripts around the text
            page = (f"<!DOCTYPE html><html><head><script src='{root}/static/x/jsbundles/app.js'></script></head>"
                    f"<body><div id='page-header'>Jenkins</div><pre class='console-output'>{html.escape(text)}</pre>"
                    "</body></html>")
            self._send(200, page, "text/html;charset=utf-8")
        else:
            # pipeline-stage-view FlowNodeLogExt.create: the last MAX_RETURN_CHARS of the log, as HTML
            tail = raw[max(0, len(raw) - WFAPI_LOG_MAX):].decode("utf-8", "replace")
            self._send(200, json.dumps({
                "nodeId": node, "nodeStatus": "SUCCESS", "length": min(WFAPI_LOG_MAX, len(raw)),
                "hasMore": len(raw) > WFAPI_LOG_MAX,
                "text": "".join(f'<span class="pipeline-node-{node}">{html.escape(line)}</span>'
                                for line in tail.splitlines(keepends=True)),
                "consoleUrl": f"{root}/job/{job}/{number}/execution/node/{node}/log"}))

    def _progressive(self, raw: bytes, query: dict[str, list[str]], running: bool) -> None:
        """stapler LargeText.doProgressText: text from `start`, X-Text-Size the next offset, X-More-Data
        while it grows; this double also pages (at most `page_bytes` an answer), the stricter reading."""
        start = int((query.get("start") or ["0"])[0])
        chunk = raw[start:start + self.jenkins.page_bytes]
        end = start + len(chunk)
        more = running or end < len(raw)
        self._send(200, chunk, "text/plain;charset=UTF-8",
                   {"X-Text-Size": str(end), **({"X-More-Data": "true"} if more else {})})

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")


def _description(config_xml: str) -> str:
    return ElementTree.fromstring(config_xml).findtext("description") or ""
