"""`GET /api/v1/namespaces/{ns}/pods/{name}/log?follow=true` for the API server double.

kubelet (pkg/kubelet/kuberuntime/logs: ReadLogs with Follow) keeps the stream open and sends
what the container writes as it writes it, until the container exits; the API server proxies
that stream (pkg/registry/core/pod/rest/log.go, a chunked response). Here the pod's log is
`store.logs[(ns, pod)]` (one container's, `?container=`: `store.logs[(ns, pod, container)]`), the
container has exited once the pod's phase is Succeeded or Failed (the Argo simulator sets it when
the step ends) or, for a named container, once its containerStatus is `terminated` (a
containerSet's containers end one by one), and a deleted pod ends the stream too.
"""

from __future__ import annotations

import time
from typing import Any

from tests.kube_double.store import Store

FOLLOW_LIMIT_SECONDS = 300.0


def _exited(pod: dict[str, Any] | None, container: str) -> bool:
    if pod is None or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return True
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return bool(container) and any(s.get("name") == container and "terminated" in (s.get("state") or {})
                                   for s in statuses)


def follow(handler: Any, store: Store, namespace: str, name: str, container: str = "") -> None:
    """Stream the pod's (or one container's) log as it grows, chunked, until its container ends."""
    handler.send_response(200)
    handler.send_header("Content-Type", "text/plain")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    sent = 0
    deadline = time.monotonic() + FOLLOW_LIMIT_SECONDS
    try:
        while True:
            with store.lock:
                own = store.logs.get((namespace, name, container)) if container else None
                text = own if own is not None else store.logs.get((namespace, name), "")
                ended = _exited(store.objects.get(("", "pods", namespace, name)), container)
                if len(text) <= sent and not ended and time.monotonic() < deadline:
                    store.lock.wait(timeout=0.2)
                    continue
            if len(text) > sent:
                data = text[sent:].encode()
                handler.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                handler.wfile.flush()
                sent = len(text)
            if ended or time.monotonic() >= deadline:
                break
        handler.wfile.write(b"0\r\n\r\n")
        handler.wfile.flush()
    except (BrokenPipeError, ConnectionResetError, OSError):
        pass
    handler.close_connection = True
