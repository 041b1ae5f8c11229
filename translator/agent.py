"""The cache agent (`translator cache-agent`, a DaemonSet): one per node.

It knows the cache directories under `hostPathRoot` on its node
(`<root>/<namespace>/<pipeline>/<key>`, see `cache.placement`), their size and last use;
keeps the node within its disk budget and free-space floor by evicting the least recently
used caches that no pod on the node is using; and publishes the node's inventory as a
cluster-scoped `CacheInventory` named after the node, which the controller reads to place
runs on nodes that really hold their cache.

Last use: a cache's `.translator-last-used` marker, touched by the agent whenever it sees a
Pending or Running pod on the node mounting that directory (or the directory's own mtime
before the agent first saw it used).

Pinned runs (translator.compiler.forms) keep their workspace on the node under
`<root>/.workspaces/<namespace>/<workflow>`; once that Workflow is finished or gone the agent
deletes the directory (the scan of caches skips dot-directories).

Pull requests' cache copies (`<root>/.pull-requests/<namespace>/<pipeline>/<pr-n>/<key>`, see
`cache.placement`) count against the same budget and floor, but go first: they are evicted
before any pipeline cache, least recently used first, and one unused for the setting's
`pullRequests.cacheMaxAgeSeconds` (7 days) is evicted anyway. The agent cannot tell that a pull
request was closed; its copies age out. They are left out of the inventory's entries (which
place runs on nodes holding the pipeline's cache) but counted in `usedBytes`.

Eviction is crash-safe: a directory is first renamed (atomic on one filesystem) into
`<root>/.evicting/`, then deleted. A crash in between leaves it there, outside the layout, so
it is never seen as a present cache; the next pass deletes it. A cache a pod uses is never
evicted: pods are listed right before the pass, and a rename is undone when a pod appeared
meanwhile.

Inventory size: one entry per pipeline (namespace/pipeline, bytes, last use), most recent
first, at most `MAX_ENTRIES` (10,000 entries, about 0.8 MB) — the least recently used
beyond that are left out and `truncated` says so. Published when it changes, and at least
every `heartbeat` seconds so the controller can tell a live inventory from a stale one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes import client

from translator.api.resources_types import API_VERSION, CacheEntry, CacheInventoryStatus
from translator.api.setting_types import PipelineSettingSpec, PullRequestSetting, parse_setting
from translator.cache.placement import PULL_REQUEST_DIR
from translator.kubeclient import Kube

log = logging.getLogger("translator.agent")

MARKER = ".translator-last-used"
TRASH = ".evicting"
WORKSPACES = ".workspaces"  # pinned runs' node-local workspaces: <root>/.workspaces/<namespace>/<workflow>
WORKFLOW_OVER = ("Succeeded", "Failed", "Error")
MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class CacheDir:
    namespace: str
    pipeline: str
    key: str
    path: str
    bytes: int
    last_used: float  # epoch seconds
    scope: str = ""  # a pull request's copy (`pr-<n>`); "" for the pipeline's own cache


def _size(path: str) -> int:
    total = 0
    stack = [path]
    while stack:
        current = stack.pop()
        try:
            with os.scandir(current) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                        else:
                            total += entry.stat(follow_symlinks=False).st_blocks * 512
                    except FileNotFoundError:
                        continue
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue
    return total


def _subdirs(path: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as entries:
            return [e for e in entries if e.is_dir(follow_symlinks=False) and not e.name.startswith(".")]
    except FileNotFoundError:
        return []


def _cache_dir(ns: str, pipeline: str, key: os.DirEntry[str], scope: str = "") -> CacheDir | None:
    try:
        last = os.stat(os.path.join(key.path, MARKER)).st_mtime
    except FileNotFoundError:
        try:
            last = key.stat(follow_symlinks=False).st_mtime
        except FileNotFoundError:
            return None
    return CacheDir(ns, pipeline, key.name, key.path, _size(key.path), last, scope)


def scan(root: str) -> list[CacheDir]:
    """Every pipeline cache directory under `root`, with its size and last use."""
    found = []
    for ns in _subdirs(root):
        for pipeline in _subdirs(ns.path):
            for key in _subdirs(pipeline.path):
                entry = _cache_dir(ns.name, pipeline.name, key)
                if entry is not None:
                    found.append(entry)
    return found


def scan_pull_requests(root: str) -> list[CacheDir]:
    """Every pull request's cache copy under `root`."""
    found = []
    for ns in _subdirs(os.path.join(root, PULL_REQUEST_DIR)):
        for pipeline in _subdirs(ns.path):
            for scope in _subdirs(pipeline.path):
                for key in _subdirs(scope.path):
                    entry = _cache_dir(ns.name, pipeline.name, key, scope.name)
                    if entry is not None:
                        found.append(entry)
    return found


