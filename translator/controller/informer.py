"""List, then watch: a local cache of one resource kept current from a watch.

The list is read in pages of `page_size` (client-go's reflector lists through its pager in
chunks of 500), so a namespace of 50,000 executions is never one response held whole (the next
page is asked for while one is cached, so the server's work and ours overlap); the
watch resumes from the list's resourceVersion, and from the last one it saw after that; on 410
Gone (an expired watch or continue token) it lists again. Errors back off exponentially with
jitter, capped (backoff.py), and are logged once when the watch starts failing, then summarised
at most once a minute, then once on recovery: an API server that is down costs a few lines.

Both read JSON straight off the response, one decode per page or event (api/jsoncodec.py): the client's own
`Watch.stream` decodes every event three times (loads, dumps, loads again into its models) and
builds model objects for core kinds that we turned back into dicts.

What the cache holds is `slim(obj)` (slim.py): no managedFields, no last-applied annotation,
and for the resources that have one a compact form of the objects that are done (a finished
execution as a few hundred bytes). `keep(obj)` drops objects of other shards before they are
cached or handled. Handlers get (event type, object as received); the cache is updated first.

Several label selectors (`label_selectors`) are several list-and-watch streams into one cache
(a shard's own Workflows by bucket, and those made before the bucket label): each object
remembers the stream it came from, so one stream's relist or DELETED never drops what another
stream holds (an object whose labels move it between streams is ADDED by one and DELETED by the
other, in either order).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kubernetes import client

from translator.api import jsoncodec
from translator.controller import slim as slimming
from translator.controller.backoff import Backoff, FailureLog
from translator.kubeclient import Kube, explain, status_of

log = logging.getLogger("translator.informer")

Handler = Callable[[str, dict[str, Any]], None]
Stream = tuple[str, int]  # (namespace, index of the label selector)
PAGE_SIZE = 500
CLUSTER_KINDS = {"namespace", "node"}  # core kinds that are not namespaced
NAMESPACE_KEY = re.compile(rb'"namespace"\s*:\s*"([^"\\]*)"')
PAGED_ATTEMPTS = 3  # an expired continue token restarts the list; after that many, one unpaged list


class Expired(Exception):
    """The watch's resourceVersion or the list's continue token is older than the server keeps."""


def _lines(resp: Any) -> Iterator[bytes]:
    """The newline-separated JSON documents of a watch response, however the chunks fall."""
    parts: list[bytes] = []
    for chunk in resp.stream(amt=None, decode_content=False):
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            parts.append(chunk[start:end])
            line = b"".join(parts)
            parts = []
            start = end + 1
            if line.strip():
                yield line
        parts.append(chunk[start:])
    rest = b"".join(parts)
    if rest.strip():
        yield rest


class Informer:
    def __init__(self, kube: Kube, *, plural: str, group: str, version: str, namespaces: list[str] | None = None,
                 label_selector: str = "", label_selectors: list[str] | None = None, core_kind: str = "",
                 handler: Handler | None = None,
                 watch_timeout: int = 300, keep: Callable[[dict[str, Any]], bool] | None = None,
                 slim: Callable[[dict[str, Any]], slimming.Cached] = slimming.strip,
                 page_size: int = PAGE_SIZE, backoff: Callable[[], Backoff] = Backoff,
                 log_interval: float = 60.0, owns_namespace: Callable[[str], bool] | None = None,
                 owner_key: bytes = b"") -> None:
        self.kube = kube
        self.plural, self.group, self.version = plural, group, version
        self.namespaces = namespaces or [""]
        self.selectors = list(label_selectors or [label_selector])
        self.streams: list[Stream] = [(ns, i) for ns in self.namespaces for i in range(len(self.selectors))]
        # the stream each object came from, where there are several selectors a namespace
        self._origin: dict[tuple[str, str], int] | None = {} if len(self.selectors) > 1 else None
        self._listed: set[Stream] = set()
        self.dropped = 0  # objects listed or watched that were another shard's (read, then dropped)
        self.core_kind = core_kind  # "" for custom objects; e.g. "config_map" for core resources
        self.handler = handler
        self.watch_timeout = watch_timeout
        self.keep = keep
        self.slim = slim
        self.page_size = page_size
        self.backoff = backoff
        self.log_interval = log_interval
        self.owns_namespace = owns_namespace  # `keep` is by the object's own namespace: skip the others undecoded
        # an annotation naming the owner as `<namespace>/<name>` (a Workflow in another namespace)
        self._owner = re.compile(b'"' + re.escape(owner_key) + rb'"\s*:\s*"([^"/\\]*)/') if owner_key else None
        self.cache: dict[tuple[str, str], slimming.Cached] = {}
        self.lock = threading.RLock()
        self.synced = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._responses: dict[Stream, Any] = {}  # the open watch of each stream, closed by stop()
        self._started = time.monotonic()

    # ---------------------------------------------------------------- reading the cache

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        with self.lock:
            found = self.cache.get((namespace, name))
        return slimming.thaw(found) if found is not None else None

    def newest(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        """What the cache holds for `obj`'s key, None when nothing: `obj` itself when the cache holds
        that very version (no expansion of a compact copy: a list of 50,000 finished executions
        expanded each one again in its handler), else the cached one (our own later write)."""
        key = (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        with self.lock:
            found = self.cache.get(key)
        if found is None:
            return None
        if isinstance(found, slimming.Frozen) and _same(obj, found.meta):
            return obj
        return slimming.thaw(found)

    def items(self, namespace: str | None = None) -> list[dict[str, Any]]:
        """Every cached object (of one namespace): compact ones are expanded, so this is for small kinds."""
        with self.lock:
            found = [o for (ns, _), o in self.cache.items() if namespace is None or ns == namespace]
        return [slimming.thaw(o) for o in found]

    def __len__(self) -> int:
        with self.lock:
            return len(self.cache)

    def store(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        """Our own write, as the API server returned it, into the cache before its watch event.

        Kept only over an older version of the same object: a later version already in the cache
        stays, and an object whose DELETED event came first is not brought back. Returns what the
        cache holds now (None: gone).
        """
        key = (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        with self.lock:
            cached = self.cache.get(key)
            if cached is None:
                return None
            if not _older(obj, slimming.meta_of(cached)):
                self.cache[key] = self.slim(obj)
                return obj
            return slimming.thaw(cached)

    def reslim(self, namespace: str, name: str) -> None:
        """Apply `slim` again to the cached object: what it decides on may have changed elsewhere."""
        with self.lock:
            current = self.cache.get((namespace, name))
            if isinstance(current, dict):
                self.cache[(namespace, name)] = self.slim(current)

    # ---------------------------------------------------------------- the API

    def _list_fn(self, namespace: str) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        if self.core_kind:
            core: Any = self.kube.core if self.group == "" else self.kube.rbac
            if namespace:
                return getattr(core, f"list_namespaced_{self.core_kind}"), (namespace,)
            if self.core_kind in CLUSTER_KINDS:
                return getattr(core, f"list_{self.core_kind}"), ()
            return getattr(core, f"list_{self.core_kind}_for_all_namespaces"), ()
        if namespace:
            return self.kube.custom.list_namespaced_custom_object, (self.group, self.version, namespace, self.plural)
        return self.kube.custom.list_cluster_custom_object, (self.group, self.version, self.plural)

    def _page(self, stream: Stream, token: str, limit: int) -> dict[str, Any]:
        fn, args = self._list_fn(stream[0])
        extra: dict[str, Any] = {"limit": limit} if limit else {}
        if token:
            extra["_continue"] = token
        resp = self.kube.call(fn, *args, label_selector=self.selectors[stream[1]], _preload_content=False, **extra)
        if isinstance(resp, dict):  # a client that decoded it already
            return resp
        try:
            page: dict[str, Any] = jsoncodec.loads(resp.data)
        finally:
            resp.release_conn()
        return page

    def _relist(self, stream: Stream | str) -> str:
        """List everything (kept) into the cache, page by page, handling each change as it comes (a
        page's objects are dropped before the next is read), then what is gone; the list's resourceVersion.
        An expired continue token lists again from the start; after PAGED_ATTEMPTS, one unpaged list."""
        if isinstance(stream, str):  # a namespace: its (first) selector's stream
            stream = (stream, 0)
        for attempt in range(PAGED_ATTEMPTS + 1):
            limit = self.page_size if attempt < PAGED_ATTEMPTS else 0
            seen: set[tuple[str, str]] = set()
            rv = ""
            try:
                with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"list-{self.plural}") as pool:
                    coming = pool.submit(self._page, stream, "", limit)
                    while True:
                        page = coming.result()
                        meta = page.get("metadata") or {}
                        rv = rv or str(meta.get("resourceVersion") or "")
                        token = str(meta.get("continue") or "")
                        if token:  # the server makes the next page while this one is cached
                            coming = pool.submit(self._page, stream, token, limit)
                        self._take(page.pop("items", None) or [], seen, stream)
                        if not token:
                            break
            except client.ApiException as exc:
                if exc.status != 410:
                    raise
                log.info("the list of %s expired between pages; listing again", self.plural)
                continue
            namespace = stream[0]
            with self.lock:
                if self._origin is not None:
                    gone = [k for k, s in self._origin.items() if s == stream[1] and k not in seen
                            and (not namespace or k[0] == namespace)]
                    for k in gone:
                        del self._origin[k]
                else:
                    gone = [k for k in self.cache if (not namespace or k[0] == namespace) and k not in seen]
                removed = [slimming.thaw(self.cache.pop(k)) for k in gone if k in self.cache]
            for obj in removed:
                self._dispatch("DELETED", obj)
            return rv
        raise Expired(f"the list of {self.plural} kept expiring")

    def _take(self, items: list[dict[str, Any]], seen: set[tuple[str, str]], stream: Stream) -> None:
        """One page of a list: cached (slim), and handed to the handler where it changed."""
        changed = []
        with self.lock:
            for obj in items:
                if self.keep is not None and not self.keep(obj):
                    self.dropped += 1
                    continue
                key = (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
                seen.add(key)
                if self._origin is not None:
                    self._origin[key] = stream[1]
                old = self.cache.get(key)
                if old is not None and _older(obj, slimming.meta_of(old)):
                    continue  # a list served before our own later write: the cache keeps the write
                if old is None or slimming.meta_of(old).get("resourceVersion") != obj["metadata"].get(
                        "resourceVersion"):
                    changed.append(("ADDED" if old is None else "MODIFIED", obj))
                self.cache[key] = self.slim(obj)
        for kind, obj in changed:
            self._dispatch(kind, obj)

    def _dispatch(self, kind: str, obj: dict[str, Any]) -> None:
        if self.handler:
            try:
                self.handler(kind, obj)
            except Exception:  # one bad object never stops the loop
                log.exception("handler failed for %s %s", kind, obj.get("metadata", {}).get("name"))

    def _watch(self, stream: Stream, rv: str, heard: Callable[[], None]) -> str:
        """Follow the watch from `rv` until it ends (`heard()` at each event); the last resourceVersion seen."""
        fn, args = self._list_fn(stream[0])
        resp = self.kube.call(fn, *args, label_selector=self.selectors[stream[1]], watch=True, resource_version=rv,
                              timeout_seconds=self.watch_timeout, allow_watch_bookmarks=True, _preload_content=False,
                              _request_timeout=(self.kube.request_timeout[0], self.watch_timeout + 30))
        self._responses[stream] = resp
        try:
            for line in _lines(resp):
                if self._stop.is_set():
                    break
                heard()
                if self.owns_namespace is not None and not self._maybe_ours(line):
                    self.dropped += 1
                    continue  # another shard's object: not even decoded
                event = jsoncodec.loads(line)
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        raise Expired(obj.get("message") or "expired")
                    raise client.ApiException(status=obj.get("code", 500), reason=obj.get("message"))
                rv = (obj.get("metadata") or {}).get("resourceVersion") or rv
                if kind == "BOOKMARK":
                    continue
                if self.keep is not None and not self.keep(obj):
                    self.dropped += 1
                    continue
                key = (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
                with self.lock:
                    if self._origin is not None:
                        if kind == "DELETED" and self._origin.get(key, stream[1]) != stream[1]:
                            continue  # it left this stream for another, which holds it now
                        if kind == "DELETED":
                            self._origin.pop(key, None)
                        else:
                            self._origin[key] = stream[1]
                    if kind == "DELETED":
                        self.cache.pop(key, None)
                    else:
                        current = self.cache.get(key)
                        known = slimming.meta_of(current) if current is not None else None
                        if known is not None and _same(obj, known):
                            continue  # the echo of the controller's own write: cached and handled already
                        if known is None or not _older(obj, known):
                            self.cache[key] = self.slim(obj)
                self._dispatch(str(kind), obj)
        finally:
            self._responses.pop(stream, None)
            resp.release_conn()
        return rv

    def _maybe_ours(self, line: bytes) -> bool:
        """False only when no `"namespace": "..."` in the raw event names an owned namespace: the
        object's own is one of them (quotes inside string values are escaped, so only keys match)."""
        assert self.owns_namespace is not None
        found = NAMESPACE_KEY.findall(line) + (self._owner.findall(line) if self._owner is not None else [])
        return not found or any(self.owns_namespace(ns.decode("utf-8", "replace")) for ns in found)

    def _run(self, stream: Stream) -> None:
        rv = ""
        backoff = self.backoff()
        namespace = stream[0]
        failures = FailureLog(log, f"watch of {self.plural}" + (f" in {namespace}" if namespace else "")
                              + (f" ({self.selectors[stream[1]][:60]})" if self._origin is not None else ""),
                              interval=self.log_interval)
        events = [0]

        def heard() -> None:
            events[0] += 1
            backoff.reset()
            failures.recovered()

        while not self._stop.is_set():
            try:
                if not rv:
                    rv = self._relist(stream)
                    backoff.reset()
                    failures.recovered()
                    self._listed.add(stream)
                    if len(self._listed) == len(self.streams) and not self.synced.is_set():
                        self.synced.set()
                        log.info("the cache of %s is whole: %d objects, listed in %.1f s", self.plural,
                                 len(self.cache), time.monotonic() - self._started)
                events[0] = 0
                rv = self._watch(stream, rv, heard)
                if not events[0]:  # a watch that ends at once, again and again, must not spin
                    self._stop.wait(backoff.next())
            except Exception as exc:
                if self._stop.is_set():
                    return
                if isinstance(exc, Expired) or status_of(exc) == 410:
                    rv = ""
                    continue
                failures.failed(explain(exc, self.kube.server))
                self._stop.wait(backoff.next())

    def start(self) -> Informer:
        self._started = time.monotonic()
        for stream in self.streams:
            t = threading.Thread(target=self._run, args=(stream,), daemon=True,
                                 name=f"informer-{self.plural}-{stream[0]}-{stream[1]}")
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        self._stop.set()
        for resp in list(self._responses.values()):
            try:
                resp.shutdown()  # unblocks the read of a quiet watch
            except Exception:  # already closed
                pass


def _same(new: dict[str, Any], cached: dict[str, Any]) -> bool:
    """The cached object (its metadata) is this very version (its uid and resourceVersion)."""
    cached_meta = cached.get("metadata", cached)
    return bool(new["metadata"].get("resourceVersion")) and cached_meta.get("uid") == new["metadata"].get("uid") \
        and cached_meta.get("resourceVersion") == new["metadata"].get("resourceVersion")


def _older(new: dict[str, Any], cached: dict[str, Any]) -> bool:
    """True when `cached` (its metadata) is a later version than `new` (the controller wrote it already)."""
    cached_meta = cached.get("metadata", cached)
    if cached_meta.get("uid") != new["metadata"].get("uid"):
        return False
    a, b = new["metadata"].get("resourceVersion", ""), cached_meta.get("resourceVersion", "")
    return a.isdigit() and b.isdigit() and int(a) < int(b)
