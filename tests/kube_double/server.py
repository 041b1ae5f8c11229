"""A Kubernetes API server double over real HTTP, for the official `kubernetes` client.

Serves core (`/api/v1`) and group (`/apis/{group}/{version}`) paths, namespaced and
cluster-wide, with get / list / watch / create / update / patch / delete, the `status`
subresource, pod `log`, label and field selectors, and watches that stream JSON lines,
resume from a resourceVersion and answer 410 Gone for one older than the history.
Custom resources are served from our `crds/*.yaml` and Argo's Workflow CRD (see `crds`),
pruned and validated against them (see `strategy`). Write bodies over 3 MiB are refused
(413); unknown fields are reported in `Warning` headers, or refused under
`fieldValidation=Strict`. Fault injection answers a chosen fraction of requests with 409 or
500, for resilience tests.
"""

from __future__ import annotations

import json
import random
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import yaml

from tests.kube_double.crds import argo_workflow_crd, our_crds
from tests.kube_double.jsonvalue import dumps
from tests.kube_double.store import ApiError, Event, Resource, Store, selector
from tests.kube_double.strategy import MAX_REQUEST_BODY_BYTES

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Faults:
    """Answer this fraction of matching requests with an error before touching the store."""

    rate: float = 0.0
    codes: tuple[int, ...] = (409, 500)
    methods: tuple[str, ...] = ("POST", "PUT", "PATCH", "DELETE", "GET")
    rng: random.Random = field(default_factory=lambda: random.Random(11))
    injected: int = 0

    def pick(self, method: str, path: str) -> int | None:
        if self.rate <= 0 or method not in self.methods or "watch=" in path:
            return None
        if self.rng.random() < self.rate:
            self.injected += 1
            return self.rng.choice(self.codes)
        return None


