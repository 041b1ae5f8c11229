"""Per-user watches, and server-sent events fed by them.

A user's pages read from watches made with the user's own token (so RBAC decides what they
hold): one `Informer` per resource and namespace — Pipelines, PipelineExecutions and
PipelineSettings — started when a page of that namespace is first opened and shared by every
page of the same session. Executions are cached as summaries (what lists and histories show);
a run with an open live page is kept whole from the watch's events. A watch event wakes the
subscriptions that care about the object; each SSE stream then renders its fragment and sends
it when it changed. Renders are coalesced: a burst of events is one render.

Event stream format (text/event-stream): `event: <name>` then the HTML fragment as `data:`
lines; a comment every 15 s keeps proxies from closing an idle stream.
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from translator.controller import slim as slimming
from translator.controller.informer import Informer
from translator.kubeclient import GROUP, VERSION, Kube
from translator.ui.index import RunIndex

Fragment = tuple[str, str]  # (event name, html)
Wants = Callable[[str, dict[str, Any]], bool]  # (plural, object) -> does this subscription care
May = Callable[[str, str, str], bool]  # (verb, plural, namespace) -> Kubernetes allows it


@dataclass(eq=False)
class Subscription:
    loop: asyncio.AbstractEventLoop
    wants: Wants
    event: asyncio.Event = field(default_factory=asyncio.Event)

    def notify(self) -> None:
        try:
            self.loop.call_soon_threadsafe(self.event.set)
        except RuntimeError:  # the loop is closed: the stream is gone
            pass


RENDER_THREADS = 4  # per session: renders are short and hold the GIL; more threads only queue for it
LIST_PAGE = 500  # objects per list request: a namespace of 10,000 runs is read in bounded pieces
SUMMARY = "_summary"  # marks a cached execution summary (never sent anywhere)
SUMMARY_SPEC = ("pipelineName", "run", "branch", "commit", "event", "triggeredBy", "triggerUserName", "rerunOf")
SUMMARY_STATUS = ("executionState", "started", "ended", "duration")


def summary(obj: dict[str, Any]) -> dict[str, Any]:
    """What lists, histories and queue positions read of an execution; run pages read the whole object."""
    meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    return {SUMMARY: True,
            "metadata": {k: _share(meta[k]) for k in ("name", "namespace", "resourceVersion", "creationTimestamp")
                         if k in meta},
            "spec": {k: _share(spec[k]) for k in SUMMARY_SPEC if k in spec} if isinstance(spec, dict) else {},
            "status": {k: _share(status[k]) for k in SUMMARY_STATUS if k in status} if isinstance(status, dict)
            else {}}


def _share(value: Any) -> Any:
    """One copy of a string many summaries repeat (namespace, pipeline, branch, state, user)."""
    return sys.intern(value) if isinstance(value, str) and len(value) < 64 else value


def _keep(plural: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """What a session's informer caches of each object (the controller's informer lists in pages of
    LIST_PAGE and hands its handler the whole object): executions as summaries, so a session
    watching a namespace of 10,000 runs holds a few MB; the rest without apply bookkeeping."""
    return summary if plural == "pipelineexecutions" else slimming.strip


class NamespaceWatch:
    """The informers of one namespace for one session: of the resources the user may list and watch."""

    PLURALS = ("pipelines", "pipelineexecutions", "pipelinesettings")
    # what the pages' buttons ask (Run/Rerun, Stop, Save): asked with the watches' own reviews, at once,
    # so the namespace's first page finds the answers in the session's memory
    BUTTONS = (("create", "pipelineexecutions"), ("patch", "pipelineexecutions"), ("update", "pipelines"))

    def __init__(self, kube: Kube, namespace: str, on_change: Callable[[str, dict[str, Any]], None],
                 may: May) -> None:
        self.namespace = namespace
        self.informers: dict[str, Informer] = {}
        self.runs = RunIndex()  # the executions' summaries by pipeline, newest first (index.py)
        reviews = [(verb, plural) for plural in self.PLURALS for verb in ("list", "watch")] + list(self.BUTTONS)
        with ThreadPoolExecutor(max_workers=len(reviews), thread_name_prefix="review") as pool:
            answers = dict(zip(reviews, pool.map(lambda r: may(r[0], r[1], namespace), reviews), strict=True))
        for plural in self.PLURALS:
            if answers[("list", plural)] and answers[("watch", plural)]:
                relay = _relay(plural, on_change)
                self.informers[plural] = Informer(kube, plural=plural, group=GROUP, version=VERSION,
                                                 namespaces=[namespace], watch_timeout=120, slim=_keep(plural),
                                                 page_size=LIST_PAGE,
                                                 handler=self._indexed(relay) if plural == "pipelineexecutions"
                                                 else relay)

    def _indexed(self, relay: Callable[[str, dict[str, Any]], None]) -> Callable[[str, dict[str, Any]], None]:
        """The executions' handler: the index follows the cache (the informer updated it first), then pages hear."""
        def handle(kind: str, obj: dict[str, Any]) -> None:
            name = obj["metadata"].get("name", "")
            cached = self.get("pipelineexecutions", name)  # the cache's own summary: shared, not copied
            if kind == "DELETED" or cached is None:
                self.runs.remove(name)
            else:
                self.runs.put(cached)
            relay(kind, obj)

        return handle

    def start(self) -> NamespaceWatch:
        for informer in self.informers.values():
            informer.start()
        return self

    def wait(self, timeout: float = 30.0) -> bool:
        return all(i.synced.wait(timeout) for i in self.informers.values())

    def readable(self, plural: str) -> bool:
        return plural in self.informers

    def items(self, plural: str) -> list[dict[str, Any]]:
        informer = self.informers.get(plural)
        return informer.items(self.namespace) if informer else []

    def get(self, plural: str, name: str) -> dict[str, Any] | None:
        """The cached object (for executions: its summary)."""
        informer = self.informers.get(plural)
        return informer.get(self.namespace, name) if informer else None

    def stop(self) -> None:
        for informer in self.informers.values():
            informer.stop()


