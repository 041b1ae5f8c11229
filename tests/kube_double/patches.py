"""JSON merge patch (RFC 7386) and JSON patch (RFC 6902), as PATCH requests apply them.

A JSON patch that cannot be applied answers 422 with the patch as the invalid field, as
apiserver `pkg/endpoints/handlers/patch.go` (jsonPatcher.applyJSPatch) does.
"""

from __future__ import annotations

import copy
from typing import Any

from tests.kube_double.errors import ApiError


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


class _PatchFailed(Exception):
    pass


def _pointer(path: str) -> list[str]:
    if path and not path.startswith("/"):
        raise _PatchFailed(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]] if path else []


def _container(doc: Any, parts: list[str]) -> Any:
    node = doc
    for part in parts:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise _PatchFailed(f"doc is missing path: /{'/'.join(parts)}")
    return node


def _get(doc: Any, path: str) -> Any:
    return copy.deepcopy(_container(doc, _pointer(path)))


def _add(doc: Any, path: str, value: Any, *, replace: bool = False) -> Any:
    parts = _pointer(path)
    if not parts:
        return copy.deepcopy(value)
    parent, last = _container(doc, parts[:-1]), parts[-1]
    if isinstance(parent, dict):
        if replace and last not in parent:
            raise _PatchFailed(f"replace operation does not apply: doc is missing key: {path}")
        parent[last] = copy.deepcopy(value)
    elif isinstance(parent, list):
        size = len(parent) if not replace else len(parent) - 1
        idx = len(parent) if last == "-" and not replace else int(last) if last.isdigit() else -1
        if not 0 <= idx <= size:
            raise _PatchFailed(f"index out of bounds: {path}")
        if replace:
            parent[idx] = copy.deepcopy(value)
        else:
            parent.insert(idx, copy.deepcopy(value))
    else:
        raise _PatchFailed(f"doc is missing path: {path}")
    return doc


def _remove(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    parent, last = _container(doc, parts[:-1]), parts[-1] if parts else ""
    if isinstance(parent, dict) and last in parent:
        del parent[last]
    elif isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        parent.pop(int(last))
    else:
        raise _PatchFailed(f"Unable to remove nonexistent key: {last}: missing value")
    return doc


def json_patch(doc: Any, ops: Any) -> Any:
    """RFC 6902 (add, remove, replace, move, copy, test), as evanphx/json-patch applies it: an
    operation on a missing path fails the whole patch with 422 (handlers/patch.go applyJSPatch)."""
    if not isinstance(ops, list) or not all(isinstance(op, dict) and "path" in op for op in ops):
        raise ApiError(400, "BadRequest", "json: cannot unmarshal the patch: expected a list of operations")
    try:
        for op in ops:
            kind, path = op.get("op"), op["path"]
            if kind == "add":
                doc = _add(doc, path, op.get("value"))
            elif kind == "replace":
                doc = _add(doc, path, op.get("value"), replace=True)
            elif kind == "remove":
                doc = _remove(doc, path)
            elif kind in ("move", "copy"):
                value = _get(doc, op.get("from", ""))
                if kind == "move":
                    doc = _remove(doc, op.get("from", ""))
                doc = _add(doc, path, value)
            elif kind == "test":
                if _get(doc, path) != op.get("value"):
                    raise _PatchFailed(f"testing value {path} failed")
            else:
                raise _PatchFailed(f"Unexpected kind: {kind}")
    except _PatchFailed:
        # errors.go NewGenericServerResponse(422, ...): the generic message, no causes
        raise ApiError(422, "Invalid", "the server rejected our request due to an error in our request") from None
    return doc
