"""Per-user watches, and server-sent events fed by them.

A user's pages read from watches made with the user's own token (so RBAC decides what they
hold): one `Informer` per resource and namespace — Pipelines, PipelineExecutions and
PipelineSettings — started when a page of that namespace is first opened and shared by every
page of the same session. A watch event wakes the subscriptions that care about the object;
each SSE stream then renders its fragment from the cache and sends it when it changed. Renders
are coalesced: a burst of events is one render.

Event stream format (text/event-stream): `event: <name>` then the HTML fragment as `data:`
lines; a comment every 15 s keeps proxies from closing an idle stream.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from translator.controller.informer import Informer
from translator.kubeclient import GROUP, VERSION, Kube

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


class NamespaceWatch:
    """The informers of one namespace for one session: of the resources the user may list and watch."""

    PLURALS = ("pipelines", "pipelineexecutions", "pipelinesettings")

    def __init__(self, kube: Kube, namespace: str, on_change: Callable[[str, dict[str, Any]], None],
                 may: May) -> None:
        self.namespace = namespace
        self.informers: dict[str, Informer] = {}
        for plural in self.PLURALS:
            if may("list", plural, namespace) and may("watch", plural, namespace):
                self.informers[plural] = Informer(kube, plural=plural, group=GROUP, version=VERSION,
                                                  namespaces=[namespace], handler=_relay(plural, on_change),
                                                  watch_timeout=120)

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
        informer = self.informers.get(plural)
        return informer.get(self.namespace, name) if informer else None

    def stop(self) -> None:
        for informer in self.informers.values():
            informer.stop()


def _relay(plural: str, on_change: Callable[[str, dict[str, Any]], None]) -> Callable[[str, dict[str, Any]], None]:
    return lambda _kind, obj: on_change(plural, obj)


class Watches:
    """A session's namespace watches and the live streams reading them."""

    def __init__(self, kube: Kube, may: May) -> None:
        self.kube, self.may = kube, may
        self._namespaces: dict[str, NamespaceWatch] = {}
        self._subs: set[Subscription] = set()
        self._lock = threading.Lock()

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

    def _changed(self, plural: str, obj: dict[str, Any]) -> None:
        with self._lock:
            subs = list(self._subs)
        for sub in subs:
            if sub.wants(plural, obj):
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
        for w in watches:
            w.stop()


def sse_event(name: str, html: str) -> str:
    lines = html.splitlines() or [""]
    return f"event: {name}\n" + "".join(f"data: {line}\n" for line in lines) + "\n"


async def stream(watches: Watches, wants: Wants, render: Callable[[], list[Fragment]], *,
                 keepalive: float = 15.0, min_gap: float = 0.05) -> AsyncIterator[str]:
    """The SSE body of one live page: its fragments now, then again whenever they change."""
    sub = watches.subscribe(wants)
    sent: dict[str, str] = {}
    try:
        while True:
            for name, html in render():
                if sent.get(name) != html:
                    sent[name] = html
                    yield sse_event(name, html)
            try:
                await asyncio.wait_for(sub.event.wait(), keepalive)
            except TimeoutError:
                yield ": keepalive\n\n"
                continue
            sub.event.clear()
            await asyncio.sleep(min_gap)  # coalesce a burst of watch events into one render
    finally:
        watches.unsubscribe(sub)