def _newer(kept: dict[str, Any] | None, seen: dict[str, Any]) -> dict[str, Any]:
    """The later of two versions of one object, by resourceVersion."""
    if kept is None:
        return seen
    a, b = str(kept["metadata"].get("resourceVersion", "")), str(seen["metadata"].get("resourceVersion", ""))
    return kept if a.isdigit() and b.isdigit() and int(a) > int(b) else seen


def _relay(plural: str, on_change: Callable[[str, dict[str, Any]], None]) -> Callable[[str, dict[str, Any]], None]:
    return lambda _kind, obj: on_change(plural, obj)


class Watches:
    """A session's namespace watches and the live streams reading them."""

    def __init__(self, kube: Kube, may: May) -> None:
        self.kube, self.may = kube, may
        self._namespaces: dict[str, NamespaceWatch] = {}
        self._subs: set[Subscription] = set()
        self._open: dict[tuple[str, str], int] = {}  # runs with an open live page: kept whole
        self._runs: dict[tuple[str, str], dict[str, Any]] = {}
        self._lock = threading.Lock()
        # the live pages' renders: a few threads of the session's own (a render that waits on the API server
        # holds up only this user's pages), not the server's shared pool, where a hundred pages changing at
        # once queued behind each other and fought for the GIL in forty threads
        self.renders = ThreadPoolExecutor(max_workers=RENDER_THREADS, thread_name_prefix="render")

    def namespace(self, namespace: str, *, timeout: float = 30.0) -> NamespaceWatch:
        """The namespace's watch, started on first use; waits until its first lists are in."""
        with self._lock:
            watch = self._namespaces.get(namespace)
        if watch is None:  # access reviews first (requests), outside the lock
            fresh = NamespaceWatch(self.kube, namespace, self._changed, self.may)
            with self._lock:
                watch = self._namespaces.setdefault(namespace, fresh)
            if watch is fresh:
                fresh.start()
        watch.wait(timeout)
        return watch

    def run(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The whole execution: from the watch while a live page has it open, else read (user's token)."""
        with self._lock:
            kept = self._runs.get((namespace, name))
        if kept is not None:
            return kept
        try:
            obj: dict[str, Any] = self.kube.get("pipelineexecutions", namespace, name)
        except Exception:  # 404, or 403: the page says which
            return None
        with self._lock:
            if (namespace, name) in self._open:
                obj = _newer(self._runs.get((namespace, name)), obj)
                self._runs[(namespace, name)] = obj
        return obj

    def kept(self, namespace: str, name: str) -> bool:
        """The whole execution is in memory (a live page has it open and it was read or heard once)."""
        with self._lock:
            return (namespace, name) in self._runs

    def open_run(self, namespace: str, name: str) -> None:
        with self._lock:
            self._open[(namespace, name)] = self._open.get((namespace, name), 0) + 1

    def close_run(self, namespace: str, name: str) -> None:
        with self._lock:
            left = self._open.get((namespace, name), 1) - 1
            if left:
                self._open[(namespace, name)] = left
            else:
                self._open.pop((namespace, name), None)
                self._runs.pop((namespace, name), None)

    def _changed(self, plural: str, obj: dict[str, Any]) -> None:
        with self._lock:
            if plural == "pipelineexecutions":
                key = (obj["metadata"].get("namespace", ""), obj["metadata"].get("name", ""))
                if key in self._open and not obj.get(SUMMARY):  # a relist's summary must not replace it
                    self._runs[key] = _newer(self._runs.get(key), obj)
            subs = list(self._subs)
        for sub in subs:
            if sub.wants(plural, obj):
                sub.notify()

    def poke(self) -> None:
        """Wake every live page of the session (something all of them show changed, e.g. a permission)."""
        with self._lock:
            subs = list(self._subs)
        for sub in subs:
            sub.notify()

    def subscribe(self, wants: Wants) -> Subscription:
        sub = Subscription(asyncio.get_running_loop(), wants)
        with self._lock:
            self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subs.discard(sub)

    def busy(self) -> bool:
        with self._lock:
            return bool(self._subs)

    def stop(self) -> None:
        with self._lock:
            watches, self._namespaces = list(self._namespaces.values()), {}
            self._subs.clear()
            self._runs.clear()
        self.renders.shutdown(wait=False, cancel_futures=True)
        for w in watches:
            w.stop()


def digest(html: str) -> str:
    """What a page says it shows already (`?seen=`): a live stream sends a fragment only when it differs."""
    return hashlib.blake2b(html.encode(), digest_size=16).hexdigest()


def sse_event(name: str, html: str) -> str:
    lines = html.splitlines() or [""]
    return f"event: {name}\n" + "".join(f"data: {line}\n" for line in lines) + "\n"


async def stream(watches: Watches, wants: Wants, render: Callable[[], list[Fragment]], *,
                 keepalive: float = 15.0, min_gap: float = 0.05, run: tuple[str, str] | None = None,
                 seen: dict[str, str] | None = None, current: Callable[[], bool] | None = None,
                 ready: Callable[[], bool] | None = None) -> AsyncIterator[str]:
    """The SSE body of one live page: its fragments now, then again whenever they change. With `run`,
    that execution is kept whole while the page is open. `seen`: the digests of the fragments the page
    was rendered with (not sent again); `current()` True: nothing changed since, no first render at all.
    `ready()` True: everything `render` reads is in memory (no request to make), so it is rendered here on
    the event loop and sent at once; otherwise on the session's render threads."""
    if run is not None:
        watches.open_run(*run)
    sub = watches.subscribe(wants)
    sent: dict[str, str] = dict(seen or {})  # fragment -> digest of what the page shows
    loop = asyncio.get_running_loop()
    skip = current is not None and current()
    try:
        while True:
            rendered = loop.time()
            try:
                if skip:
                    fragments = []
                elif ready is not None and ready():
                    # a hundred pages changing at once: handing each render to a thread and its result back
                    # cost more than the render (every hand-over waits for the GIL behind the other
                    # threads: 100 small renders took ~0.5 s to come back); here each is sent as it is made
                    fragments = render()
                else:  # rendering may ask the API server (an access review, a run's first read): off the loop
                    fragments = await loop.run_in_executor(watches.renders, render)
            except RuntimeError:  # the session ended (its render threads with it): so does the stream
                return
            skip = False
            for name, html in fragments:
                if sent.get(name) != (fingerprint := digest(html)):
                    sent[name] = fingerprint
                    yield sse_event(name, html)
            try:
                await asyncio.wait_for(sub.event.wait(), keepalive)
            except TimeoutError:
                yield ": keepalive\n\n"
                continue
            # a change after a quiet spell is rendered at once; a burst is coalesced: at most one
            # render every `min_gap`, the events that came meanwhile all in the next one
            await asyncio.sleep(max(0.0, min_gap - (loop.time() - rendered)))
            sub.event.clear()
    finally:
        watches.unsubscribe(sub)
        if run is not None:
            watches.close_run(*run)
