"""Rules pydantic's types cannot express, checked on every piece that parsed, so that one
broken step does not hide the problems of the others. None of them changes anything.

Values are checked where another system would refuse them later (references.py): image
references and publish tags by the distribution reference grammar (with `${VARIABLES}` taken
as placeholders; the compiler checks the substituted value), resource quantities, Secret and
env names. Malformed globs in `when` and `branch` are warnings: Go's filepath.Match returned
ErrBadPattern, which Rancher took as "no match", so the condition never matches.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ValidationError

from translator.api import cache_paths, globs
from translator.api.config_types import (
    EVENTS,
    NOTIFICATION_CONDITIONS,
    CacheConfig,
    Constraint,
    Constraints,
    Notification,
    Step,
    StepType,
)
from translator.api.config_walk import STEP_TYPE_KEYS, Walker
from translator.api.references import image_problem, push_tag_problem, with_placeholders
from translator.api.yaml_source import Path

_QUANTITY = re.compile(r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?[0-9]+))?$")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_SECRET_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


def _valid(model: type[BaseModel], data: Any) -> Any:
    """The piece as a model when it validates on its own (its errors are already reported)."""
    try:
        return model.model_validate(data)
    except ValidationError:
        return None


def check_semantics(data: Any, w: Walker) -> None:
    if not isinstance(data, dict):
        return
    stages = data.get("stages")
    if not stages:
        w.warn(("stages",), "the file defines no stages; a run only clones the repository")
    branch = _valid(Constraint, data["branch"]) if "branch" in data else None
    if branch:
        _check_constraint(branch, ("branch",), w, events=False)
    notification = _valid(Notification, data["notification"]) if "notification" in data else None
    if notification:
        for i, cond in enumerate(notification.condition):
            if cond not in NOTIFICATION_CONDITIONS:
                w.error(("notification", "condition", i),
                        f"unknown condition {cond!r}; one of {', '.join(NOTIFICATION_CONDITIONS)}")
    if not isinstance(stages, list):
        return
    for si, stage in enumerate(stages):
        if not isinstance(stage, dict):
            continue
        spath: Path = ("stages", si)
        if isinstance(stage.get("name"), str) and not stage["name"].strip():
            w.error((*spath, "name"), "must not be empty")
        steps = stage.get("steps")
        if isinstance(steps, list) and not steps:
            w.error((*spath, "steps"), "a stage needs at least one step")
        when = _valid(Constraints, stage["when"]) if stage.get("when") is not None else None
        if when:
            _check_when(when, (*spath, "when"), w)
        cache = _valid(CacheConfig, stage["cache"]) if stage.get("cache") is not None else None
        if cache:
            _check_cache(cache.paths, (*spath, "cache"), w)
        for ti, raw_step in enumerate(steps if isinstance(steps, list) else []):
            step = _valid(Step, raw_step)
            if step is not None:
                _check_step(step, (*spath, "steps", ti), first=(si == 0 and ti == 0), w=w)


def _check_step(step: Step, path: Path, *, first: bool, w: Walker) -> None:
    kinds = step.step_types()
    if not kinds:
        raw: Any = w.doc.data
        for part in path:
            if isinstance(raw, dict):
                raw = raw.get(part)
            elif isinstance(raw, list) and isinstance(part, int) and part < len(raw):
                raw = raw[part]
            else:
                raw = None
        nulls = [k for k in (raw if isinstance(raw, dict) else {}) if k in STEP_TYPE_KEYS]
        if nulls:
            w.error((*path, nulls[0]),
                    f"`{nulls[0]}` is empty; its settings must be indented under it")
        else:
            w.error(path, "no step type; a step needs one of " + ", ".join(t.value for t in StepType))
    elif len(kinds) > 1:
        w.error(path, "more than one step type: " + ", ".join(k.value for k in kinds) + "; use one step each")
    if StepType.SOURCE_CODE in kinds and not first:
        w.error((*path, "sourceCodeConfig"), "the clone step can only be the first step of the first stage")
    if step.run_script_config is not None:
        _check_image(step.run_script_config.image, (*path, "runScriptConfig", "image"), w)
    if step.publish_image_config is not None:
        _check_publish(step, path, w)
    if step.apply_yaml_config is not None and not (step.apply_yaml_config.path or step.apply_yaml_config.content):
        w.error((*path, "applyYamlConfig"), "needs `path` or `content`")
    for name in step.env:
        if not name or "=" in name or not _ENV_NAME.match(name):
            w.error((*path, "env", name), "not a valid environment variable name")
    for i, ref in enumerate(step.env_from):
        epath = (*path, "envFrom", i)
        if not _SECRET_NAME.match(ref.source_name):
            w.error((*epath, "sourceName"), "not a valid Secret name (lowercase letters, digits, '-' and '.')")
        if not _SECRET_KEY.match(ref.source_key):
            w.error((*epath, "sourceKey"), "not a valid Secret key")
        target = ref.target_key or ref.source_key
        if not _ENV_NAME.match(target):
            w.error((*epath, "targetKey"), f"{target!r} is not a valid environment variable name")
    for field_name in ("cpu_request", "cpu_limit", "memory_request", "memory_limit"):
        value = getattr(step, field_name)
        if value and not _QUANTITY.match(value):
            alias = Step.model_fields[field_name].alias or field_name
            w.error((*path, alias), f"{value!r} is not a Kubernetes quantity (e.g. 500m, 1, 256Mi)")
    if step.when:
        _check_when(step.when, (*path, "when"), w)
    if step.cache:
        _check_cache(step.cache.paths, (*path, "cache"), w)


def _check_publish(step: Step, path: Path, w: Walker) -> None:
    cfg = step.publish_image_config
    assert cfg is not None
    here = (*path, "publishImageConfig")
    if not cfg.tag.strip():
        w.error((*here, "tag"), "must not be empty")
    else:
        problem = push_tag_problem(with_placeholders(cfg.tag))
        if problem:
            w.error((*here, "tag"), f"{cfg.tag!r} cannot be pushed: {problem}")
    if cfg.push_remote and not cfg.registry.strip():
        w.warn((*here, "registry"), "pushRemote without registry: the image is pushed to Docker Hub")
    elif cfg.push_remote and cfg.tag.strip():
        # the image pushed is <registry>/<tag> (a registry may carry a path: harbor.example.com/team)
        registry = cfg.registry.strip()
        pushed = cfg.tag if cfg.tag.startswith(registry + "/") else f"{registry}/{cfg.tag}"
        problem = None if push_tag_problem(with_placeholders(cfg.tag)) else push_tag_problem(with_placeholders(pushed))
        if problem:
            w.error((*here, "registry"), f"{registry!r} is not a registry: the image pushed would be {pushed!r} "
                                         f"({problem})")


def _check_image(image: str, path: Path, w: Walker) -> None:
    if not image.strip():
        w.error(path, "must not be empty")
    elif "{{" in image:
        w.error(path, f"{image!r} is not an image reference")
    else:
        problem = image_problem(with_placeholders(image))
        if problem:
            w.error(path, f"{image!r} is not an image reference: {problem}")


def _check_when(when: Any, path: Path, w: Walker) -> None:
    if when.branch:
        _check_constraint(when.branch, (*path, "branch"), w, events=False)
    if when.event:
        _check_constraint(when.event, (*path, "event"), w, events=True)


def _check_constraint(c: Constraint, path: Path, w: Walker, *, events: bool) -> None:
    for part in ("include", "exclude"):
        for i, value in enumerate(getattr(c, part)):
            if events and value not in EVENTS:
                w.warn((*path, part, i), f"unknown event {value!r}; events are {', '.join(EVENTS)}")
            elif not events:
                problem = globs.problem(value)
                if problem:
                    w.warn((*path, part, i), f"pattern {value!r} is malformed ({problem}): it matches no "
                                             "branch, as with Rancher (Go's filepath.Match refused it)")


def _check_cache(paths: list[str], path: Path, w: Walker) -> None:
    for i, p in enumerate(paths):
        parts = p.replace("\\", "/").split("/")
        if not p.strip():
            w.error((*path, "paths", i), "must not be empty")
        elif ".." in parts:
            w.error((*path, "paths", i), f"{p!r}: `..` is not allowed in a cache path")
        elif "\x00" in p or "\n" in p:
            w.error((*path, "paths", i), "control characters are not allowed in a cache path")
    _check_cache_mounts(paths, path, w)


def _check_cache_mounts(paths: list[str], path: Path, w: Walker) -> None:
    """Where each path lands in the container (api/cache_paths): not on a mount of ours, not twice."""
    seen: dict[str, int] = {}
    for i, p in enumerate(paths):
        if not p.strip() or ".." in p.replace("\\", "/").split("/"):
            continue  # already reported
        where = cache_paths.container_path(p)
        conflict = cache_paths.reserved_conflict(where)
        if conflict:
            w.error((*path, "paths", i), f"{p!r} ({where} in the step's container) {conflict}; "
                                         "cache a directory beside it instead")
        elif where in seen:
            w.warn((*path, "paths", i), f"{p!r} is the same directory as paths[{seen[where]}] ({where}); "
                                        "it is mounted once")
        else:
            seen[where] = i
