"""Which nodes hold which pipeline's cache: an index over the CacheInventory objects the cache
agents publish, updated per inventory event (never a scan of every inventory per run)."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

STALE_SECONDS = 600  # an inventory not refreshed for this long (agent gone) is not trusted


def _epoch(stamp: str) -> float:
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


class CacheIndex:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_node: dict[str, tuple[float, dict[str, float]]] = {}  # node -> (updated, pipeline -> last use)
        self._holders: dict[str, dict[str, float]] = {}  # pipeline -> node -> last use

    def update(self, kind: str, obj: dict[str, Any]) -> None:
        node = obj["metadata"]["name"]
        status = obj.get("status") or {}
        with self._lock:
            _, old = self._by_node.pop(node, (0.0, {}))
            for pipeline in old:
                held = self._holders.get(pipeline, {})
                held.pop(node, None)
                if not held:
                    self._holders.pop(pipeline, None)
            if kind == "DELETED":
                return
            entries = {c["pipeline"]: _epoch(c.get("lastUsed", "")) for c in status.get("caches") or []
                       if c.get("pipeline")}
            self._by_node[node] = (_epoch(status.get("updated", "")), entries)
            for pipeline, used in entries.items():
                self._holders.setdefault(pipeline, {})[node] = used

    def lookup(self, namespace: str, pipeline: str, now: float) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(holders, most recently used first; nodes whose fresh inventory lacks the cache)."""
        key = f"{namespace}/{pipeline}"
        with self._lock:
            fresh = {n for n, (updated, _) in self._by_node.items() if now - updated <= STALE_SECONDS}
            held = self._holders.get(key, {})
            holders = tuple(n for n, _ in sorted(held.items(), key=lambda kv: (-kv[1], kv[0])) if n in fresh)
            evicted = tuple(sorted(fresh - set(held)))
        return holders, evicted
