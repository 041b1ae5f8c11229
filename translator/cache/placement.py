"""Pure cache placement: where a cache lives on a node, and which nodes a run prefers.

Host directory layout (stored format): ``<hostPathRoot>/<namespace>/<pipeline>/<h>`` where
``<h>`` is the first 16 hex digits of sha256 of the normalised container path. Namespace and
pipeline are DNS names the API server already validated; the container path is user text and
reaches the host only as a hash, so no `..` or absolute path in a config can point elsewhere.

Node preference (`placement`): first every node whose cache inventory holds the pipeline's
cache (most recently used first), then the pipeline's ``cacheNodes`` recency list (newest
first, at most ``maxNodes``, dropping nodes whose inventory shows they evicted the cache), as
*preferred* node affinity with strictly descending weights (100, 66, 33 for three). With the
bounded wait, the holders are also *required* for a while (`required_affinity`); after the
wait the run is resubmitted with the preferences only, so a miss is a cold build, never a
pod pending forever.
"""

from __future__ import annotations

import hashlib
import posixpath
from dataclasses import dataclass

HOSTNAME_LABEL = "kubernetes.io/hostname"


@dataclass(frozen=True)
class CacheMount:
    container_path: str
    host_path: str
    volume_name: str


@dataclass(frozen=True)
class NodePreference:
    node: str
    weight: int


def cache_dir_key(container_path: str) -> str:
    return hashlib.sha256(container_path.encode("utf-8")).hexdigest()[:16]


def cache_mount(root: str, namespace: str, pipeline: str, container_path: str) -> CacheMount:
    key = cache_dir_key(container_path)
    host = posixpath.join(posixpath.normpath(root), namespace, pipeline, key)
    return CacheMount(container_path=container_path, host_path=host, volume_name=f"cache-{key}")


def node_preferences(nodes: tuple[str, ...] | list[str], max_nodes: int) -> tuple[NodePreference, ...]:
    """Newest first, distinct, at most `max_nodes`, weights strictly descending within 1..100."""
    chosen = [n for n in dict.fromkeys(nodes) if n][: max(1, min(max_nodes, 100))]
    count = len(chosen)
    # 100 * (count - i) // count falls by at least one per place while count <= 100
    return tuple(NodePreference(node, (100 * (count - i)) // count) for i, node in enumerate(chosen))


def placement(holders: tuple[str, ...] | list[str], recency: tuple[str, ...] | list[str],
              evicted: frozenset[str] | set[str], max_nodes: int) -> tuple[NodePreference, ...]:
    """Holders first (all of them, up to 100), then up to `max_nodes` recent nodes that did not
    evict the cache; weights strictly descending, never equal."""
    held = [n for n in dict.fromkeys(holders) if n][:100]
    recent = [n for n in dict.fromkeys(recency) if n and n not in evicted and n not in held][: max(1, max_nodes)]
    chosen = (held + recent)[:100]
    count = len(chosen)
    return tuple(NodePreference(node, (100 * (count - i)) // count) for i, node in enumerate(chosen))


def required_affinity(nodes: tuple[str, ...]) -> dict[str, object]:
    """`requiredDuringSchedulingIgnoredDuringExecution`: only these nodes (the bounded wait)."""
    return {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": HOSTNAME_LABEL, "operator": "In", "values": list(nodes)}]}]}


def preferred_affinity(prefs: tuple[NodePreference, ...]) -> list[dict[str, object]]:
    """`preferredDuringSchedulingIgnoredDuringExecution` terms for the preferences."""
    return [
        {
            "weight": p.weight,
            "preference": {
                "matchExpressions": [{"key": HOSTNAME_LABEL, "operator": "In", "values": [p.node]}]
            },
        }
        for p in prefs
    ]
