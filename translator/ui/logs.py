"""A step's log in the browser: the same view as `translator logs` (controller.logs.LogViewer).

While the step runs its log is followed (the pod's log stream on Argo, the build's
progressive text on Jenkins) and sent as it comes, as server-sent events; once the pod is gone
it comes from the log store. The viewer runs on a thread with the user's client; chunks cross
to the event loop through a small bounded queue, so a slow browser slows the reader rather
than filling memory, and a closed page stops it at the next chunk.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from html import escape
from typing import Any
from urllib.parse import urlencode

from kubernetes import client
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from translator.controller.logs import LogError, LogViewer
from translator.ui.live import sse_event
from translator.ui.pages import SSE_HEADERS, api_message, session_of, ui_of

QUEUE_CHUNKS = 16
_END = object()


def _selection(request: Request) -> tuple[str, int]:
    q = request.query_params
    stage = q.get("stage", "")
    try:
        step = max(1, int(q.get("step", "1")))
    except ValueError:
        step = 1
    return (stage if stage.isdigit() else "0"), step


def panel(request: Request) -> Response:
    """The log panel of one step (an htmx fragment): it opens the step's live log stream."""
    ui = ui_of(request)
    ns, name = request.path_params["ns"], request.path_params["name"]
    stage, step = _selection(request)
    url = f"/live/ns/{ns}/runs/{name}/log?" + urlencode({"stage": stage, "step": step})
    response: Response = ui.render("_log.html", request, stream_url=url, stage=stage, step=step, name=name)
    return response


def _read(viewer: LogViewer, name: str, stage: str, step: int, loop: asyncio.AbstractEventLoop,
          queue: asyncio.Queue[Any], stop: threading.Event) -> None:
    def put(item: Any) -> bool:
        if stop.is_set():
            return False
        try:
            asyncio.run_coroutine_threadsafe(queue.put(item), loop).result(timeout=300)
        except Exception:  # the loop is gone or the browser stopped reading
            stop.set()
            return False
        return True

    try:
        for text in viewer.stream(name, stage, step, follow=True):
            if not put(("log", text)):
                return
        put(("end", "(end of log)"))
    except LogError as exc:
        put(("end", str(exc)))
    except client.ApiException as exc:
        put(("end", api_message(exc)))
    except Exception as exc:  # an unreachable log store or engine: said, not raised into the server
        put(("end", f"the log cannot be read: {type(exc).__name__}"))
    finally:
        put(_END)


async def _events(viewer: LogViewer, name: str, stage: str, step: int) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=QUEUE_CHUNKS)
    stop = threading.Event()
    reader = threading.Thread(target=_read, args=(viewer, name, stage, step, loop, queue, stop), daemon=True,
                              name=f"log-{name}")
    reader.start()
    try:
        yield sse_event("reset", "")
        while True:
            item = await queue.get()
            if item is _END:
                return
            kind, text = item
            if kind == "log":
                yield sse_event("log", escape(text).replace("\n", "&#10;").replace("\r", "&#13;"))
            else:
                yield sse_event("end", f'<p class="log-end">{escape(text)}</p>')
    finally:
        stop.set()
        while not queue.empty():  # let a reader blocked on a full queue see `stop`
            queue.get_nowait()


async def live_log(request: Request) -> Response:
    session = session_of(request)
    ns, name = request.path_params["ns"], request.path_params["name"]
    stage, step = _selection(request)
    viewer = LogViewer(session.kube, ns)
    return StreamingResponse(_events(viewer, name, stage, step), media_type="text/event-stream",
                             headers=SSE_HEADERS)