def choose_evictions(dirs: Iterable[CacheDir], in_use: set[str], *, budget: int, free: int,
                     floor: int, now: float = 0.0, max_age: float = 0.0) -> list[CacheDir]:
    """Pull requests' copies unused for `max_age` first; then least recently used first, pull
    requests' copies before pipeline caches, skipping caches in use, until the budget and the
    floor hold."""
    dirs = list(dirs)
    used = sum(d.bytes for d in dirs)
    chosen = [d for d in dirs if d.scope and max_age > 0 and now - d.last_used > max_age and d.path not in in_use]
    used -= sum(d.bytes for d in chosen)
    free += sum(d.bytes for d in chosen)
    rest = [d for d in dirs if d not in chosen]
    for d in sorted(rest, key=lambda d: (not d.scope, d.last_used, d.path)):
        over_budget = budget > 0 and used > budget
        under_floor = floor > 0 and free < floor
        if not over_budget and not under_floor:
            break
        if d.path in in_use:
            continue
        chosen.append(d)
        used -= d.bytes
        free += d.bytes
    return chosen


def workspace_dirs(root: str) -> list[tuple[str, str, str]]:
    """(namespace, workflow, path) of each pinned run's workspace under `<root>/.workspaces`
    (translator.compiler.forms.workspace_host_path)."""
    base = os.path.join(root, WORKSPACES)
    return [(ns.name, wf.name, wf.path) for ns in _subdirs(base) for wf in _subdirs(ns.path)]


def finished_workspaces(dirs: Iterable[tuple[str, str, str]], phase: Callable[[str, str], str | None]) -> list[str]:
    """The workspaces whose run is over: its Workflow finished (`phase` gives its phase) or gone (None)."""
    return [path for ns, name, path in dirs if (found := phase(ns, name)) is None or found in WORKFLOW_OVER]


def clean_trash(root: str) -> None:
    trash = os.path.join(root, TRASH)
    for entry in _subdirs_all(trash):
        shutil.rmtree(entry, ignore_errors=True)


def _subdirs_all(path: str) -> list[str]:
    try:
        return [os.path.join(path, n) for n in os.listdir(path)]
    except FileNotFoundError:
        return []


def _rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class AgentConfig:
    node: str
    root: str
    max_bytes: int = 0  # 0: from the PipelineSettings using this root (the smallest), else none
    min_free_bytes: int = 0
    heartbeat: float = 60.0
    host_root: str = ""  # the root as pods mount it (the node's path), when the agent sees it elsewhere

    @property
    def node_root(self) -> str:
        return os.path.normpath(self.host_root or self.root)


