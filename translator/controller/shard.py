"""Sharding by namespace: `--shard i/n` makes a controller own the namespaces whose stable hash
falls in shard i of n, and campaign for that shard's own Lease, so each shard fails over on its
own and n replicas split the work with one owner per namespace at a time.

The hash is FNV-1a (64 bit) of the namespace's UTF-8 name, modulo n: the same on every replica,
every Python and every restart (Python's `hash()` of a string is salted per process, so two
replicas would disagree). A namespace never moves between shards while n stays the same; with n
changed, every replica must be restarted with the new n (the Lease names carry n, so replicas of
the old and the new layout never share a Lease — run one layout at a time).

Pure: no client, no clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from translator.engines.shard_bucket import BUCKET_LABEL, buckets_of_shard, fnv1a

SHARD_FORMAT = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
SETTING_NS_LABEL = "devops.cubepaas.io/setting-namespace"  # settings.SETTING_NS_LABEL: made for that setting


def shard_of(namespace: str, count: int) -> int:
    return fnv1a(namespace) % count if count > 1 else 0


@dataclass(frozen=True)
class Shard:
    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, text: str) -> Shard:
        """`i/n` with 0 <= i < n; ValueError with the reason otherwise."""
        found = SHARD_FORMAT.match(text or "")
        if not found:
            raise ValueError(f"--shard {text!r}: expected i/n, e.g. 0/2")
        index, count = int(found.group(1)), int(found.group(2))
        if count < 1 or not 0 <= index < count:
            raise ValueError(f"--shard {text!r}: i must be 0..n-1 and n at least 1")
        return cls(index, count)

    @property
    def whole(self) -> bool:
        return self.count == 1

    def owns(self, namespace: str) -> bool:
        return self.whole or shard_of(namespace, self.count) == self.index

    def owns_object(self, obj: dict[str, Any]) -> bool:
        """A namespaced object by its namespace; one made for a setting by the setting's namespace
        (a project namespace's RoleBinding belongs to the shard of the setting that made it)."""
        meta = obj.get("metadata") or {}
        namespace = (meta.get("labels") or {}).get(SETTING_NS_LABEL) or meta.get("namespace") or ""
        return self.owns(namespace)

    def selectors(self, base: str) -> list[str]:
        """The label selectors that bring this shard's bucket-labelled objects (shard_bucket.py)
        and the unlabelled ones made before the label: each a watch of its own. `[base]` for the
        whole, or when n does not divide the bucket count (the shard then drops the others itself)."""
        buckets = None if self.whole else buckets_of_shard(self.index, self.count)
        if buckets is None:
            return [base]
        prefix = f"{base}," if base else ""
        return [f"{prefix}{BUCKET_LABEL} in ({','.join(map(str, buckets))})", f"{prefix}!{BUCKET_LABEL}"]

    def lease_name(self, base: str) -> str:
        """One Lease per shard; the whole (n = 1) keeps the unsharded name."""
        return base if self.whole else f"{base}-{self.index}-of-{self.count}"

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"
