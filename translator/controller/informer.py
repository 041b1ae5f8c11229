"""List, then watch: a local cache of one resource kept current from a watch.

The watch resumes from the last resourceVersion it saw; on 410 Gone it lists again. Errors
back off exponentially with jitter, capped (backoff.py), and are logged once when the watch
starts failing, then summarised at most once a minute, then once on recovery: an API server
that is down costs a few lines, not thousands. Handlers get (event type, object); the cache is
updated first.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from kubernetes import client, watch

from translator.controller.backoff import Backoff, FailureLog
from translator.kubeclient import Kube, explain, status_of

log = logging.getLogger("translator.informer")

Handler = Callable[[str, dict[str, Any]], None]


class Informer:
    def __init__(self, kube: Kube, *, plural: str, group: str, version: str, namespaces: list[str] | None = None,
                 label_selector: str = "", core_kind: str = "", handler: Handler | None = None,
                 watch_timeout: int = 300, backoff: Callable[[], Backoff] = Backoff,
                 log_interval: float = 60.0) -> None:
        self.kube = kube
        self.plural, self.group, self.version = plural, group, version
        self.namespaces = namespaces or [""]
        self.label_selector = label_selector
        self.core_kind = core_kind  # "" for custom objects; e.g. "config_map" for core resources
        self.handler = handler
        self.watch_timeout = watch_timeout
        self.backoff = backoff
        self.log_interval = log_interval
        self.cache: dict[tuple[str, str], dict[str, Any]] = {}
        self.lock = threading.RLock()
        self.synced = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._watches: dict[str, watch.Watch] = {}  # the current watch of each namespace

    # ---------------------------------------------------------------- reading the cache

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        with self.lock:
            return self.cache.get((namespace, name))

    def items(self, namespace: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [o for (ns, _), o in self.cache.items() if namespace is None or ns == namespace]

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
            if not _older(obj, cached):
                self.cache[key] = obj
            return self.cache[key]

    # ---------------------------------------------------------------- the loop

    def _list_fn(self, namespace: str) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        if self.core_kind:
            core: Any = self.kube.core if self.group == "" else self.kube.rbac
            if namespace:
                return getattr(core, f"list_namespaced_{self.core_kind}"), (namespace,)
            if self.core_kind == "namespace":
                return core.list_namespace, ()
            return getattr(core, f"list_{self.core_kind}_for_all_namespaces"), ()
        if namespace:
            return self.kube.custom.list_namespaced_custom_object, (self.group, self.version, namespace, self.plural)
        return self.kube.custom.list_cluster_custom_object, (self.group, self.version, self.plural)

    def _as_dict(self, obj: Any) -> dict[str, Any]:
        if isinstance(obj, dict):
            return obj
        result: dict[str, Any] = self.kube.api_client.sanitize_for_serialization(obj)
        return result

    def _relist(self, namespace: str) -> str:
        fn, args = self._list_fn(namespace)
        listed = self.kube.call(fn, *args, label_selector=self.label_selector)
        listed = self._as_dict(listed)
        items = [self._as_dict(i) for i in listed.get("items", [])]
        fresh = {(i["metadata"].get("namespace", ""), i["metadata"]["name"]): i for i in items}
        with self.lock:
            gone = [k for k in self.cache if (not namespace or k[0] == namespace) and k not in fresh]
            removed = [self.cache.pop(k) for k in gone]
            changed = []
            for key, obj in fresh.items():
                old = self.cache.get(key)
                if _older(obj, old):  # a list served before our own later write: the cache keeps the write
                    continue
                if old is None or old["metadata"].get("resourceVersion") != obj["metadata"].get("resourceVersion"):
                    changed.append(("ADDED" if old is None else "MODIFIED", obj))
                self.cache[key] = obj
        for obj in removed:
            self._dispatch("DELETED", obj)
        for kind, obj in changed:
            self._dispatch(kind, obj)
        return str(listed["metadata"]["resourceVersion"])

    def _dispatch(self, kind: str, obj: dict[str, Any]) -> None:
        if self.handler:
            try:
                self.handler(kind, obj)
            except Exception:  # one bad object never stops the loop
                log.exception("handler failed for %s %s", kind, obj.get("metadata", {}).get("name"))

    def _run(self, namespace: str) -> None:
        rv = ""
        backoff = self.backoff()
        failures = FailureLog(log, f"watch of {self.plural}" + (f" in {namespace}" if namespace else ""),
                              interval=self.log_interval)
        while not self._stop.is_set():
            try:
                if not rv:
                    rv = self._relist(namespace)
                    backoff.reset()
                    failures.recovered()
                    if namespace == self.namespaces[-1]:
                        self.synced.set()
                fn, args = self._list_fn(namespace)
                w = watch.Watch()
                self._watches[namespace] = w
                stream = w.stream(fn, *args, label_selector=self.label_selector, resource_version=rv,
                                  timeout_seconds=self.watch_timeout, allow_watch_bookmarks=True,
                                  _request_timeout=(self.kube.request_timeout[0], self.watch_timeout + 30))
                events = 0
                for event in stream:
                    events += 1
                    backoff.reset()
                    failures.recovered()
                    if self._stop.is_set():
                        break
                    obj = self._as_dict(event["object"])
                    kind = event["type"]
                    if kind == "ERROR":
                        if obj.get("code") == 410:
                            rv = ""
                            break
                        raise client.ApiException(status=obj.get("code", 500), reason=obj.get("message"))
                    rv = obj["metadata"].get("resourceVersion") or rv
                    if kind == "BOOKMARK":
                        continue
                    key = (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
                    with self.lock:
                        if kind == "DELETED":
                            self.cache.pop(key, None)
                        elif not _older(obj, self.cache.get(key)):
                            self.cache[key] = obj
                    self._dispatch(kind, obj)
                if not events:  # a watch that ends at once, again and again, must not spin
                    self._stop.wait(backoff.next())
            except Exception as exc:
                if self._stop.is_set():
                    return
                if status_of(exc) == 410:
                    rv = ""
                    continue
                failures.failed(explain(exc, self.kube.server))
                self._stop.wait(backoff.next())

    def start(self) -> Informer:
        for ns in self.namespaces:
            t = threading.Thread(target=self._run, args=(ns,), daemon=True, name=f"informer-{self.plural}-{ns}")
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        self._stop.set()
        for w in list(self._watches.values()):
            w.stop()


def _older(new: dict[str, Any], cached: dict[str, Any] | None) -> bool:
    """True when `cached` is a later version than `new` (the controller wrote it already)."""
    if cached is None or cached["metadata"].get("uid") != new["metadata"].get("uid"):
        return False
    a, b = new["metadata"].get("resourceVersion", ""), cached["metadata"].get("resourceVersion", "")
    return a.isdigit() and b.isdigit() and int(a) < int(b)
