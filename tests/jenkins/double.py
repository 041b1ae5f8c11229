"""An HTTP double that answers like Jenkins for the calls the engine makes: basic auth, CSRF
crumb (403 without it), createItem / config.xml, job api/json (inQueue, lastBuild), build ->
queue item -> build number, cancel while queued, stop while running, wfapi/describe (stages
IN_PROGRESS -> SUCCESS / FAILED / ABORTED; NOT_EXECUTED for stages the script marks skipped;
stages after a failure never reached, so not listed, as for a scripted pipeline), per-node
wfapi/log (HTML-escaped, `hasMore` past a limit, the whole node log at `consoleUrl`) and the
progressive log. Builds advance in time: each stage named in the job's script
(`stage('...')`) runs for `stage_seconds`; queue items become builds after `queue_seconds`."""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse
from xml.etree import ElementTree

CRUMB = "c0ffee"


@dataclass
class Build:
    number: int
    stages: list[str]
    started: float = field(default_factory=time.monotonic)
    aborted_at: float | None = None
    skipped: frozenset[str] = frozenset()  # stages the script marks skipped (markStageSkippedForConditional)


@dataclass
class JenkinsState:
    user: str = "admin"
    token: str = "secret"
    queue_seconds: float = 0.05
    stage_seconds: float = 0.05
    outcome: Any = None  # (job, stage) -> "SUCCESS" | "FAILED"
    jobs: dict[str, str] = field(default_factory=dict)  # name -> config.xml
    queue: dict[int, tuple[str, float, bool]] = field(default_factory=dict)  # id -> (job, at, cancelled)
    queue_builds: dict[int, int] = field(default_factory=dict)
    builds: dict[str, dict[int, Build]] = field(default_factory=dict)
    down: bool = False
    slow_seconds: float = 0.0  # every answer waits this long (a Jenkins under load)
    log_text: Any = None  # (job, stage) -> the text the stage printed
    wfapi_log_limit: int = 10_000  # wfapi/log holds at most this much, then hasMore
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_queue: int = 100

    def stage_view(self, job: str, build: Build) -> dict[str, Any]:
        now = build.aborted_at or time.monotonic()
        stages, failed, status = [], False, "IN_PROGRESS"
        for i, name in enumerate(build.stages):
            begin = build.started + i * self.stage_seconds
            if failed:
                break  # a scripted pipeline never reaches the rest: wfapi does not list it
            if now < begin:
                break
            if build.aborted_at is not None and now < begin + self.stage_seconds:
                stages.append({"id": _stage_id(i), "name": name, "status": "ABORTED",
                               "startTimeMillis": int(begin * 1000),
                               "durationMillis": int((now - begin) * 1000)})
                status = "ABORTED"
                break
            if now < begin + self.stage_seconds:
                stages.append({"id": _stage_id(i), "name": name, "status": "IN_PROGRESS",
                               "startTimeMillis": int(begin * 1000),
                               "durationMillis": int((now - begin) * 1000)})
                break
            outcome = self.outcome or (lambda _j, _s: "SUCCESS")
            result = "NOT_EXECUTED" if name in build.skipped else outcome(job, name)
            entry = {"id": _stage_id(i), "name": name, "status": result, "startTimeMillis": int(begin * 1000),
                     "durationMillis": int(self.stage_seconds * 1000)}
            if result == "FAILED":
                entry["error"] = {"message": "script returned exit code 1"}
                failed = True
            stages.append(entry)
        else:
            status = "FAILED" if failed else "SUCCESS"
        if failed:
            status = "FAILED"
        return {"id": str(build.number), "name": f"#{build.number}", "status": status,
                "startTimeMillis": int(build.started * 1000), "stages": stages}


    def advance(self) -> None:
        """Queue items due leave the queue as builds (Jenkins' executor picking them up)."""
        for qid, (job, at, cancelled) in self.queue.items():
            if cancelled or qid in self.queue_builds or time.monotonic() - at < self.queue_seconds:
                continue
            builds = self.builds.setdefault(job, {})
            number = len(builds) + 1
            script = ElementTree.fromstring(self.jobs[job]).findtext("definition/script") or ""
            stages = re.findall(r"stage\('((?:[^'\\]|\\.)*)'\)", script)
            skipped = re.findall(r"markStageSkippedForConditional\('((?:[^'\\]|\\.)*)'\)", script)
            builds[number] = Build(number, stages, skipped=frozenset(skipped))
            self.queue_builds[qid] = number

    def text_of(self, job: str, stage: str) -> str:
        return (self.log_text or (lambda _j, s: f"+ run {s}\n<{s}> done & ok\n"))(job, stage)


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
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> JenkinsDouble:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


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
        self.end_headers()
        self.wfile.write(data)

    def _authorized(self) -> bool:
        import base64

        want = "Basic " + base64.b64encode(f"{self.jenkins.user}:{self.jenkins.token}".encode()).decode()
        return self.headers.get("Authorization") == want

    def _route(self, method: str) -> None:
        js = self.jenkins
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if js.slow_seconds:
            time.sleep(js.slow_seconds)
        if js.down:
            self._send(503, "Jenkins is starting")
            return
        if not self._authorized():
            self._send(401, "unauthorized")
            return
        url = urlparse(self.path)
        path, query = unquote(url.path), parse_qs(url.query)
        if method == "POST" and self.headers.get("Jenkins-Crumb") != CRUMB:
            self._send(403, "No valid crumb was included in the request")
            return
        with js.lock:
            js.advance()
            if path == "/crumbIssuer/api/json":
                self._send(200, json.dumps({"crumb": CRUMB, "crumbRequestField": "Jenkins-Crumb"}))
            elif path == "/createItem" and method == "POST":
                name = query["name"][0]
                if name in js.jobs:
                    self._send(400, f"A job already exists with the name '{name}'")
                else:
                    ElementTree.fromstring(body)  # a real Jenkins refuses what is not XML
                    js.jobs[name] = body.decode()
                    self._send(200)
            elif m := re.fullmatch(r"/job/([^/]+)/config\.xml", path):
                name = m.group(1)
                if name not in js.jobs:
                    self._send(404, "not found")
                elif method == "POST":
                    js.jobs[name] = body.decode()
                    self._send(200)
                else:
                    self._send(200, js.jobs[name], "application/xml")
            elif (m := re.fullmatch(r"/job/([^/]+)/build", path)) and method == "POST":
                if m.group(1) not in js.jobs:
                    self._send(404, "not found")
                else:
                    js.next_queue += 1
                    js.queue[js.next_queue] = (m.group(1), time.monotonic(), False)
                    self._send(201, headers={"Location": f"{self.headers.get('Host', '')}/queue/item/{js.next_queue}/"})
            elif m := re.fullmatch(r"/job/([^/]+)/api/json", path):
                name = m.group(1)
                if name not in js.jobs:
                    self._send(404, "not found")
                else:
                    queued = [q for q, (j, _at, c) in js.queue.items() if j == name and not c
                              and q not in js.queue_builds]
                    builds = js.builds.get(name) or {}
                    self._send(200, json.dumps({
                        "_class": "org.jenkinsci.plugins.workflow.job.WorkflowJob", "inQueue": bool(queued),
                        "queueItem": {"id": queued[0]} if queued else None,
                        "lastBuild": {"number": max(builds)} if builds else None}))
            elif m := re.fullmatch(r"/job/([^/]+)/(\d+)/execution/node/(\d+)/wfapi/describe", path):
                build = js.builds[m.group(1)][int(m.group(2))]
                view = js.stage_view(m.group(1), build)
                stage = next((s for s in view["stages"] if s["id"] == m.group(3)), None)
                if stage is None:
                    self._send(404, "not found")
                else:
                    self._send(200, json.dumps({**stage, "stageFlowNodes": [
                        {"id": _flow_id(stage["id"]), "name": "Shell Script", "status": stage["status"],
                         "parameterDescription": stage["name"]}]}))
            elif m := re.fullmatch(r"/job/([^/]+)/(\d+)/execution/node/(\d+)/(wfapi/log|log)", path):
                build = js.builds[m.group(1)][int(m.group(2))]
                stage_name = next((n for i, n in enumerate(build.stages)
                                   if _flow_id(_stage_id(i)) == m.group(3)), None)
                if stage_name is None:
                    self._send(404, "not found")
                else:
                    import html as _html

                    text = "".join(f'<span class="pipeline-node-{m.group(3)}">{_html.escape(line)}</span>'
                                   for line in js.text_of(m.group(1), stage_name).splitlines(keepends=True))
                    if m.group(4) == "log":
                        self._send(200, text, "text/html")
                    else:
                        more = len(text) > js.wfapi_log_limit
                        self._send(200, json.dumps({
                            "nodeId": m.group(3), "nodeStatus": "SUCCESS", "length": len(text), "hasMore": more,
                            "text": text[: js.wfapi_log_limit],
                            "consoleUrl": f"/job/{m.group(1)}/{m.group(2)}/execution/node/{m.group(3)}/log"}))
            elif m := re.fullmatch(r"/queue/item/(\d+)/api/json", path):
                qid = int(m.group(1))
                _job_name, _at, cancelled = js.queue[qid]
                out: dict[str, Any] = {"id": qid, "cancelled": cancelled}
                if qid in js.queue_builds:
                    out["executable"] = {"number": js.queue_builds[qid]}
                self._send(200, json.dumps(out))
            elif path == "/queue/cancelItem" and method == "POST":
                qid = int(query["id"][0])
                job, at, _ = js.queue[qid]
                js.queue[qid] = (job, at, True)
                self._send(204)
            elif (m := re.fullmatch(r"/job/([^/]+)/(\d+)/stop", path)) and method == "POST":
                build = js.builds[m.group(1)][int(m.group(2))]
                build.aborted_at = build.aborted_at or time.monotonic()
                self._send(200)
            elif m := re.fullmatch(r"/job/([^/]+)/(\d+)/wfapi/describe", path):
                build = js.builds.get(m.group(1), {}).get(int(m.group(2)))
                if build is None:
                    self._send(404, "not found")
                else:
                    self._send(200, json.dumps(js.stage_view(m.group(1), build)))
            elif m := re.fullmatch(r"/job/([^/]+)/(\d+)/logText/progressiveText", path):
                build = js.builds[m.group(1)][int(m.group(2))]
                view = js.stage_view(m.group(1), build)
                text = "".join(f"[{s['name']}] {s['status']}\n" for s in view["stages"]).encode()
                start = int((query.get("start") or ["0"])[0])
                more = view["status"] == "IN_PROGRESS"
                self._send(200, text[start:], "text/plain",
                           {"X-Text-Size": str(len(text)), **({"X-More-Data": "true"} if more else {})})
            else:
                self._send(404, "not found")

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")
