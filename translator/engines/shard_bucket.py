"""The shard bucket of an execution's objects: what lets each controller shard watch only its own.

Stored format: the Workflow and the scripts ConfigMap of an execution carry the label
`devops.cubepaas.io/shard-bucket=<b>`, b = FNV-1a (64 bit) of the owner execution's namespace
modulo BUCKETS (240). For any n dividing 240, fnv % 240 % n == fnv % n, so shard i of n owns
exactly the buckets b with b % n == i and can ask the API server for them with a set-based label
selector (`shard-bucket in (...)`) instead of receiving every Workflow of the cluster. Objects
made before the label existed have none; `!devops.cubepaas.io/shard-bucket` finds them.

Pure: no client, no clock.
"""

from __future__ import annotations

BUCKET_LABEL = "devops.cubepaas.io/shard-bucket"
BUCKETS = 240  # 2^4 * 3 * 5: every shard count up to 6, and 8, 10, 12, 15, 16, 20, 24, 30, ... divides it
FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3


def fnv1a(text: str) -> int:
    """FNV-1a, 64 bit, of the UTF-8 text: the same on every replica, Python and restart."""
    value = FNV_OFFSET
    for byte in text.encode():
        value = ((value ^ byte) * FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return value


def bucket_of(namespace: str) -> int:
    return fnv1a(namespace) % BUCKETS


def buckets_of_shard(index: int, count: int) -> list[int] | None:
    """The buckets shard `index` of `count` owns; None when `count` does not divide BUCKETS (then
    a bucket is not one shard's and the shard must filter on its side)."""
    if count < 1 or BUCKETS % count:
        return None
    return [b for b in range(BUCKETS) if b % count == index]
