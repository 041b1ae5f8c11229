"""A git server on loopback: `git http-backend` (smart HTTP) behind basic auth, serving the
bare repositories under a directory. Real git on both ends."""

from __future__ import annotations

import base64
import os
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlparse


def _git(*args: str, cwd: Path) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@x"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


def make_repo(root: Path, name: str, files: dict[str, str], branch: str = "master") -> tuple[Path, str]:
    """A bare repository `root/<name>.git` whose `branch` holds `files`; returns (path, commit)."""
    work = root / f"{name}-work"
    work.mkdir(parents=True)

    def git(*args: str, cwd: Path = work) -> str:
        return _git(*args, cwd=cwd)

    git("init", "-q", "-b", branch)
    for rel, text in files.items():
        (work / rel).write_text(text)
    git("add", "-A")
    git("commit", "-q", "-m", "pipeline")
    commit = git("rev-parse", "HEAD").strip()
    bare = root / f"{name}.git"
    git("clone", "-q", "--bare", str(work), str(bare), cwd=root)
    return bare, commit


def add_commit(bare: Path, branch: str, files: dict[str, str]) -> str:
    work = bare.parent / f"{bare.stem}-work"

    def git(*args: str) -> str:
        return _git(*args, cwd=work)

    git("checkout", "-q", "-B", branch)
    for rel, text in files.items():
        (work / rel).write_text(text)
    git("add", "-A")
    git("commit", "-q", "-m", "change")
    git("push", "-q", "-f", str(bare), f"{branch}:{branch}")
    return git("rev-parse", "HEAD").strip()


class GitServer:
    def __init__(self, root: Path, user: str = "bot", password: str = "s3cret-token") -> None:
        self.root, self.user, self.password = root, user, password
        handler = type("H", (_Handler,), {"server_ref": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.requests: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> GitServer:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _Handler(BaseHTTPRequestHandler):
    server_ref: GitServer
    protocol_version = "HTTP/1.0"

    def log_message(self, *args: Any) -> None:
        return

    def _serve(self, method: str) -> None:
        srv = self.server_ref
        want = "Basic " + base64.b64encode(f"{srv.user}:{srv.password}".encode()).decode()
        srv.requests.append(self.headers.get("Authorization", ""))
        if self.headers.get("Authorization") != want:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        url = urlparse(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        env = {**os.environ, "GIT_PROJECT_ROOT": str(srv.root), "GIT_HTTP_EXPORT_ALL": "1",
               "PATH_INFO": url.path, "QUERY_STRING": url.query, "REQUEST_METHOD": method,
               "CONTENT_TYPE": self.headers.get("Content-Type", ""), "CONTENT_LENGTH": str(len(body)),
               "REMOTE_USER": srv.user}
        if self.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
        if self.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True, check=False).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        status = 200
        headers = []
        for line in head.decode().split("\r\n"):
            key, _, value = line.partition(": ")
            if key.lower() == "status":
                status = int(value.split()[0])
            elif key:
                headers.append((key, value))
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")
