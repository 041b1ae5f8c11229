"""Pod pieces both engines share: both run steps in Kubernetes pods (Argo's, or Jenkins' agent)."""

from __future__ import annotations

from typing import Any

from translator.cache.placement import CacheMount, preferred_affinity, required_affinity
from translator.compiler.plan import (
    DOCKER_CONFIG_DIR,
    GIT_CREDENTIALS_DIR,
    SEED_CONTAINER,
    CompileError,
    EnvVar,
    Plan,
    PlanStep,
)
from translator.compiler.requests import QuantityError, split_requests
from translator.compiler.trust_scripts import SEED_CACHE

SEED_DIR, COPY_DIR = "/translator/cache-seed", "/translator/cache-copy"


def shared_volumes(plan: Plan) -> list[dict[str, Any]]:
    """Registry and git credentials (when a step needs them) and every cache hostPath, once each."""
    setting = plan.setting
    steps = plan.steps
    volumes: list[dict[str, Any]] = []
    if any(s.mounts_registry_credentials for s in steps):
        volumes.append({"name": "registry-credentials", "secret": {
            "secretName": setting.registry_credentials_secret,
            "items": [{"key": ".dockerconfigjson", "path": "config.json"}]}})
    if any(s.mounts_git_credentials for s in steps):
        volumes.append({"name": "git-credentials", "secret": {
            "secretName": setting.git_credentials_secret, "defaultMode": 0o400}})
    seen: set[str] = set()
    for step in steps:
        for cache in step.caches:
            if cache.volume_name not in seen:
                seen.add(cache.volume_name)
                volumes.append({"name": cache.volume_name,
                                "hostPath": {"path": cache.host_path, "type": "DirectoryOrCreate"}})
                if cache.seed_host_path:
                    volumes.append({"name": cache.seed_volume_name,
                                    "hostPath": {"path": cache.seed_host_path, "type": "DirectoryOrCreate"}})
    return volumes


def account_fields(plan: Plan) -> dict[str, Any]:
    """The pods' service account; on a pull_request run no token is mounted (docs/security.md)."""
    if plan.trust.mount_token:
        return {"serviceAccountName": plan.trust.service_account}
    return {"serviceAccountName": plan.trust.service_account, "automountServiceAccountToken": False}


def cache_seed_container(plan: Plan, caches: list[CacheMount]) -> dict[str, Any] | None:
    """A pull request's init container: copies the pipeline's caches (read-only) into its own
    empty copies; the steps mount only the copies."""
    seeded = [c for c in dict.fromkeys(caches) if c.seed_host_path]
    if not seeded:
        return None
    defaults = plan.setting.default_resources
    args, mounts = [], []
    for cache in seeded:
        key = cache.volume_name.removeprefix("cache-")
        args += [f"{SEED_DIR}/{key}", f"{COPY_DIR}/{key}"]
        mounts += [{"name": cache.seed_volume_name, "mountPath": f"{SEED_DIR}/{key}", "readOnly": True},
                   {"name": cache.volume_name, "mountPath": f"{COPY_DIR}/{key}"}]
    return {
        "name": SEED_CONTAINER, "image": plan.setting.images.git_clone,
        "command": ["/bin/sh", "-c", SEED_CACHE, SEED_CONTAINER, *args],
        "resources": {"requests": {"cpu": defaults.cpu_request, "memory": defaults.memory_request},
                      "limits": {"cpu": defaults.cpu_limit, "memory": defaults.memory_limit}},
        "volumeMounts": mounts,
    }


def shared_mounts(step: PlanStep) -> list[dict[str, Any]]:
    """The step's credential and cache mounts (the workspace and scripts are the engine's)."""
    mounts: list[dict[str, Any]] = []
    if step.mounts_registry_credentials:
        mounts.append({"name": "registry-credentials", "mountPath": DOCKER_CONFIG_DIR, "readOnly": True})
    if step.mounts_git_credentials:
        mounts.append({"name": "git-credentials", "mountPath": GIT_CREDENTIALS_DIR, "readOnly": True})
    mounts += [{"name": c.volume_name, "mountPath": c.container_path} for c in step.caches]
    return mounts


def env_entry(var: EnvVar) -> dict[str, Any]:
    """A container env entry: a Secret's key, or the literal value."""
    if var.secret_name:
        return {"name": var.name, "valueFrom": {"secretKeyRef": {"name": var.secret_name, "key": var.secret_key}}}
    return {"name": var.name, "value": var.value}


def node_affinity(plan: Plan) -> dict[str, Any] | None:
    """The run's affinity, for both engines: the cache placement of the run's one pod (Argo's
    containerSet, Jenkins' agent pod) or of the first pod of a pinned run, which the others
    follow. It prefers the cache nodes (and, during the bounded wait, requires one of the
    holders); a run without cached steps carries none.
    """
    if not plan.node_preferences and not plan.node_requirement:
        return None
    affinity: dict[str, Any] = {}
    if plan.node_requirement:
        affinity["requiredDuringSchedulingIgnoredDuringExecution"] = required_affinity(plan.node_requirement)
    if plan.node_preferences:
        affinity["preferredDuringSchedulingIgnoredDuringExecution"] = preferred_affinity(plan.node_preferences)
    return {"nodeAffinity": affinity}


def split_resources(plan: Plan) -> dict[str, dict[str, dict[str, str]]]:
    """Each step's resources in a pod that holds every step at once (Argo's containerSet,
    Jenkins' agent pod): requests split so the pod asks for the peak stage (compiler.requests),
    limits as written; a skipped step's container never runs a command, so it requests nothing."""
    stages = [[s for s in stage.steps if not s.skipped] for stage in plan.stages]
    stages = [stage for stage in stages if stage]
    try:
        split = split_requests([[s.resources for s in stage] for stage in stages])
    except QuantityError as exc:
        raise CompileError(str(exc)) from None
    out = {s.id: r for stage, resources in zip(stages, split, strict=True)
           for s, r in zip(stage, resources, strict=True)}
    for step in plan.steps:
        if step.skipped:
            out[step.id] = {"requests": {"cpu": "0", "memory": "0"}, "limits": dict(step.resources["limits"])}
    return out
