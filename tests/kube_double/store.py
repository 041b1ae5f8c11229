"""The object store behind the Kubernetes API server double.

It keeps what a real API server keeps for the parts the controller depends on: one global
resourceVersion counter, optimistic concurrency (409 on a stale resourceVersion), generateName,
status subresources, label and field selectors, ownerReference garbage collection, namespace
deletion, finalizers, and an event history so a watch can resume from a resourceVersion (410
Gone once it is older than the history kept).
"""

from __future__ import annotations

import bisect
import copy
import json
import random
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    status_subresource: bool = False

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
    Resource("argoproj.io", "v1alpha1", "workflows", "Workflow"),
]


class ApiError(Exception):
    """An API answer other than success: becomes a `Status` object with this code."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message

    def status(self) -> dict[str, Any]:
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message, "reason": self.reason, "code": self.code}


_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_SUFFIX_CHARS = "bcdfghjklmnpqrstvwxz2456789"


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Event:
    rv: int
    type: str
    resource: Resource
    obj: dict[str, Any]
    at: float = field(default_factory=time.monotonic)


@dataclass
class Store:
    history_size: int = 5000
    resources: dict[tuple[str, str], Resource] = field(default_factory=dict)  # (group, plural)
    objects: dict[tuple[str, str, str, str], dict[str, Any]] = field(default_factory=dict)
    logs: dict[tuple[str, str], str] = field(default_factory=dict)  # (namespace, pod) -> log text
    rv: int = 1000
    history: list[Event] = field(default_factory=list)  # ascending resourceVersion
    lock: threading.Condition = field(default_factory=threading.Condition)
    rng: random.Random = field(default_factory=lambda: random.Random(7))

    def __post_init__(self) -> None:
        for r in BUILTIN:
            self.register(r)

    def register(self, resource: Resource) -> None:
        self.resources[(resource.group, resource.plural)] = resource

    def register_crd(self, crd: dict[str, Any]) -> None:
        spec = crd["spec"]
        version = next(v for v in spec["versions"] if v.get("storage", True))
        self.register(Resource(
            spec["group"], version["name"], spec["names"]["plural"], spec["names"]["kind"],
            namespaced=spec.get("scope", "Namespaced") == "Namespaced",
            status_subresource="status" in (version.get("subresources") or {}),
        ))

    def resource(self, group: str, plural: str) -> Resource:
        try:
            return self.resources[(group, plural)]
        except KeyError:
            raise ApiError(404, "NotFound", f"the server could not find the requested resource ({plural})") from None

    # ---------------------------------------------------------------------- reads

    def get(self, res: Resource, namespace: str, name: str) -> dict[str, Any]:
        with self.lock:
            obj = self.objects.get((res.group, res.plural, namespace, name))
            if obj is None:
                raise ApiError(404, "NotFound", f'{res.plural}.{res.group or "core"} "{name}" not found')
            return copy.deepcopy(obj)

    def list(self, res: Resource, namespace: str, label_selector: str = "",
             field_selector: str = "") -> tuple[list[dict[str, Any]], int]:
        match = selector(label_selector, field_selector)
        with self.lock:
            items = [copy.deepcopy(o) for (g, p, ns, _), o in sorted(self.objects.items())
                     if g == res.group and p == res.plural and (not namespace or ns == namespace) and match(o)]
            return items, self.rv

    # ---------------------------------------------------------------------- writes

    def _next_rv(self) -> int:
        self.rv += 1
        return self.rv

    def _record(self, kind: str, res: Resource, obj: dict[str, Any]) -> None:
        self.history.append(Event(int(obj["metadata"]["resourceVersion"]), kind, res, copy.deepcopy(obj)))
        if len(self.history) > self.history_size * 1.25:
            del self.history[: len(self.history) - self.history_size]
        self.lock.notify_all()

    def create(self, res: Resource, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            obj = copy.deepcopy(body)
            meta = obj.setdefault("metadata", {})
            if res.namespaced:
                if body.get("metadata", {}).get("namespace") not in (None, "", namespace):
                    raise ApiError(400, "BadRequest", "the namespace of the object does not match the request")
                if ("", "namespaces", "", namespace) not in self.objects:
                    raise ApiError(404, "NotFound", f'namespaces "{namespace}" not found')
                meta["namespace"] = namespace
            else:
                meta.pop("namespace", None)
            if not meta.get("name"):
                prefix = meta.get("generateName")
                if not prefix:
                    raise ApiError(422, "Invalid", "metadata.name: Required value: name or generateName is required")
                for _ in range(20):
                    candidate = prefix[:58] + "".join(self.rng.choice(_SUFFIX_CHARS) for _ in range(5))
                    if (res.group, res.plural, namespace if res.namespaced else "", candidate) not in self.objects:
                        meta["name"] = candidate
                        break
            name = meta["name"]
            if len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
                raise ApiError(422, "Invalid", f'{res.kind} "{name}" is invalid: metadata.name: Invalid value')
            key = (res.group, res.plural, namespace if res.namespaced else "", name)
            if key in self.objects:
                raise ApiError(409, "AlreadyExists", f'{res.plural}.{res.group or "core"} "{name}" already exists')
            if res.status_subresource and res.plural not in ("namespaces", "pods", "nodes"):
                obj.pop("status", None)
            obj["apiVersion"], obj["kind"] = res.api_version, res.kind
            if res.plural == "secrets":
                _fold_string_data(obj)
            meta.update(uid=str(uuid.uuid4()), creationTimestamp=now(), generation=1,
                        resourceVersion=str(self._next_rv()))
            if res.plural == "namespaces":
                obj.setdefault("status", {})["phase"] = "Active"
            self.objects[key] = obj
            self._record("ADDED", res, obj)
            return copy.deepcopy(obj)

    def _current(self, res: Resource, namespace: str, name: str) -> tuple[tuple[str, str, str, str], dict[str, Any]]:
        key = (res.group, res.plural, namespace if res.namespaced else "", name)
        current = self.objects.get(key)
        if current is None:
            raise ApiError(404, "NotFound", f'{res.plural}.{res.group or "core"} "{name}" not found')
        return key, current

    def _store_update(self, res: Resource, key: tuple[str, str, str, str], current: dict[str, Any],
                      new: dict[str, Any], *, subresource: str) -> dict[str, Any]:
        meta = new.setdefault("metadata", {})
        for immutable in ("uid", "creationTimestamp", "namespace", "name", "deletionTimestamp"):
            if immutable in current["metadata"]:
                meta[immutable] = current["metadata"][immutable]
        new["apiVersion"], new["kind"] = res.api_version, res.kind
        if res.plural == "secrets":
            _fold_string_data(new)
        if res.status_subresource:
            if subresource == "status":
                new = {**copy.deepcopy(current), "status": new.get("status", {})}
                meta = new["metadata"]
            elif "status" in current:
                new["status"] = copy.deepcopy(current["status"])
            else:
                new.pop("status", None)
        gen = current["metadata"].get("generation", 1)
        if new.get("spec") != current.get("spec"):
            gen += 1
        meta["generation"] = gen
        if _same(new, current):
            return copy.deepcopy(current)  # a no-op write does not bump resourceVersion
        meta["resourceVersion"] = str(self._next_rv())
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            del self.objects[key]
            self._record("DELETED", res, new)
            self._collect_garbage(meta["uid"])
            return copy.deepcopy(new)
        self.objects[key] = new
        self._record("MODIFIED", res, new)
        return copy.deepcopy(new)

    def replace(self, res: Resource, namespace: str, name: str, body: dict[str, Any],
                subresource: str = "") -> dict[str, Any]:
        with self.lock:
            key, current = self._current(res, namespace, name)
            rv = body.get("metadata", {}).get("resourceVersion")
            if not rv:
                raise ApiError(422, "Invalid",
                               "metadata.resourceVersion: Invalid value: must be specified for an update")
            if rv != current["metadata"]["resourceVersion"]:
                raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on {res.plural} "{name}": '
                               "the object has been modified; please apply your changes to the latest version "
                               "and try again")
            return self._store_update(res, key, current, copy.deepcopy(body), subresource=subresource)

    def patch(self, res: Resource, namespace: str, name: str, patch: Any, content_type: str,
              subresource: str = "") -> dict[str, Any]:
        with self.lock:
            key, current = self._current(res, namespace, name)
            if "json-patch" in content_type:
                new = json_patch(copy.deepcopy(current), patch)
            else:
                if not isinstance(patch, dict):
                    raise ApiError(400, "BadRequest", "a merge patch must be an object")
                meta = patch.get("metadata")
                rv = meta.get("resourceVersion") if isinstance(meta, dict) else None
                if rv and rv != current["metadata"]["resourceVersion"]:
                    raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on {res.plural} "{name}": '
                                   "the object has been modified")
                new = merge_patch(copy.deepcopy(current), patch)
            return self._store_update(res, key, current, new, subresource=subresource)

    def delete(self, res: Resource, namespace: str, name: str, propagation: str = "Background") -> dict[str, Any]:
        with self.lock:
            key, current = self._current(res, namespace, name)
            if current["metadata"].get("finalizers"):
                if not current["metadata"].get("deletionTimestamp"):
                    current = copy.deepcopy(current)
                    current["metadata"]["deletionTimestamp"] = now()
                    current["metadata"]["resourceVersion"] = str(self._next_rv())
                    self.objects[key] = current
                    self._record("MODIFIED", res, current)
                return copy.deepcopy(current)
            return self._delete_now(res, key, current, propagation)

    def _delete_now(self, res: Resource, key: tuple[str, str, str, str], current: dict[str, Any],
                    propagation: str) -> dict[str, Any]:
        del self.objects[key]
        gone = copy.deepcopy(current)
        gone["metadata"]["resourceVersion"] = str(self._next_rv())
        self._record("DELETED", res, gone)
        if res.plural == "namespaces":
            for k in [k for k in self.objects if k[2] == key[3] and k[1] != "namespaces"]:
                self._delete_now(self.resources[(k[0], k[1])], k, self.objects[k], "Background")
        if propagation != "Orphan":
            self._collect_garbage(current["metadata"]["uid"])
        return gone

    def _collect_garbage(self, owner_uid: str) -> None:
        """Delete every object whose ownerReferences name `owner_uid` (and theirs, in turn)."""
        for k, obj in list(self.objects.items()):
            if k not in self.objects:
                continue
            refs = obj["metadata"].get("ownerReferences") or []
            if any(r.get("uid") == owner_uid for r in refs):
                remaining = [r for r in refs if r.get("uid") != owner_uid]
                res = self.resources[(k[0], k[1])]
                if remaining:
                    obj = copy.deepcopy(obj)
                    obj["metadata"]["ownerReferences"] = remaining
                    obj["metadata"]["resourceVersion"] = str(self._next_rv())
                    self.objects[k] = obj
                    self._record("MODIFIED", res, obj)
                else:
                    self._delete_now(res, k, obj, "Background")

    # ---------------------------------------------------------------------- watch

    def events_since(self, res: Resource, namespace: str, rv: int,
                     match: Any) -> list[Event]:
        """Events after `rv`; ApiError 410 when `rv` is older than the history kept."""
        if self.history and rv < self.history[0].rv - 1 and rv < self.rv:
            raise ApiError(410, "Expired", f"too old resource version: {rv} ({self.history[0].rv - 1})")
        start = bisect.bisect_right(self.history, rv, key=lambda e: e.rv)
        return [e for e in self.history[start:] if e.resource == res
                and (not namespace or e.obj["metadata"].get("namespace", "") == namespace) and match(e.obj)]


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    strip = lambda o: {**o, "metadata": {k: v for k, v in o["metadata"].items() if k != "resourceVersion"}}  # noqa: E731
    return json.dumps(strip(a), sort_keys=True) == json.dumps(strip(b), sort_keys=True)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    for k, v in patch.items():
        if v is None:
            target.pop(k, None)
        else:
            target[k] = merge_patch(target.get(k), v)
    return target


def json_patch(doc: Any, ops: list[dict[str, Any]]) -> Any:
    """RFC 6902 for add, replace, remove and test."""
    for op in ops:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].lstrip("/").split("/")]
        parent = doc
        for p in parts[:-1]:
            parent = parent[int(p)] if isinstance(parent, list) else parent.setdefault(p, {})
        last = parts[-1]
        kind = op["op"]
        if kind == "test":
            value = parent[int(last)] if isinstance(parent, list) else parent.get(last)
            if value != op["value"]:
                raise ApiError(422, "Invalid", f"test failed at {op['path']}")
        elif kind in ("add", "replace"):
            if isinstance(parent, list):
                idx = len(parent) if last == "-" else int(last)
                if kind == "add":
                    parent.insert(idx, op["value"])
                else:
                    parent[idx] = op["value"]
            else:
                parent[last] = op["value"]
        elif kind == "remove":
            if isinstance(parent, list):
                parent.pop(int(last))
            else:
                parent.pop(last, None)
        else:
            raise ApiError(422, "Invalid", f"unsupported patch op {kind}")
    return doc


# ------------------------------------------------------------------------- selectors

_SET_TERM = re.compile(r"^\s*(!?)([A-Za-z0-9./_-]+)\s*(?:(in|notin)\s*\(([^)]*)\)|(==|=|!=)\s*([A-Za-z0-9._-]*))?\s*$")


def _split_terms(text: str) -> list[str]:
    terms, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        terms.append(cur)
    return terms


def label_matcher(text: str) -> Any:
    """A label selector (`a=b,c!=d,e in (f,g),!h,i`) as a predicate on a labels dict."""
    checks = []
    for term in _split_terms(text or ""):
        m = _SET_TERM.match(term)
        if not m:
            raise ApiError(400, "BadRequest", f"unable to parse requirement: {term!r}")
        neg, key, setop, values, op, value = m.groups()
        if setop:
            vals = {v.strip() for v in values.split(",") if v.strip()}
            checks.append((lambda k, vs, o: lambda lab: (lab.get(k) in vs) == (o == "in")
                           if k in lab or o == "in" else True)(key, vals, setop))
        elif op:
            checks.append((lambda k, want, o: lambda lab: (lab.get(k) == want) == (o != "!="))(key, value, op))
        else:
            checks.append((lambda k, n: lambda lab: (k in lab) != bool(n))(key, neg))
    return lambda labels: all(c(labels) for c in checks)


def field_matcher(text: str) -> Any:
    checks = []
    for term in _split_terms(text or ""):
        m = re.match(r"^\s*([A-Za-z0-9.]+)\s*(==|=|!=)\s*(.*?)\s*$", term)
        if not m:
            raise ApiError(400, "BadRequest", f"invalid field selector {term!r}")
        path, op, value = m.groups()

        def get(obj: dict[str, Any], path: str = path) -> Any:
            cur: Any = obj
            for part in path.split("."):
                cur = cur.get(part) if isinstance(cur, dict) else None
            return "" if cur is None else str(cur)

        checks.append((lambda g, v, o: lambda obj: (g(obj) == v) == (o != "!="))(get, value, op))
    return lambda obj: all(c(obj) for c in checks)


def selector(label_selector: str, field_selector: str) -> Any:
    labels, fields = label_matcher(label_selector), field_matcher(field_selector)
    return lambda obj: labels(obj["metadata"].get("labels") or {}) and fields(obj)


__all__ = ["BUILTIN", "ApiError", "Resource", "Store", "json_patch", "merge_patch", "now", "selector"]


def _fold_string_data(secret: dict[str, Any]) -> None:
    """As the API server does: `stringData` is write-only, merged into `data` base64-encoded."""
    import base64

    for key, value in (secret.pop("stringData", None) or {}).items():
        secret.setdefault("data", {})[key] = base64.b64encode(str(value).encode()).decode()
