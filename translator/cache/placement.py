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

Pull-request copies (stored format): a pull_request run never mounts the pipeline's cache
writable. Each of its caches is ``<hostPathRoot>/.pull-requests/<namespace>/<pipeline>/<scope>/<h>``
(`<scope>` is `pr-<number>`, from the run's ref), which an init container seeds once, while
empty, from the pipeline's cache mounted read-only; only that copy is mounted in the step. The
leading dot keeps the copies out of the pipeline layout (namespaces are DNS labels, never
dotted), so the cache agent accounts them apart and evicts them first (docs/security.md).
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from dataclasses import dataclass

HOSTNAME_LABEL = "kubernetes.io/hostname"
PULL_REQUEST_DIR = ".pull-requests"


@dataclass(frozen=True)
class CacheMount:
    container_path: str
    host_path: str
    volume_name: str
    seed_host_path: str = ""  # a pull request's copy: the pipeline's cache it starts from, read-only

    @property
    def seed_volume_name(self) -> str:
        return "seed-" + self.volume_name.removeprefix("cache-")


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


_PR_REF = re.compile(r"refs/(?:pull|merge-requests)/([0-9]{1,12})/")


def pull_request_scope(ref: str, commit: str) -> str:
    """The directory a pull request's cache copies share: `pr-42` from GitHub's `refs/pull/42/head` or
    GitLab's `refs/merge-requests/42/head`; else `pr-` and a hash of the ref (or the commit)."""
    found = _PR_REF.match(ref)
    if found:
        return f"pr-{int(found.group(1))}"
    return "pr-" + hashlib.sha256((ref or commit).encode("utf-8")).hexdigest()[:12]


def pull_request_mount(mount: CacheMount, root: str, namespace: str, pipeline: str, scope: str) -> CacheMount:
    """The pull request's own copy of `mount`, seeded from it."""
    key = cache_dir_key(mount.container_path)
    host = posixpath.join(posixpath.normpath(root), PULL_REQUEST_DIR, namespace, pipeline, scope, key)
    return CacheMount(container_path=mount.container_path, host_path=host, volume_name=mount.volume_name,
                      seed_host_path=mount.host_path)


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
