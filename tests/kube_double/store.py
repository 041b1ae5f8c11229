"""The object store behind the Kubernetes API server double.

It keeps what a real API server keeps for the parts the controller depends on: one global
resourceVersion counter, optimistic concurrency (409 on a stale resourceVersion), generateName,
the write path of `strategy` (pruning, defaulting and validation against the CRDs it serves,
ObjectMeta rules, the status subresource split, 422 with the real Status), the
NamespaceLifecycle admission plugin, etcd's object size limit, label and field selectors,
the garbage collector (ownerReferences: cascading deletion, and a dependent whose owners are
all absent from its namespace is deleted), namespace deletion, finalizers, and an event history
so a watch can resume from a resourceVersion (410 Gone once it is older than the history kept).
"""

from __future__ import annotations

import bisect
import dataclasses
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.kube_double import admission, strategy
from tests.kube_double.errors import (
    ApiError,
    already_exists,
    bad_request,
    conflict,
    invalid,
    invalid_object,
    not_found,
)
from tests.kube_double.jsonvalue import clone, same
from tests.kube_double.paging import Pager, PagingError, Snapshot
from tests.kube_double.patches import json_patch, merge_patch
from tests.kube_double.schema import Memo
from tests.kube_double.selectors import selector


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    status_subresource: bool = False
    custom: bool = False  # served from a CustomResourceDefinition
    schema: dict[str, Any] | None = field(default=None, compare=False, hash=False, repr=False)
    memo: Memo = field(default_factory=Memo, compare=False, hash=False, repr=False)  # the schema's answers

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


BUILTIN = [
    Resource("", "v1", "namespaces", "Namespace", namespaced=False, status_subresource=True),
    Resource("", "v1", "configmaps", "ConfigMap"),
    Resource("", "v1", "secrets", "Secret"),
    Resource("", "v1", "serviceaccounts", "ServiceAccount"),
    Resource("", "v1", "pods", "Pod", status_subresource=True),
    Resource("", "v1", "events", "Event"),
    Resource("", "v1", "services", "Service"),
    Resource("apps", "v1", "deployments", "Deployment", status_subresource=True),
    Resource("", "v1", "nodes", "Node", namespaced=False, status_subresource=True),
    Resource("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding"),
    Resource("rbac.authorization.k8s.io", "v1", "roles", "Role"),
    Resource("coordination.k8s.io", "v1", "leases", "Lease"),
]

_SUFFIX_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # apiserver storage/names: utilrand.String's alphabet


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Event:
    rv: int
    type: str
    resource: Resource
    obj: dict[str, Any]
    at: float = field(default_factory=time.monotonic)
    prev: dict[str, Any] | None = None  # the object before a MODIFIED (stored objects are replaced, never changed)


Key = tuple[str, str, str, str]  # (group, plural, namespace, name)


class Objects(dict[Key, dict[str, Any]]):
    """The stored objects, indexed as the garbage collector's graph builder keeps its graph
    (garbagecollector/graph_builder.go: each node's dependents, by the owner's uid), so collecting
    an owner's dependents does not scan the store under its lock. The indexes only ever gain
    keys: a lookup checks each against the object stored now (an entry outlives a deletion or a
    changed ownerReference harmlessly; a deletion takes its own entries out). Each resource's keys
    are kept too (`of`), so a pass over one resource does not scan the whole store.

    A stored object is replaced on every write and never changed in place: the event history,
    list snapshots and answers encoded under the lock all share it, uncopied."""

    def __init__(self) -> None:
        super().__init__()
        self.dependents: dict[str, set[Key]] = {}  # owner uid -> keys that named it
        self.by_uid: dict[str, set[Key]] = {}  # uid -> keys that held it
        self.kinds: dict[tuple[str, str], dict[Key, None]] = {}  # (group, plural) -> its keys, in the store's order

    def __setitem__(self, key: Key, obj: dict[str, Any]) -> None:
        super().__setitem__(key, obj)
        self.kinds.setdefault(key[:2], {})[key] = None
        meta = obj.get("metadata") or {}
        if meta.get("uid"):
            self.by_uid.setdefault(str(meta["uid"]), set()).add(key)
        for ref in meta.get("ownerReferences") or []:
            if ref.get("uid"):
                self.dependents.setdefault(str(ref["uid"]), set()).add(key)

    def __delitem__(self, key: Key) -> None:
        meta = self[key].get("metadata") or {}
        super().__delitem__(key)
        del self.kinds[key[:2]][key]
        for index, uids in ((self.by_uid, [meta.get("uid")]),
                            (self.dependents, [r.get("uid") for r in meta.get("ownerReferences") or []])):
            for uid in uids:
                if uid and (keys := index.get(str(uid))) is not None:
                    keys.discard(key)
                    if not keys:
                        del index[str(uid)]

    def of(self, group: str, plural: str) -> list[Key]:
        """Keys of the stored objects of one resource, in the order iterating the store gives them."""
        return list(self.kinds.get((group, plural)) or ())

    def owned_by(self, uid: str) -> list[Key]:
        """Keys of the objects whose ownerReferences name `uid` now, in key order."""
        keys = self.dependents.get(uid) or set()
        found = sorted(k for k in keys if k in self and any(
            r.get("uid") == uid for r in self[k]["metadata"].get("ownerReferences") or []))
        if found:
            self.dependents[uid] = set(found)
        else:
            self.dependents.pop(uid, None)
        return found

    def with_uid(self, uid: str) -> list[Key]:
        keys = self.by_uid.get(uid) or set()
        found = sorted(k for k in keys if k in self and self[k]["metadata"].get("uid") == uid)
        if found:
            self.by_uid[uid] = set(found)
        else:
            self.by_uid.pop(uid, None)
        return found


