"""Chunked lists (`limit` / `continue`), as the API server's etcd3 store serves them.

Followed: kubernetes apiserver v0.36 pkg/storage/etcd3/store.go GetList and pkg/storage/continue.go.
- a list with `limit` returns at most that many items, in key order, with `metadata.continue`
  when more remain and `metadata.remainingItemCount` only when no selector filters (continue.go:
  PrepareContinueToken); `limit` counts matching items (GetList reads on until it has them);
- the token is base64url (no padding) of {"v": "meta.k8s.io/v1", "rv": <rv of the first chunk>,
  "start": <key after the last one>} (continue.go: EncodeContinue); a bad one is 400 (DecodeContinue);
- every later chunk is read at the first chunk's revision, so the whole list is one consistent
  snapshot, and carries that resourceVersion;
- once that revision is compacted (here: older than the event history the watches use), 410
  Expired with the message of etcd3/errors.go handleCompactedErrorForPaging and a new token with
  rv -1, which continues from the same key at the latest state (an inconsistent list).

The double keeps the snapshot as references to the stored objects (the store replaces an
object on every write and never changes one in place), for at most `SNAPSHOTS` lists at once:
beyond that the oldest is dropped and its tokens answer 410 — stricter than etcd, never kinder.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

SNAPSHOTS = 16
TOKEN_VERSION = "meta.k8s.io/v1"
CONTINUE_EXPIRED = ("The provided continue parameter is too old to display a consistent list result. You can "
                    "start a new list without the continue parameter, or use the continue token in this response "
                    "to retrieve the remainder of the results. Continuing with the provided token results in an "
                    "inconsistent list - objects that were created, modified, or deleted between the time the "
                    "first chunk was returned and now may show up in the list.")

Key = tuple[str, str]  # (namespace, name): the order of etcd's keys within one resource


class PagingError(Exception):
    def __init__(self, code: int, reason: str, message: str, token: str = "") -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.token = code, reason, message, token


def encode(rv: int, start: Key) -> str:
    raw = json.dumps({"v": TOKEN_VERSION, "rv": rv, "start": f"{start[0]}/{start[1]}\x00"}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(token: str) -> tuple[int, Key]:
    """(rv, the key to start after) of a token; 400 when it is not one (continue.go: DecodeContinue)."""
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        rv, start = int(data["rv"]), str(data["start"])
        if data.get("v") != TOKEN_VERSION or rv == 0 or not start.endswith("\x00") or "/" not in start:
            raise ValueError(token)
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise PagingError(400, "BadRequest", "continue key is not valid") from None
    namespace, name = start[:-1].split("/", 1)
    return rv, (namespace, name)


Snapshot = tuple[list[Key], list[dict[str, Any]]]  # keys in order, and the objects


@dataclass
class Pager:
    """The snapshots of the lists being paged, by (group, plural, rv)."""

    snapshots: OrderedDict[tuple[str, str, int], Snapshot] = field(default_factory=OrderedDict)

    def chunk(self, resource: tuple[str, str], current: Callable[[], Snapshot], rv: int, *, oldest: int,
              namespace: str, match: Callable[[dict[str, Any]], bool], filtered: bool, limit: int,
              token: str) -> tuple[list[dict[str, Any]], int, str, int | None]:
        """(items, resourceVersion, next token or "", remainingItemCount or None).

        `current()`: every object of the resource now, sorted by key; `oldest`: the oldest
        revision still readable (older ones are compacted)."""
        start: Key | None = None
        at = rv
        if token:
            at, start = decode(token)
            if at == -1:
                at = rv  # continue at the latest state, as the server offered
            elif at < oldest or (resource[0], resource[1], at) not in self.snapshots:
                raise PagingError(410, "Expired", CONTINUE_EXPIRED, encode(-1, start))
        name = (resource[0], resource[1], at)
        snapshot = self.snapshots.get(name) if at != rv or token else None
        if snapshot is None:
            snapshot = current()
            if limit:
                self.snapshots[name] = snapshot
                while len(self.snapshots) > SNAPSHOTS:
                    self.snapshots.popitem(last=False)
        keys, objs = snapshot
        lo = bisect.bisect_right(keys, start) if start is not None else (
            bisect.bisect_left(keys, (namespace, "")) if namespace else 0)
        hi = bisect.bisect_left(keys, (namespace + "\x00", "")) if namespace else len(keys)
        items: list[dict[str, Any]] = []
        last: Key | None = None
        for i in range(lo, hi):
            if not match(objs[i]):
                continue
            if limit and len(items) == limit:
                return items, at, encode(at, last or keys[i]), None if filtered else hi - i
            items.append(objs[i])
            last = keys[i]
        return items, at, "", None
