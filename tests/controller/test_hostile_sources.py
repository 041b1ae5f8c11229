"""The controller survives hostile pipeline files in repositories and a flood of malformed
webhooks: each fails only itself (InvalidConfig, a 4xx), while other runs proceed.

Through the API double, the Argo simulator, the loopback git server and real HTTP."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.controller.harness import System, wait_for
from tests.git_server import GitServer, _git, make_repo
from tests.kube_double.server import KubeDouble
from translator.controller import runs
from translator.controller.source import InvalidSource, read_pipeline_file
from translator.controller.triggers import MAX_BODY, WebhookReceiver, _body_refusal

GOOD = "stages:\n- name: Build\n  steps:\n  - runScriptConfig: {image: alpine, shellScript: make}\n"
BOMB = "".join([
    'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n',
    *(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10)),
    "stages:\n- name: s\n  steps:\n  - runScriptConfig: {image: alpine, shellScript: x}\n    env: {A: *a9}\n",
])
HOSTILE = {
    "bomb": (BOMB, "aliases expand past 10,000 nodes (line 5)"),
    "deep": ("stages: " + "[" * 5000 + "]" * 5000 + "\n", "nested deeper than 100 levels (line 1)"),
    "huge": (GOOD + "# " + "x" * (2 * 1024 * 1024) + "\n", "larger than 1 MiB (2,097,242 bytes)"),
    "binary": ("stages: []\n# \udcff\n", "not UTF-8 text"),
    "many": ("stages:\n" + "- a\n" * 100_001, "more than 100,000 values"),
}
SECRET = "hook-secret"


@pytest.fixture
def system() -> Iterator[System]:
    with KubeDouble() as kube:
        sys_ = System(kube, quota=10, step_seconds=0.05)
        sys_.start_controller()
        try:
            yield sys_
        finally:
            sys_.close()


def _condition(ex: dict[str, object], kind: str) -> dict[str, str]:
    return next(c for c in ex["status"]["conditions"] if c["type"] == kind)  # type: ignore[index, union-attr]


def _repo(root: Path, name: str, data: bytes) -> None:
    """A bare repository whose master holds `data` as its pipeline file, byte for byte."""
    make_repo(root, name, {"README.md": name})
    (root / f"{name}-work" / ".rancher-pipeline.yml").write_bytes(data)
    _git("add", "-A", cwd=root / f"{name}-work")
    _git("commit", "-q", "-m", "hostile", cwd=root / f"{name}-work")
    _git("push", "-q", "-f", str(root / f"{name}.git"), "master:master", cwd=root / f"{name}-work")


def test_hostile_pipeline_files_fail_only_their_own_runs(system: System, tmp_path: Path) -> None:
    for name, (text, _) in HOSTILE.items():
        _repo(tmp_path, name, text.encode("utf-8", "surrogateescape"))
    make_repo(tmp_path, "good", {".rancher-pipeline.yml": GOOD})
    system.secret("scm-token", {"token": "s3cret-token"})
    system.kube.create("sourcecodecredentials", "team", {
        "apiVersion": "devops.cubepaas.io/v1alpha1", "kind": "SourceCodeCredential", "metadata": {"name": "bot"},
        "spec": {"sourceCodeType": "github", "userName": "bot", "secretName": "scm-token"}})
    with GitServer(tmp_path, user="bot", password="s3cret-token") as git:
        for name in [*HOSTILE, "good"]:
            system.apply_pipeline(name, inline=False, repositoryUrl=f"{git.url}/{name}.git",
                                  sourceCodeCredentialName="bot")
        started = time.monotonic()
        made = {name: runs.create_run(system.kube, "team", name)["metadata"]["name"] for name in [*HOSTILE, "good"]}
        good = system.wait_state(made["good"], "Success", timeout=30)
        assert time.monotonic() - started < 30
        for name, (_, words) in HOSTILE.items():
            ex = system.wait_state(made[name], "Failed", timeout=30)
            cond = _condition(ex, "Initialized")
            assert cond["status"] == "False" and cond["reason"] == "InvalidConfig", (name, cond)
            assert words in cond["message"], (name, cond["message"])
        # the controller is still there: another run of the good pipeline goes through
        again = runs.create_run(system.kube, "team", "good")["metadata"]["name"]
        system.wait_state(again, "Success", timeout=30)
    assert [s["name"] for s in good["status"]["stages"]] == ["Clone", "Build"]


def test_the_file_s_size_is_asked_before_it_is_read(tmp_path: Path) -> None:
    bare, _ = make_repo(tmp_path, "big", {".rancher-pipeline.yml": GOOD + "#" + "x" * 5000 + "\n"})
    with pytest.raises(InvalidSource, match=r"\.rancher-pipeline\.yml: larger than 4 KiB \(5,"):
        read_pipeline_file(str(bare), branch="master", max_bytes=4096)
    assert read_pipeline_file(str(bare), branch="master", max_bytes=8192)[1].startswith("stages:")


@pytest.mark.parametrize("length, encoding, status", [
    (None, None, 411), ("abc", None, 400), ("-1", None, 400), ("9" * 30, None, 413),
    (str(MAX_BODY + 1), None, 413), ("10", "chunked", 411), ("10", None, None),
])
def test_a_delivery_s_headers_decide_whether_its_body_is_read(length: str | None, encoding: str | None,
                                                               status: int | None) -> None:
    refusal = _body_refusal(length, encoding)
    assert (refusal.status if refusal else None) == status


def _raw(port: int, request: bytes, *, hang_up: bool = False) -> int:
    """Send `request` as bytes (then stop sending, with `hang_up`); the answer's status, or 0 when
    the server closed without one."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        if hang_up:
            sock.shutdown(socket.SHUT_WR)
        data = b""
        try:
            while b"\r\n" not in data:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
        except OSError:
            return 0
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0


