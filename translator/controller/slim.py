"""What the informer caches hold: only what the reconcilers read.

Every object loses `metadata.managedFields` and the `kubectl.kubernetes.io/last-applied-configuration`
annotation (server-side and client-side apply bookkeeping, often larger than the object).

A PipelineExecution whose state is final is kept compact: a few hundred bytes of JSON (`Frozen`,
expanded on read) instead of the ~12 KB a decoded execution with its config snapshot and stage
statuses takes in memory. The compact form keeps what is read of a finished run — its identity
and order (name, uid, resourceVersion, creationTimestamp, labels, small annotations), `spec`'s
pipelineName, run, commit and the notification config (finish.pending), and `status`'s state,
times, duration, engineRef (history pruning removes the engine's run) and conditions without their
messages but the Reported one whole (commit_status.Reporter decides from the cache whether the
final commit status is still due, and reads the whole execution before it sends) — and says so
in `metadata.compact` (never written back: `is_compact`). A Workflow whose execution is final
is kept as its metadata only (`metadata_only`): nothing reads it again.

Pure: no client, no clock.
"""

from __future__ import annotations

from typing import Any

from translator.api import jsoncodec
from translator.api.states import ConditionType
from translator.controller.lifecycle import FINAL_STATES

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
ANNOTATION_LIMIT = 256  # larger annotation values are not kept in a compact object
REPORTED = ConditionType.REPORTED.value
COMPACT = "compact"  # the key in metadata that marks a compact object (in memory only)
META_KEPT = ("name", "namespace", "uid", "resourceVersion", "creationTimestamp", "deletionTimestamp", "labels",
             "ownerReferences", "finalizers")


class Frozen:
    """An object held as compact JSON bytes; `thaw` gives a fresh dict each time. Its uid and
    resourceVersion are kept beside the bytes: what the informer compares versions by, read
    without expanding the object."""

    __slots__ = ("data", "meta")

    def __init__(self, obj: dict[str, Any]) -> None:
        self.data = jsoncodec.dumps_to_keep(obj)
        meta = obj.get("metadata") or {}
        self.meta = {k: meta[k] for k in ("uid", "resourceVersion") if k in meta}

    def thaw(self) -> dict[str, Any]:
        thawed: dict[str, Any] = jsoncodec.loads(self.data)
        return thawed


Cached = dict[str, Any] | Frozen


def thaw(cached: Cached) -> dict[str, Any]:
    return cached.thaw() if isinstance(cached, Frozen) else cached


def meta_of(cached: Cached) -> dict[str, Any]:
    """The cached object's uid and resourceVersion (all of its metadata when it is not frozen)."""
    if isinstance(cached, Frozen):
        return cached.meta
    meta: dict[str, Any] = cached.get("metadata") or {}
    return meta


def is_compact(obj: dict[str, Any]) -> bool:
    return bool((obj.get("metadata") or {}).get(COMPACT))


def strip(obj: dict[str, Any]) -> dict[str, Any]:
    """The object without apply bookkeeping (a shallow copy where anything is dropped)."""
    meta = obj.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    if "managedFields" not in meta and LAST_APPLIED not in annotations:
        return obj
    kept = {k: v for k, v in meta.items() if k != "managedFields"}
    if LAST_APPLIED in annotations:
        kept["annotations"] = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
    return {**obj, "metadata": kept}


def final(obj: dict[str, Any]) -> bool:
    status = obj.get("status")
    return isinstance(status, dict) and status.get("executionState") in FINAL_STATES


def _metadata(meta: dict[str, Any]) -> dict[str, Any]:
    kept = {k: meta[k] for k in META_KEPT if k in meta}
    small = {k: v for k, v in (meta.get("annotations") or {}).items()
             if isinstance(v, str) and len(v) <= ANNOTATION_LIMIT and k != LAST_APPLIED}
    if small:
        kept["annotations"] = small
    kept[COMPACT] = True
    return kept


def compact_execution(obj: dict[str, Any]) -> dict[str, Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    kept_spec = {k: spec[k] for k in ("pipelineName", "run", "commit") if k in spec}
    config = spec.get("pipelineConfig")
    if isinstance(config, dict) and config.get("notification") is not None:
        kept_spec["pipelineConfig"] = {"notification": config["notification"]}
    kept_status = {k: status[k] for k in ("executionState", "started", "ended", "duration", "engineRef")
                   if k in status}
    kept_status["conditions"] = [c if c.get("type") == REPORTED else {k: c[k] for k in ("type", "status", "reason")
                                                                       if k in c}
                                 for c in status.get("conditions") or [] if isinstance(c, dict)]
    out = {"metadata": _metadata(obj.get("metadata") or {}), "spec": kept_spec, "status": kept_status}
    for key in ("apiVersion", "kind"):
        if key in obj:
            out[key] = obj[key]
    return out


def execution(obj: dict[str, Any]) -> Cached:
    """A final execution compact and frozen; a live one as it is, stripped."""
    if final(obj) and isinstance(obj.get("metadata"), dict) and isinstance(obj.get("spec") or {}, dict):
        return Frozen(compact_execution(obj))
    return strip(obj)


def metadata_only(obj: dict[str, Any]) -> Frozen:
    out = {"metadata": _metadata(obj.get("metadata") or {})}
    for key in ("apiVersion", "kind"):
        if key in obj:
            out[key] = obj[key]
    return Frozen(out)
