"""`limit` and `continue` on list requests of the API server double.

As kube-apiserver pages a list (k8s.io/apiserver pkg/storage/etcd3/store.go GetList, tokens from
pkg/storage/continue.go): items in key order, at most `limit` of them; when more remain,
`metadata.continue` is base64url(JSON {"v": "meta.k8s.io/v1", "rv": <the first page's
resourceVersion>, "start": <the last key + "\\x00">}) and `remainingItemCount` says how many; every
page reports the first page's resourceVersion, which a watch then starts from. A token older than
the history kept is 410 Expired; a malformed one 400. (The real server serves every page from the
snapshot at that resourceVersion; here later pages read the current objects — the watch that
follows replays what changed in between, as it does after a real list.)
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
from typing import Any

from tests.kube_double.errors import ApiError
from tests.kube_double.selectors import selector
from tests.kube_double.store import Resource, Store


def _key(obj: dict[str, Any]) -> str:
    meta = obj["metadata"]
    return f"{meta.get('namespace', '')}/{meta['name']}"


def page(store: Store, res: Resource, namespace: str, label_selector: str, field_selector: str, limit: str,
         token: str) -> dict[str, Any]:
    rv, start = 0, ""
    if token:
        try:
            decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            rv, start = int(decoded["rv"]), str(decoded["start"])
            if decoded.get("v") != "meta.k8s.io/v1" or not start:
                raise ValueError
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise ApiError(400, "BadRequest", "continue key is not valid") from None
    size = int(limit) if limit.isdigit() and int(limit) > 0 else 0
    match = selector(label_selector, field_selector)
    with store.lock:
        if token and store.history and rv < store.history[0].rv - 1:
            raise ApiError(410, "Expired", "The provided continue parameter is too old to display a "
                           "consistent list result. You can start a new list without the continue parameter.")
        rv = rv or store.rv
        # key order, from the start key on; only the page's objects are copied out
        keys = sorted(k for k in store.objects if k[0] == res.group and k[1] == res.plural
                      and (not namespace or k[2] == namespace) and f"{k[2]}/{k[3]}" >= start)
        chunk: list[dict[str, Any]] = []
        rest = 0
        for i, key in enumerate(keys):
            obj = store.objects[key]
            if not match(obj):
                continue
            if size and len(chunk) == size:
                rest = sum(1 for k in keys[i:] if match(store.objects[k]))
                break
            chunk.append(copy.deepcopy(obj))
    meta: dict[str, Any] = {"resourceVersion": str(rv)}
    if rest:
        next_start = _key(chunk[-1]) + "\x00"
        meta["continue"] = base64.urlsafe_b64encode(json.dumps(
            {"v": "meta.k8s.io/v1", "rv": rv, "start": next_start}).encode()).decode().rstrip("=")
        meta["remainingItemCount"] = rest
    return {"apiVersion": res.api_version, "kind": f"{res.kind}List", "metadata": meta, "items": chunk}