def _post(path: str, body: bytes, headers: dict[str, str]) -> bytes:
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return f"POST {path} HTTP/1.1\r\nHost: x\r\n{head}\r\n".encode() + body


def _signed(body: bytes) -> dict[str, str]:
    return {"X-Translator-Signature": "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest(),
            "X-Translator-Delivery": hashlib.sha256(body).hexdigest()[:12], "Content-Length": str(len(body))}


MALFORMED = [
    _post("/hooks/generic", b"{not json", _signed(b"{not json")),
    _post("/hooks/generic", b"[" * 5000 + b"]" * 5000, _signed(b"[" * 5000 + b"]" * 5000)),
    _post("/hooks/generic", b"[1, 2]", _signed(b"[1, 2]")),
    _post("/hooks/generic", b'{"event": "merge"}', _signed(b'{"event": "merge"}')),
    _post("/hooks/github", b"{}", {"Content-Length": "2"}),  # unsigned
    _post("/hooks/generic", b"", {"Content-Length": "nope"}),
    _post("/hooks/generic", b"", {"Content-Length": str(MAX_BODY + 1)}),
    _post("/hooks/generic", b"5\r\nhello\r\n0\r\n\r\n", {"Transfer-Encoding": "chunked"}),
    _post("/hooks/generic", b"{}", {}),
    _post("/hooks/nowhere", b"{}", {"Content-Length": "2"}),
    _post("/hooks/generic", b'{"eve', {"Content-Length": "100"}),  # the body ends early
    b"GARBAGE\r\n\r\n",
]


def test_a_flood_of_malformed_webhooks_while_other_runs_proceed(system: System) -> None:
    repo = "https://git.example.com/web.git"
    system.apply_pipeline("web", repositoryUrl=repo)
    receiver = WebhookReceiver(system.kube, SECRET, lambda: system.kube.list("pipelines")["items"])
    server = receiver.serve(0, host="127.0.0.1")
    port = server.server_address[1]
    statuses: list[tuple[int, int]] = []
    lock = threading.Lock()

    def flood(offset: int) -> None:
        for i in range(25):
            kind = (i + offset) % len(MALFORMED)
            status = _raw(port, MALFORMED[kind], hang_up=MALFORMED[kind].endswith(b'{"eve'))
            with lock:
                statuses.append((kind, status))

    try:
        threads = [threading.Thread(target=flood, args=(n,)) for n in range(12)]
        for t in threads:
            t.start()
        made = [runs.create_run(system.kube, "team", "web")["metadata"]["name"] for _ in range(3)]
        body = json.dumps({"event": "push", "repositoryUrl": repo, "branch": "master", "commit": "a" * 40}).encode()
        good = _raw(port, _post("/hooks/generic", body, _signed(body)))
        for t in threads:
            t.join(timeout=120)
        for name in made:
            system.wait_state(name, "Success", timeout=30)
    finally:
        server.shutdown()
    assert good == 201
    assert len(statuses) == 300
    by_kind = {kind: {s for k, s in statuses if k == kind} for kind in range(len(MALFORMED))}
    assert by_kind == {0: {400}, 1: {400}, 2: {400}, 3: {400}, 4: {401}, 5: {400}, 6: {413}, 7: {411}, 8: {411},
                       9: {404}, 10: {400},
                       11: {0}}  # http.server answers a one-word request line HTTP/0.9-style: no status line
    hooks = [e for e in system.kube.list("pipelineexecutions", "team")["items"] if "-wh-" in e["metadata"]["name"]]
    assert len(hooks) == 1  # the one good delivery
    wait_for(lambda: system.state(hooks[0]["metadata"]["name"]) == "Success", 30, "the webhook's run")


def test_provider_api_answers_are_read_within_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    """A GitHub/GitLab answer is untrusted too: too large, too deep or not JSON is a ProviderError."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from translator.api.bounded import ReadLimits
    from translator.controller import providers

    answers = {"/big": b'{"a": "' + b"x" * 5000 + b'"}', "/deep": b"[" * 500 + b"]" * 500, "/bad": b"{nope",
               "/ok": b'[{"id": 1}]'}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            return

        def do_GET(self) -> None:
            body = answers[self.path]
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    monkeypatch.setattr(providers, "API_ANSWER", ReadLimits(max_bytes=4096, max_depth=50))
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        http = providers._Http(f"http://127.0.0.1:{server.server_address[1]}", {})
        assert http.request("GET", "/ok")[0] == [{"id": 1}]
        for path, words in (("/big", "larger than 4 KiB, the limit of an API answer"),
                            ("/deep", "nested deeper than 50 levels"), ("/bad", "not JSON")):
            with pytest.raises(providers.ProviderError, match=words):
                http.request("GET", path)
    finally:
        server.shutdown()
