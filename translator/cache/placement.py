"""Pure cache placement: where a cache lives on a node, and which nodes a run prefers.

Host directory layout (stored format): ``<hostPathRoot>/<namespace>/<pipeline>/<h>`` where
``<h>`` is the first 16 hex digits of sha256 of the normalised container path. Namespace and
pipeline are DNS names the API server already validated; the container path is user text and
reaches the host only as a hash, so no `..` or absolute path in a config can point elsewhere.

Node preference: the pipeline's ``cacheNodes`` (newest first), at most ``maxNodes`` of them,
as *preferred* node affinity with strictly descending weights (100, 66, 33 for three) — a miss
is a cold build, never a pending pod.
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