@dataclass
class CacheAgent:
    config: AgentConfig
    kube: Kube | None = None
    clock: Callable[[], float] = time.time
    disk_free: Callable[[str], int] = field(default=lambda root: shutil.disk_usage(root).free)
    evictions: int = 0
    evicted_bytes: int = 0
    on_evict: Callable[[CacheDir], None] | None = None
    _published: dict[str, Any] | None = None
    _published_at: float = 0.0

    # ------------------------------------------------------------------ what the cluster says

    def pods_using(self) -> set[str]:
        """Cache directories mounted by Pending or Running pods on this node."""
        if self.kube is None:
            return set()
        pods = self.kube.call(self.kube.core.list_pod_for_all_namespaces,
                              field_selector=f"spec.nodeName={self.config.node}")
        node_root, root = self.config.node_root, os.path.normpath(self.config.root)
        used = set()
        for pod in pods.items:
            if (pod.status and pod.status.phase) not in ("Pending", "Running", None):
                continue
            for volume in (pod.spec.volumes or []) if pod.spec else []:
                host = os.path.normpath(volume.host_path.path) if volume.host_path else ""
                if host.startswith(node_root + os.sep):
                    used.add(root + host[len(node_root):])  # as the agent sees it
        return used

    def settings(self) -> list[PipelineSettingSpec]:
        """The PipelineSettings whose caches live under this root."""
        if self.kube is None:
            return []
        found = []
        for obj in self.kube.list("pipelinesettings").get("items", []):
            try:
                spec = parse_setting(obj)
            except ValueError:
                continue
            if os.path.normpath(spec.cache.host_path_root) == self.config.node_root:
                found.append(spec)
        return found

    def limits(self, settings: list[PipelineSettingSpec] | None = None) -> tuple[int, int]:
        """(budget, floor): the flags, else the strictest of the PipelineSettings using this root."""
        budget, floor = self.config.max_bytes, self.config.min_free_bytes
        if self.kube is None or (budget and floor):
            return budget, floor
        budgets, floors = [], []
        for spec in self.settings() if settings is None else settings:
            cache = spec.cache
            if cache.max_bytes_per_node:
                budgets.append(cache.max_bytes_per_node)
            floors.append(cache.min_free_bytes)
        return budget or min(budgets, default=0), floor or max(floors, default=0)

    def pull_request_max_age(self, settings: list[PipelineSettingSpec]) -> float:
        """The shortest `pullRequests.cacheMaxAgeSeconds` of those settings (0: none), else the default."""
        if not settings:
            return float(PullRequestSetting().cache_max_age_seconds)
        ages = [s.pull_requests.cache_max_age_seconds for s in settings if s.pull_requests.cache_max_age_seconds]
        return float(min(ages, default=0))

    # ------------------------------------------------------------------ one pass

    def evict(self, victim: CacheDir) -> bool:
        """Rename into the trash (atomic), then delete; undone when a pod started using it."""
        trash = os.path.join(self.config.root, TRASH)
        os.makedirs(trash, exist_ok=True)
        target = os.path.join(trash, f"{victim.namespace}.{victim.pipeline}.{victim.scope}.{victim.key}."
                                     f"{uuid.uuid4().hex[:8]}")
        try:
            os.rename(victim.path, target)
        except FileNotFoundError:
            return False
        if victim.path in self.pods_using():
            os.rename(target, victim.path)
            return False
        if self.on_evict is not None:
            self.on_evict(victim)  # a test's crash point: after the rename, before the delete
        shutil.rmtree(target, ignore_errors=True)
        if victim.scope:  # the pull request's directory goes with its last copy
            with contextlib.suppress(OSError):
                os.rmdir(os.path.dirname(victim.path))
        self.evictions += 1
        self.evicted_bytes += victim.bytes
        log.info("evicted cache", extra={"namespace": victim.namespace, "pipeline": victim.pipeline})
        return True

    def workflow_phase(self, namespace: str, name: str) -> str | None:
        """The Workflow's phase ("" while it has none), None when it does not exist."""
        if self.kube is None:
            return ""
        try:
            wf = self.kube.get("workflows", namespace, name, group="argoproj.io", version="v1alpha1")
        except client.ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return str((wf.get("status") or {}).get("phase") or "")

    def remove_finished_workspaces(self) -> int:
        """Delete the node-local workspace of each pinned run that is over; how many went."""
        done = finished_workspaces(workspace_dirs(self.config.root), self.workflow_phase)
        for path in done:
            shutil.rmtree(path, ignore_errors=True)
        return len(done)

    def run_once(self) -> CacheInventoryStatus:
        root = self.config.root
        os.makedirs(root, exist_ok=True)
        clean_trash(root)
        self.remove_finished_workspaces()
        in_use = self.pods_using()
        now = self.clock()
        for path in in_use:
            marker = Path(path) / MARKER
            if Path(path).is_dir():
                marker.touch()
                os.utime(marker, (now, now))
        dirs = scan(root) + scan_pull_requests(root)
        settings = self.settings()
        budget, floor = self.limits(settings)
        victims = choose_evictions(dirs, in_use, budget=budget, free=self.disk_free(root), floor=floor, now=now,
                                   max_age=self.pull_request_max_age(settings))
        gone = {v.path for v in victims if self.evict(v)}
        kept = [d for d in dirs if d.path not in gone]
        status = self.inventory(kept, budget)
        self.publish(status)
        return status

    def inventory(self, dirs: list[CacheDir], budget: int) -> CacheInventoryStatus:
        per: dict[str, list[float]] = {}
        for d in dirs:
            if d.scope:
                continue  # placement follows the pipeline's own cache
            entry = per.setdefault(f"{d.namespace}/{d.pipeline}", [0, 0.0])
            entry[0] += d.bytes
            entry[1] = max(entry[1], d.last_used)
        ordered = sorted(per.items(), key=lambda kv: (-kv[1][1], kv[0]))
        return CacheInventoryStatus(
            node=self.config.node, root=self.config.node_root, used_bytes=sum(d.bytes for d in dirs),
            budget_bytes=budget, free_bytes=self.disk_free(self.config.root), evictions=self.evictions,
            evicted_bytes=self.evicted_bytes, truncated=len(ordered) > MAX_ENTRIES,
            caches=[CacheEntry(pipeline=p, bytes=int(b), last_used=_rfc3339(t)) for p, (b, t) in ordered[:MAX_ENTRIES]],
        )

    def publish(self, status: CacheInventoryStatus) -> None:
        """Write the node's CacheInventory when it changed, or as a heartbeat."""
        if self.kube is None:
            return
        wire = status.to_wire()
        now = self.clock()
        if wire == self._published and now - self._published_at < self.config.heartbeat:
            return
        body = {**wire, "updated": _rfc3339(now)}
        name = self.config.node
        kube = self.kube
        try:
            current = kube.call(kube.custom.get_cluster_custom_object, "devops.cubepaas.io", "v1alpha1",
                                "cacheinventories", name)
        except client.ApiException as exc:
            if exc.status != 404:
                raise
            current = kube.call(kube.custom.create_cluster_custom_object, "devops.cubepaas.io", "v1alpha1",
                                "cacheinventories", {"apiVersion": API_VERSION, "kind": "CacheInventory",
                                                     "metadata": {"name": name}})
        if self._published is None:  # restarted: the totals continue from what was published
            before = current.get("status") or {}
            self.evictions += int(before.get("evictions") or 0)
            self.evicted_bytes += int(before.get("evictedBytes") or 0)
            body.update(evictions=self.evictions, evictedBytes=self.evicted_bytes)
            wire.update(evictions=self.evictions, evictedBytes=self.evicted_bytes)
        current["status"] = body
        kube.call(kube.custom.replace_cluster_custom_object_status, "devops.cubepaas.io", "v1alpha1",
                  "cacheinventories", name, current)
        self._published, self._published_at = wire, now

    def run(self, interval: float, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.run_once()
            except Exception:  # one failed pass (API down, a racing delete) never ends the agent
                log.exception("cache agent pass failed")
            stop.wait(interval)