class KubeDouble:
    """Start with `with KubeDouble() as kube:`; `kube.kubeconfig` is a file the client can load."""

    def __init__(self, *, history_size: int = 5000, crds: bool = True, argo_crd: str = "v4.1") -> None:
        self.store = Store(history_size=history_size)
        self.faults = Faults()
        self.requests: Counter[str] = Counter()
        self.request_log: list[tuple[str, str]] = []
        self.log_requests = False
        self.store.register_crd(argo_workflow_crd(argo_crd))
        self.auth: Any = None  # tests/kube_double/auth.Auth once enable_auth() is called
        if crds:
            for crd in our_crds():
                self.store.register_crd(crd)
        handler = type("Handler", (_Handler,), {"double": self})
        self.server = _Server(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._tmp = tempfile.TemporaryDirectory()
        self.kubeconfig = str(Path(self._tmp.name) / "kubeconfig")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> KubeDouble:
        self.thread.start()
        Path(self.kubeconfig).write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "double",
            "clusters": [{"name": "double", "cluster": {"server": self.url}}],
            "contexts": [{"name": "double", "context": {"cluster": "double", "user": "u", "namespace": "default"}}],
            "users": [{"name": "u", "user": {"token": "t"}}],
        }))
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        with self.store.lock:
            self.store.lock.notify_all()
        self._tmp.cleanup()

    def __enter__(self) -> KubeDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def enable_auth(self) -> Any:
        """Check bearer tokens and RBAC from now on (tests/kube_double/auth.py); the kubeconfig's token
        is an administrator (group system:masters), as the controller's is in these tests."""
        from tests.kube_double.auth import MASTERS, Auth

        self.auth = Auth(self.store)
        self.auth.add_token("t", "system:admin", (MASTERS,))
        self.auth.bootstrap()
        return self.auth

    # helpers for tests
    def create_namespace(self, name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
        return self.store.create(self.store.resource("", "namespaces"), "",
                                 {"metadata": {"name": name, "labels": labels or {}}})

    def writes(self) -> int:
        return sum(v for k, v in self.requests.items() if k.split()[0] in ("POST", "PUT", "PATCH", "DELETE"))


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-request (a controller killed by a test) is not an error of the
        server; anything else is printed as before."""
        # Go net/http server.go (*conn).serve, which kube-apiserver serves through: a read error
        # isCommonNetReadError names (a connection the client closed or reset) ends it, unlogged
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    double: KubeDouble
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # headers and body go out in separate writes: without this, Nagle + delayed ACK add 40 ms
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        return

    # ------------------------------------------------------------------ routing

    def _route(self) -> tuple[Resource, str, str, str, dict[str, list[str]]]:
        url = urlparse(self.path)
        query = parse_qs(url.query)
        parts = [p for p in url.path.split("/") if p]
        if parts[:2] == ["api", "v1"]:
            group, rest = "", parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 3:
            group, rest = parts[1], parts[3:]
        else:
            raise ApiError(404, "NotFound", f"no route for {url.path}")
        namespace = ""
        if rest[:1] == ["namespaces"] and len(rest) >= 3 and rest[2] not in ("status", "finalize"):
            namespace, rest = rest[1], rest[2:]
        if not rest:
            raise ApiError(404, "NotFound", f"no route for {url.path}")
        res = self.double.store.resource(group, rest[0])
        name = rest[1] if len(rest) > 1 else ""
        sub = rest[2] if len(rest) > 2 else ""
        if res.namespaced and name and not namespace:
            raise ApiError(404, "NotFound", f"{res.plural} is namespaced")
        return res, namespace, name, sub, query

    def _send(self, code: int, body: Any, content_type: str = "application/json",
              warnings: list[str] | None = None) -> None:
        data = body if isinstance(body, bytes) else body.encode() if isinstance(body, str) else dumps(body)
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for text in warnings or []:  # apiserver pkg/endpoints/filters/warning.go: `299 - "<text>"`
            self.send_header("Warning", "299 - " + json.dumps(text))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if len(raw) > MAX_REQUEST_BODY_BYTES:  # handlers/rest.go limitedReadBody
            raise ApiError(413, "RequestEntityTooLarge",
                           f"Request entity too large: limit is {MAX_REQUEST_BODY_BYTES}")
        if not raw:
            return {}
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            raise ApiError(400, "BadRequest", "the body is not JSON") from None

    def _handle(self, method: str) -> None:
        double = self.double
        double.requests[f"{method} {'watch' if 'watch=' in self.path else 'call'}"] += 1
        if double.log_requests:
            double.request_log.append((method, self.path))
        try:
            body = self._body() if method in ("POST", "PUT", "PATCH", "DELETE") else None
            if double.auth is not None:  # authentication and authorization come first, as in kube-apiserver
                review = double.auth.review(method, self.path, body, double.auth.check(method, self.path, self.headers))
                if review is not None:
                    self._send(201, review)
                    return
            code = double.faults.pick(method, self.path)
            if code == 409:
                raise ApiError(409, "Conflict", "injected conflict: the object has been modified")
            if code:
                raise ApiError(code, "InternalError", "injected internal error")
            res, ns, name, sub, query = self._route()
            store = double.store
            one = lambda k: (query.get(k) or [""])[0]  # noqa: E731
            warnings: list[str] = []
            # handlers: fieldValidation Strict refuses unknown fields, Warn (default) reports them, Ignore drops them
            validation = {"warnings": None if one("fieldValidation") == "Ignore" else warnings,
                          "strict": one("fieldValidation") == "Strict"}
            if method == "GET":
                if sub == "log":
                    pod = store.get(res, ns, name)  # 404 once the pod is gone, as the API server answers
                    names = [c["name"] for c in (pod.get("spec") or {}).get("containers") or []]
                    container = one("container")
                    # kubernetes pkg/registry/core/pod/strategy.go LogLocation: one container or a name
                    if not container and len(names) > 1:
                        raise ApiError(400, "BadRequest", f"a container name must be specified for pod {name}, "
                                                          f"choose one of: [{' '.join(names)}]")
                    if container and names and container not in names:
                        raise ApiError(400, "BadRequest", f"container {container} is not valid for pod {name}")
                    if one("follow") == "true":  # a live stream until the container ends (podlog.py)
                        from tests.kube_double.podlog import follow

                        follow(self, store, ns, name, container)
                        return
                    text = store.logs.get((ns, name, container)) if container else None
                    self._send(200, text if text is not None else store.logs.get((ns, name), ""), "text/plain")
                    return
                if one("watch") in ("true", "1"):
                    self._watch(res, ns, query)
                    return
                if name:
                    with store.lock:  # encoded before another write can replace it: no copy needed
                        data = dumps(store.get(res, ns, name, shared=True))
                    self._send(200, data)
                    return
                if one("limit") or one("continue"):
                    try:
                        limit = int(one("limit") or 0)
                    except ValueError:
                        raise ApiError(400, "BadRequest", f"limit: invalid value {one('limit')!r}") from None
                    chunk = store.list_chunk(res, ns, one("labelSelector"), one("fieldSelector"),
                                             limit=max(limit, 0), token=one("continue"))
                    self._send(200, {"apiVersion": res.api_version, "kind": f"{res.kind}List", **chunk})
                    return
                with store.lock:
                    items, rv = store.list(res, ns, one("labelSelector"), one("fieldSelector"), shared=True)
                    data = dumps({"apiVersion": res.api_version, "kind": f"{res.kind}List",
                                  "metadata": {"resourceVersion": str(rv)}, "items": items})
                self._send(200, data)
            elif method == "POST":
                with store.lock:  # each answer encoded under the lock, as the stored object stands
                    data = dumps(store.create(res, ns, body, shared=True, **validation))
                self._send(201, data, warnings=warnings)
            elif method == "PUT":
                with store.lock:
                    data = dumps(store.replace(res, ns, name, body, subresource=sub, shared=True, **validation))
                self._send(200, data, warnings=warnings)
            elif method == "PATCH":
                ctype = self.headers.get("Content-Type", "application/merge-patch+json")
                with store.lock:
                    data = dumps(store.patch(res, ns, name, body, ctype, subresource=sub, shared=True, **validation))
                self._send(200, data, warnings=warnings)
            elif method == "DELETE":
                propagation = one("propagationPolicy") or (body or {}).get("propagationPolicy") or "Background"
                self._send(200, store.delete(res, ns, name, propagation))
        except ApiError as err:
            self._send(err.code, err.status())
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _watch(self, res: Resource, namespace: str, query: dict[str, list[str]]) -> None:
        store = self.double.store
        one = lambda k: (query.get(k) or [""])[0]  # noqa: E731
        match = selector(one("labelSelector"), one("fieldSelector"))
        timeout = float(one("timeoutSeconds") or 300)
        deadline = time.monotonic() + timeout
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")  # this handler closes it at the end: say so, or a pool reuses it
        self.end_headers()

        def emit(event: dict[str, Any]) -> None:
            line = dumps(event) + b"\n"
            self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
            self.wfile.flush()

        try:
            with store.lock:
                rv_text = one("resourceVersion")
                pending: list[Event] | None
                if rv_text and rv_text != "0":
                    last = int(rv_text)
                    try:
                        pending = store.events_since(res, namespace, last, match)
                    except ApiError as err:
                        emit({"type": "ERROR", "object": err.status()})
                        pending = None
                else:
                    items, last = store.list(res, namespace, one("labelSelector"), one("fieldSelector"))
                    pending = [Event(last, "ADDED", res, o) for o in items]
            while pending is not None:
                for event in pending:
                    emit({"type": event.type, "object": event.obj})
                    last = max(last, event.rv)
                pending = None
                with store.lock:
                    while (remaining := deadline - time.monotonic()) > 0:
                        try:
                            found = store.events_since(res, namespace, last, match)
                        except ApiError as err:
                            emit({"type": "ERROR", "object": err.status()})
                            break
                        if found:
                            pending = found
                            break
                        last = max(last, store.rv)  # scanned up to here: a quiet watch never rescans the history
                        store.lock.wait(timeout=min(remaining, 1.0))
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ValueError, OSError):
            pass
        self.close_connection = True

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")