@dataclass
class Store:
    history_size: int = 5000
    resources: dict[tuple[str, str], Resource] = field(default_factory=dict)  # (group, plural)
    objects: Objects = field(default_factory=Objects)
    logs: dict[tuple[str, ...], str] = field(default_factory=dict)  # (namespace, pod[, container]) -> log text
    rv: int = 1000
    history: list[Event] = field(default_factory=list)  # ascending resourceVersion
    lock: threading.Condition = field(default_factory=threading.Condition)
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    pager: Pager = field(default_factory=Pager)

    def __post_init__(self) -> None:
        for r in BUILTIN:
            self.register(r)

    def register(self, resource: Resource) -> None:
        self.resources[(resource.group, resource.plural)] = resource

    def register_crd(self, crd: dict[str, Any]) -> Resource:
        spec = crd["spec"]
        version = next(v for v in spec["versions"] if v.get("storage", True))
        resource = Resource(
            spec["group"], version["name"], spec["names"]["plural"], spec["names"]["kind"],
            namespaced=spec.get("scope", "Namespaced") == "Namespaced",
            status_subresource="status" in (version.get("subresources") or {}), custom=True,
            schema=(version.get("schema") or {}).get("openAPIV3Schema"),
        )
        self.register(resource)
        return resource

    def resource(self, group: str, plural: str) -> Resource:
        try:
            return self.resources[(group, plural)]
        except KeyError:
            raise ApiError(404, "NotFound", "the server could not find the requested resource") from None

    def _by_kind(self, api_version: str, kind: str) -> Resource | None:
        group = api_version.partition("/")[0] if "/" in api_version else ""
        return next((r for r in self.resources.values() if r.group == group and r.kind == kind), None)

    # ---------------------------------------------------------------------- reads

    def get(self, res: Resource, namespace: str, name: str, *, shared: bool = False) -> dict[str, Any]:
        """The stored object: a copy, or with `shared` the object itself, to be encoded before the
        caller lets go of the lock (as the HTTP handler does: the copy would only be encoded)."""
        with self.lock:
            obj = self.objects.get((res.group, res.plural, namespace if res.namespaced else "", name))
            if obj is None:
                raise not_found(res.group, res.plural, name)
            return _answer(obj, shared)

    def list(self, res: Resource, namespace: str, label_selector: str = "",
             field_selector: str = "", *, shared: bool = False) -> tuple[list[dict[str, Any]], int]:
        match = selector(label_selector, field_selector)
        with self.lock:
            items = [_answer(o, shared) for k in sorted(self.objects.of(res.group, res.plural))
                     if (not namespace or k[2] == namespace) and match(o := self.objects[k])]
            return items, self.rv

    def list_chunk(self, res: Resource, namespace: str, label_selector: str, field_selector: str, *,
                   limit: int, token: str) -> dict[str, Any]:
        """One chunk of a paged list (paging.py): the list's metadata and the stored items, to be
        serialised at once and never changed (as the snapshot itself relies on)."""
        match = selector(label_selector, field_selector)

        def current() -> Snapshot:
            found = sorted(((k[2], k[3]), self.objects[k]) for k in self.objects.of(res.group, res.plural))
            return [k for k, _ in found], [o for _, o in found]

        with self.lock:
            oldest = self.history[0].rv - 1 if self.history else 0
            try:
                items, rv, following, remaining = self.pager.chunk(
                    (res.group, res.plural), current, self.rv, oldest=oldest, namespace=namespace, match=match,
                    filtered=bool(label_selector or field_selector), limit=limit, token=token)
            except PagingError as err:
                raise ApiError(err.code, err.reason, err.message, list_continue=err.token) from None
            meta: dict[str, Any] = {"resourceVersion": str(rv)}
            if following:
                meta["continue"] = following
            if remaining is not None:
                meta["remainingItemCount"] = remaining
            return {"metadata": meta, "items": items}  # stored objects are replaced, never changed: no copy

    # ---------------------------------------------------------------------- writes

    def _next_rv(self) -> int:
        self.rv += 1
        return self.rv

    def _record(self, kind: str, res: Resource, obj: dict[str, Any], prev: dict[str, Any] | None = None) -> None:
        # the object itself, as `prev` is: stored objects are replaced, never changed (Objects)
        self.history.append(Event(int(obj["metadata"]["resourceVersion"]), kind, res, obj, prev=prev))
        if len(self.history) > self.history_size * 1.25:
            del self.history[: len(self.history) - self.history_size]
        self.lock.notify_all()

    @staticmethod
    def _unknown(unknown: list[str], warnings: list[str] | None, strict: bool) -> None:
        """fieldValidation: Strict refuses unknown fields with 400, Warn (the default) says so."""
        if not unknown:
            return
        texts = [f'unknown field "{path}"' for path in sorted(unknown)]
        if strict:  # handlers/create.go with fieldValidation=Strict: a strict decoding error
            raise bad_request("strict decoding error: " + ", ".join(texts))
        if warnings is not None:
            warnings.extend(texts)

    def _admit(self, res: Resource, namespace: str) -> None:
        # apiserver plugin/namespace/lifecycle Admit: no content in a namespace that does not exist
        if res.namespaced and ("", "namespaces", "", namespace) not in self.objects:
            raise ApiError(404, "NotFound", f'namespaces "{namespace}" not found',
                           {"name": namespace, "kind": "namespaces"})

    def create(self, res: Resource, namespace: str, body: Any, *, warnings: list[str] | None = None,
               strict: bool = False, shared: bool = False) -> dict[str, Any]:
        with self.lock:
            unknown: list[str] = []
            obj = strategy.decode(res, body, unknown=unknown)
            self._unknown(unknown, warnings, strict)
            meta = obj["metadata"]
            if res.namespaced:
                # rest.EnsureObjectNamespaceMatchesRequestNamespace
                if meta.get("namespace") not in (None, "", namespace):
                    raise bad_request("the namespace of the provided object does not match the namespace sent "
                                      "on the request")
                meta["namespace"] = namespace
            else:
                meta.pop("namespace", None)
                namespace = ""
            self._admit(res, namespace)
            if not meta.get("name") and meta.get("generateName"):
                # registry Store.Create: names.SimpleNameGenerator, base[:58] + 5 random characters,
                # tried again on a clash (RetryGenerateName, up to 8 attempts)
                for _ in range(8):
                    meta["name"] = meta["generateName"][:58] + "".join(
                        self.rng.choice(_SUFFIX_CHARS) for _ in range(5))
                    if (res.group, res.plural, namespace, meta["name"]) not in self.objects:
                        break
            if res.plural == "secrets":
                _fold_string_data(obj)
            strategy.prepare_create(res, obj)
            strategy.validate_create(res, obj)
            name = meta["name"]
            key = (res.group, res.plural, namespace, name)
            if res.plural == "pods" and res.group == "":  # the ServiceAccount admission plugin (admission.py)
                refused = admission.admit_pod(self.objects, namespace, obj,
                                              "".join(self.rng.choice(admission.SUFFIX) for _ in range(5)))
                if refused:
                    raise ApiError(403, "Forbidden", f'pods "{name}" is forbidden: {refused}')
            meta.update(uid=str(uuid.uuid4()), creationTimestamp=now())
            if res.plural == "namespaces":
                obj.setdefault("status", {})["phase"] = "Active"
            strategy.check_size(obj)
            if key in self.objects:
                raise already_exists(res.group, res.plural, name)
            meta["resourceVersion"] = str(self._next_rv())
            self.objects[key] = obj
            self._record("ADDED", res, obj)
            created = _answer(obj, shared)  # what follows replaces `obj`, never changes it
            self._collect_if_orphaned(res, key)
            if res.plural == "namespaces" and res.group == "":  # its `default` account (admission.py)
                self.create(self.resource("", "serviceaccounts"), name, {"metadata": {"name": "default"}})
            return created

    def _current(self, res: Resource, namespace: str, name: str) -> tuple[Key, dict[str, Any]]:
        key = (res.group, res.plural, namespace if res.namespaced else "", name)
        current = self.objects.get(key)
        if current is None:
            raise not_found(res.group, res.plural, name)
        return key, current

    def _store_update(self, res: Resource, key: Key, current: dict[str, Any], new: dict[str, Any], *,
                      subresource: str, shared: bool = False) -> dict[str, Any]:
        if subresource and (subresource != "status" or not res.status_subresource):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        new = strategy.prepare_update(res, new, current, subresource=subresource)
        if res.plural == "secrets":
            _fold_string_data(new)
        strategy.validate_update(res, new, current, subresource=subresource)
        meta = new["metadata"]
        if _same(new, current):
            return _answer(current, shared)  # a no-op write does not bump resourceVersion
        strategy.check_size(new)
        meta["resourceVersion"] = str(self._next_rv())
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            del self.objects[key]
            self._record("DELETED", res, new)
            self._collect_garbage(meta["uid"])
            return _answer(new, shared)
        self.objects[key] = new
        self._record("MODIFIED", res, new, current)
        updated = _answer(new, shared)
        if new["metadata"].get("ownerReferences") != current["metadata"].get("ownerReferences"):
            self._collect_if_orphaned(res, key)
        return updated

    def _preconditions(self, res: Resource, name: str, current: dict[str, Any], body_meta: dict[str, Any]) -> None:
        uid = body_meta.get("uid")
        if uid and uid != current["metadata"]["uid"]:
            # storage Preconditions.Check, answered as a conflict
            raise conflict(res.group, res.plural, name, f"Precondition failed: UID in precondition: {uid}, UID in "
                                                        f"object meta: {current['metadata']['uid']}")
        rv = body_meta.get("resourceVersion")
        if rv and rv != current["metadata"]["resourceVersion"]:
            raise conflict(res.group, res.plural, name)

    def replace(self, res: Resource, namespace: str, name: str, body: Any, subresource: str = "", *,
                warnings: list[str] | None = None, strict: bool = False, shared: bool = False) -> dict[str, Any]:
        with self.lock:
            unknown: list[str] = []
            new = strategy.decode(res, body, unknown=unknown)
            self._unknown(unknown, warnings, strict)
            strategy.check_name(new, name, namespace)
            key, current = self._current(res, namespace, name)
            if not new["metadata"].get("resourceVersion"):
                if res.custom:  # customresource strategy: AllowUnconditionalUpdate() is false
                    raise invalid_object(res.group, res.kind, name, [invalid(
                        "metadata.resourceVersion", 0, "must be specified for an update")])
                new["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]  # unconditional
            self._preconditions(res, name, current, new["metadata"])
            return self._store_update(res, key, current, new, subresource=subresource, shared=shared)

    def patch(self, res: Resource, namespace: str, name: str, patch: Any, content_type: str,
              subresource: str = "", *, warnings: list[str] | None = None, strict: bool = False,
              shared: bool = False) -> dict[str, Any]:
        with self.lock:
            key, current = self._current(res, namespace, name)
            if "json-patch" in content_type:
                patched = json_patch(clone(current), patch)
            else:
                if not isinstance(patch, dict):
                    raise bad_request("a merge patch must be an object")
                patched = merge_patch(clone(current), patch)
            unknown: list[str] = []
            new = strategy.decode(res, patched, unknown=unknown)
            self._unknown(unknown, warnings, strict)
            self._preconditions(res, name, current, new["metadata"])
            new["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            return self._store_update(res, key, current, new, subresource=subresource, shared=shared)

    def rewrite_stored(self, res: Resource, namespace: str, name: str, change: Callable[[dict[str, Any]], None]
                       ) -> dict[str, Any]:
        """Change a stored object unvalidated, as data written under an older CRD schema sits in
        etcd (the API server does not re-validate what it stores; it serves it as it is). For
        tests of what the controller does with such data; watchers see a MODIFIED event."""
        with self.lock:
            key, current = self._current(res, namespace, name)
            obj = clone(current)
            change(obj)
            obj["metadata"]["resourceVersion"] = str(self._next_rv())
            self.objects[key] = obj
            self._record("MODIFIED", res, obj, current)
            return clone(obj)

    def delete(self, res: Resource, namespace: str, name: str, propagation: str = "Background") -> dict[str, Any]:
        with self.lock:
            key, current = self._current(res, namespace, name)
            if current["metadata"].get("finalizers"):
                if not current["metadata"].get("deletionTimestamp"):
                    before, current = current, clone(current)
                    current["metadata"]["deletionTimestamp"] = now()
                    current["metadata"]["resourceVersion"] = str(self._next_rv())
                    self.objects[key] = current
                    self._record("MODIFIED", res, current, before)
                return clone(current)
            return self._delete_now(res, key, current, propagation)

    def _delete_now(self, res: Resource, key: Key, current: dict[str, Any], propagation: str) -> dict[str, Any]:
        del self.objects[key]
        gone = clone(current)
        gone["metadata"]["resourceVersion"] = str(self._next_rv())
        self._record("DELETED", res, gone)
        if res.plural == "namespaces":
            for k in [k for k in self.objects if k[2] == key[3] and k[1] != "namespaces"]:
                if k in self.objects:
                    self._delete_now(self.resources[(k[0], k[1])], k, self.objects[k], "Background")
        if propagation != "Orphan":
            self._collect_garbage(current["metadata"]["uid"])
        return gone

    # ---------------------------------------------------------------------- garbage collector

    def _owner_present(self, dependent: Key, ref: dict[str, Any]) -> bool:
        """garbagecollector.go isDangling, inverted: a namespaced owner is looked up in the
        dependent's namespace, by name, and must have the reference's uid."""
        owner = self._by_kind(str(ref.get("apiVersion", "")), str(ref.get("kind", "")))
        if owner is None:
            return True  # a kind the collector cannot resolve: it leaves the dependent alone
        if owner.namespaced and not dependent[2]:
            return True  # a cluster-scoped dependent of a namespaced kind: unresolvable, never collected
        found = self.objects.get((owner.group, owner.plural, dependent[2] if owner.namespaced else "",
                                  str(ref.get("name", ""))))
        return found is not None and found["metadata"].get("uid") == ref.get("uid")

    def _collect_if_orphaned(self, res: Resource, key: Key) -> None:
        """garbagecollector.go attemptToDeleteItem: a dependent whose every owner is absent is
        deleted (an owner in another namespace is absent: the graph builder reports the
        reference with an `OwnerRefInvalidNamespace` event); dangling references beside a
        present owner are removed."""
        obj = self.objects.get(key)
        refs = (obj or {}).get("metadata", {}).get("ownerReferences") or []
        if obj is None or not refs:
            return
        solid = [r for r in refs if self._owner_present(key, r)]
        for ref in refs:
            if ref not in solid:
                self._report_invalid_namespace(res, key, obj, ref)
        if not solid:
            self._delete_now(res, key, obj, "Background")
        elif len(solid) != len(refs):
            before, obj = obj, clone(obj)
            obj["metadata"]["ownerReferences"] = solid
            obj["metadata"]["resourceVersion"] = str(self._next_rv())
            self.objects[key] = obj
            self._record("MODIFIED", res, obj, before)

    def _report_invalid_namespace(self, res: Resource, key: Key, obj: dict[str, Any], ref: dict[str, Any]) -> None:
        """graph_builder.go reportInvalidNamespaceOwnerRef: the owner's uid is known in another
        namespace, so the reference can never resolve; a Warning Event on the dependent says so."""
        elsewhere = any(k[2] not in ("", key[2]) for k in self.objects.with_uid(str(ref.get("uid") or "")))
        if not elsewhere or not key[2]:
            return
        owner = (f"[{ref.get('apiVersion')}/{ref.get('kind')}, namespace: {key[2]}, name: {ref.get('name')}, "
                 f"uid: {ref.get('uid')}]")
        self.create(self.resource("", "events"), key[2], {
            "metadata": {"name": f"{key[3]}.{uuid.uuid4().hex[:16]}"}, "type": "Warning",
            "reason": "OwnerRefInvalidNamespace", "source": {"component": "garbage-collector-controller"},
            "message": f'ownerRef {owner} does not exist in namespace "{key[2]}"',
            "involvedObject": {"apiVersion": res.api_version, "kind": res.kind, "namespace": key[2],
                               "name": key[3], "uid": obj["metadata"].get("uid")}})

    def _collect_garbage(self, owner_uid: str) -> None:
        """Delete every object whose ownerReferences name `owner_uid` (and theirs, in turn), found
        by the owner's uid (Objects.dependents) as the graph builder finds a node's dependents."""
        for k in self.objects.owned_by(owner_uid):
            obj = self.objects.get(k)
            if obj is None:
                continue
            refs = obj["metadata"].get("ownerReferences") or []
            if any(r.get("uid") == owner_uid for r in refs):
                remaining = [r for r in refs if r.get("uid") != owner_uid]
                res = self.resources[(k[0], k[1])]
                if remaining:
                    obj = clone(obj)
                    obj["metadata"]["ownerReferences"] = remaining
                    obj["metadata"]["resourceVersion"] = str(self._next_rv())
                    self.objects[k] = obj
                    self._record("MODIFIED", res, obj)
                    self._collect_if_orphaned(res, k)
                else:
                    self._delete_now(res, k, obj, "Background")

    # ---------------------------------------------------------------------- watch

    def events_since(self, res: Resource, namespace: str, rv: int,
                     match: Any) -> list[Event]:
        """Events after `rv`; ApiError 410 when `rv` is older than the history kept."""
        if self.history and rv < self.history[0].rv - 1 and rv < self.rv:
            raise ApiError(410, "Expired", f"too old resource version: {rv} ({self.history[0].rv - 1})")
        start = bisect.bisect_right(self.history, rv, key=lambda e: e.rv)
        found = []
        for e in self.history[start:]:
            if e.resource != res or (namespace and e.obj["metadata"].get("namespace", "") != namespace):
                continue
            seen = _as_watched(e, match)
            if seen is not None:
                found.append(seen)
        return found


def _as_watched(event: Event, match: Callable[[dict[str, Any]], bool]) -> Event | None:
    """apiserver cacher/cache_watcher.go convertToWatchEvent: a change is seen through the
    watch's selector by the object before and after it. Both match: MODIFIED; only the new one:
    ADDED (labels changed into the selector); only the old one: DELETED, with the old object at
    the event's resourceVersion (labels changed out of it); neither: nothing."""
    if event.type == "DELETED":
        return event if match(event.obj) else None
    now = match(event.obj)
    before = event.prev is not None and match(event.prev)
    if now and (before or event.type == "ADDED"):
        return event
    if now:
        return dataclasses.replace(event, type="ADDED")
    if before and event.prev is not None:
        gone = clone(event.prev)
        gone["metadata"]["resourceVersion"] = str(event.rv)
        return dataclasses.replace(event, type="DELETED", obj=gone)
    return None


def _answer(obj: dict[str, Any], shared: bool) -> dict[str, Any]:
    """A stored object as a write or read answers it: a copy the caller may change, or (`shared`)
    the object itself, for a caller that encodes it under the lock."""
    return obj if shared else clone(obj)


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    strip = lambda o: {**o, "metadata": {k: v for k, v in o["metadata"].items() if k != "resourceVersion"}}  # noqa: E731
    return same(strip(a), strip(b))


def _fold_string_data(secret: dict[str, Any]) -> None:
    """As the API server does: `stringData` is write-only, merged into `data` base64-encoded."""
    import base64

    for key, value in (secret.pop("stringData", None) or {}).items():
        secret.setdefault("data", {})[key] = base64.b64encode(str(value).encode()).decode()


__all__ = ["BUILTIN", "ApiError", "Resource", "Store", "json_patch", "merge_patch", "now", "selector"]
