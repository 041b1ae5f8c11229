"""Validate a pipeline file: every problem, with its field path and line; nothing changed.

Rancher decoded pipeline files with Go's yaml.v2 into structs, which silently dropped keys it
did not know. Real files are full of them (a `when` one level too deep, `name` inside a step
config, `exlclude`). Here each such key is a *warning* that names the key and, where one is
likely, the place the author meant; `strict=True` turns warnings into errors. Problems that
would make a run wrong or impossible are *errors*.

The known keys, types and required fields all come from the models in `config_types`; the
walk below only adds what pydantic cannot know: where a value stood in the file, Rancher's
scalar-to-string decoding, and hints for misplaced keys.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ValidationError

from translator.api import cache_paths
from translator.api.config_types import (
    EVENTS,
    NOTIFICATION_CONDITIONS,
    CacheConfig,
    Constraint,
    Constraints,
    Notification,
    PipelineConfig,
    Stage,
    Step,
    StepType,
)
from translator.api.yaml_source import Path, SourceDocument, YamlSyntaxError, format_path, parse


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    """One problem: where it is and what to do about it."""

    severity: Severity
    path: str
    message: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = f" (line {self.line}" + (f", column {self.column})" if self.column else ")") if self.line else ""
        return f"{self.path}: {self.message}{where}"


@dataclass
class ValidationResult:
    """The outcome: a config when there were no errors, and every finding either way."""

    config: PipelineConfig | None
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.WARNING]

    @property
    def ok(self) -> bool:
        return self.config is not None and not self.errors


PIPELINE_FILE_NAMES = (".cubepaas.devops.yml", ".rancher-pipeline.yml", ".rancher-pipeline.yaml")

_TOP_KEYS = {"stages", "timeout", "branch", "notification"}
_QUANTITY = re.compile(r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?[0-9]+))?$")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_SECRET_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


def validate_text(text: str, *, strict: bool = False) -> ValidationResult:
    """Parse and validate the text of a pipeline file."""
    try:
        doc = parse(text)
    except YamlSyntaxError as exc:
        return ValidationResult(
            None, [Finding(Severity.ERROR, "(file)", f"not valid YAML: {exc.message}", exc.line, exc.column)]
        )
    return validate_document(doc, strict=strict)


def validate_data(data: Any, *, strict: bool = False) -> ValidationResult:
    """Validate an already-decoded config (a Pipeline's inline `config`): no line numbers."""
    return validate_document(SourceDocument(data=data), strict=strict)


def validate_document(doc: SourceDocument, *, strict: bool = False) -> ValidationResult:
    findings: list[Finding] = []
    refusal = _not_a_pipeline(doc)
    if refusal:
        return ValidationResult(None, [refusal])
    walker = _Walker(doc, findings)
    if doc.documents > 1:
        walker.warn((), f"the file holds {doc.documents} YAML documents; only the first is read")
    for path, pos in doc.duplicates:
        findings.append(
            Finding(
                Severity.WARNING, format_path(path),
                "duplicate key; the later value is used, as Rancher did", pos.line, pos.column,
            )
        )
    cleaned = walker.normalize(doc.data, PipelineConfig, ())
    config: PipelineConfig | None = None
    try:
        config = PipelineConfig.model_validate(cleaned)
    except ValidationError as exc:
        for err in exc.errors():
            path = tuple(p for p in err["loc"] if not _is_union_tag(p))
            walker.error(path, _message(err))
    _check_semantics(cleaned, walker)
    if strict:
        findings[:] = [
            Finding(Severity.ERROR, f.path, f.message + " [strict]", f.line, f.column)
            if f.severity is Severity.WARNING else f
            for f in findings
        ]
    findings.sort(key=lambda f: (f.line or 0, f.severity != Severity.ERROR, f.path))
    has_errors = any(f.severity is Severity.ERROR for f in findings)
    return ValidationResult(None if has_errors else config, findings)


def _not_a_pipeline(doc: SourceDocument) -> Finding | None:
    data = doc.data
    if doc.documents == 0 or data is None:
        return Finding(Severity.ERROR, "(file)", "not a pipeline: the file is empty")
    if not isinstance(data, dict):
        kind = "text" if isinstance(data, str) else "a list" if isinstance(data, list) else f"a {type(data).__name__}"
        if isinstance(data, str) and re.search(r"\b(pipeline|node|stage)\s*[({]", data):
            kind = "a Jenkinsfile"
        return Finding(
            Severity.ERROR, "(file)",
            f"not a pipeline: the file holds {kind}; a pipeline file is a mapping with `stages`",
            doc.line_of(()),
        )
    if not _TOP_KEYS & set(data):
        hint = ""
        if "apiVersion" in data and "kind" in data:
            hint = f"; it looks like a Kubernetes {data.get('kind')} object"
        elif "pipeline" in data or "node" in data:
            hint = "; it looks like a Jenkinsfile"
        keys = ", ".join(sorted(str(k) for k in data)[:5])
        return Finding(
            Severity.ERROR, "(file)",
            f"not a pipeline: none of stages, timeout, branch, notification at the top level "
            f"(found {keys}){hint}",
            doc.line_of(()),
        )
    return None


def _is_union_tag(part: Any) -> bool:
    return isinstance(part, str) and (part[:1].isupper() or part.startswith("function-"))


def _message(err: Any) -> str:
    kind = err["type"]
    if kind == "missing":
        return "required"
    if kind in ("string_type", "int_type", "int_parsing", "bool_type", "bool_parsing", "list_type",
                "dict_type", "model_type", "model_attributes_type"):
        expected = {
            "string_type": "a string", "int_type": "a whole number", "int_parsing": "a whole number",
            "bool_type": "true or false", "bool_parsing": "true or false", "list_type": "a list",
            "dict_type": "a mapping", "model_type": "a mapping", "model_attributes_type": "a mapping",
        }[kind]
        got = err.get("input")
        shown = type(got).__name__ if isinstance(got, dict | list) else repr(got)
        return f"must be {expected}, got {shown}"
    return str(err["msg"])


# Where a misplaced key most likely belongs, by the key's name.
_STEP_CONFIG_FIELDS: dict[str, set[str]] = {}
_STEP_TYPE_KEYS = {t.value for t in StepType}
_STEP_LEVEL_KEYS = {f.alias or n for n, f in Step.model_fields.items()} - {t.value for t in StepType}


def _fields_by_alias(model: type[BaseModel]) -> dict[str, str]:
    return {(f.alias or name): name for name, f in model.model_fields.items()}


def _step_config_models() -> dict[str, type[BaseModel]]:
    out = {}
    for name, f in Step.model_fields.items():
        alias = f.alias or name
        if alias in {t.value for t in StepType}:
            out[alias] = _unwrap_optional(f.annotation)
    return out


def _unwrap_optional(annotation: Any) -> Any:
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation


for _cfg, _model in _step_config_models().items():
    for _alias in _fields_by_alias(_model):
        _STEP_CONFIG_FIELDS.setdefault(_alias, set()).add(_cfg)


class _Walker:
    """Walks raw data beside the model classes: drops unknown keys (warning each), coerces
    scalars to strings where the model wants strings, and records findings with lines."""

    def __init__(self, doc: SourceDocument, findings: list[Finding]) -> None:
        self.doc = doc
        self.findings = findings

    def _add(self, severity: Severity, path: Path, message: str) -> None:
        pos = None
        for cut in range(len(path), -1, -1):
            pos = self.doc.positions.get(path[:cut])
            if pos is not None:
                break
        self.findings.append(
            Finding(severity, format_path(path), message, pos.line if pos else None)
        )

    def error(self, path: Path, message: str) -> None:
        self._add(Severity.ERROR, path, message)

    def warn(self, path: Path, message: str) -> None:
        self._add(Severity.WARNING, path, message)

    def normalize(self, value: Any, annotation: Any, path: Path) -> Any:
        annotation = _unwrap_optional(annotation)
        origin = typing.get_origin(annotation)
        if value is None:
            return None
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return self._model(value, annotation, path)
        if origin is list:
            (item_type,) = typing.get_args(annotation)
            if not isinstance(value, list):
                return value  # pydantic reports the type error
            return [self.normalize(v, item_type, (*path, i)) for i, v in enumerate(value)]
        if origin is dict:
            _, value_type = typing.get_args(annotation)
            if not isinstance(value, dict):
                return value
            return {
                str(k): ("" if v is None and value_type is str else self.normalize(v, value_type, (*path, k)))
                for k, v in value.items()
            }
        if annotation is str:
            return self._string(value, path)
        return value

    def _string(self, value: Any, path: Path) -> Any:
        if isinstance(value, bool | int | float):
            raw = self.doc.raw_text(path)
            return raw if raw is not None else (str(value).lower() if isinstance(value, bool) else str(value))
        return value

    def _model(self, value: Any, model: type[BaseModel], path: Path) -> Any:
        if model is Constraint and isinstance(value, str | bool | int | float):
            return [self._string(value, path)]
        if model is Constraint and isinstance(value, list):
            return [self._string(v, (*path, i)) for i, v in enumerate(value)]
        if not isinstance(value, dict):
            return value
        known = _fields_by_alias(model)
        out: dict[str, Any] = {}
        for key, item in value.items():
            key_s = str(key)
            child = (*path, key_s)
            name = known.get(key_s) or (key_s if key_s in model.model_fields else None)
            if name is None:
                self.warn(child, self._unknown_key_message(key_s, model, value, path))
                continue
            if item is None and not (model is Step and key_s in _STEP_TYPE_KEYS):
                continue  # `notification:` with nothing under it means "not set"
            out[key_s] = self.normalize(item, model.model_fields[name].annotation, child)
        return out

    def _unknown_key_message(self, key: str, model: type[BaseModel], siblings: dict[Any, Any],
                             path: Path) -> str:
        base = f"unknown key `{key}`, ignored as Rancher did"
        here = format_path(path)
        if model is Step and key == "name" and StepType.APPLY_APP.value not in siblings:
            if not _STEP_TYPE_KEYS & set(siblings):
                return f"{base}; steps have no name: this looks like a stage written inside `steps`"
            return f"{base}; steps have no name in this format (the stage has one)"
        if model is Step and key in _STEP_CONFIG_FIELDS:
            present = [c for c in _STEP_CONFIG_FIELDS[key] if c in siblings]
            target = sorted(present or _STEP_CONFIG_FIELDS[key])
            return f"{base}; it belongs inside {' or '.join(target)} (indent it under that key)"
        if model in _step_config_models().values():
            if key in _STEP_LEVEL_KEYS:
                return f"{base}; `{key}` belongs to the step, beside this config: {here[: here.rfind('.')]}.{key}"
            if key == "name":
                return f"{base}; steps have no name in this format (the stage has one)"
        if model is Stage and key in _STEP_LEVEL_KEYS:
            return f"{base}; `{key}` belongs on each step under {here}.steps"
        if model is PipelineConfig and key == "when":
            return f"{base}; a pipeline-wide condition is the top-level `branch`"
        if model is PipelineConfig and (key in _STEP_CONFIG_FIELDS or key in _STEP_LEVEL_KEYS):
            return f"{base}; `{key}` belongs in a step under stages[].steps[]"
        known = sorted(_fields_by_alias(model))
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.75) or [
            k for k in known if len(key) >= 4 and k.lower().startswith(key.lower())
        ][:1]
        if close:
            return f"{base}; did you mean `{close[0]}`?"
        return f"{base}; known keys here: {', '.join(known)}"


def _valid(model: type[BaseModel], data: Any) -> Any:
    """The piece as a model when it validates on its own (its errors are already reported)."""
    try:
        return model.model_validate(data)
    except ValidationError:
        return None


def _check_semantics(data: Any, w: _Walker) -> None:
    """Rules pydantic's types cannot express, checked on every piece that parsed, so that one
    broken step does not hide the problems of the others. None of them changes anything."""
    if not isinstance(data, dict):
        return
    timeout = data.get("timeout")
    if isinstance(timeout, int) and not isinstance(timeout, bool) and timeout <= 0:
        w.error(("timeout",), "must be a positive number of minutes")
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


def _check_step(step: Step, path: Path, *, first: bool, w: _Walker) -> None:
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
        nulls = [k for k in (raw if isinstance(raw, dict) else {}) if k in _STEP_TYPE_KEYS]
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
        cfg = step.publish_image_config
        if not cfg.tag.strip():
            w.error((*path, "publishImageConfig", "tag"), "must not be empty")
        if cfg.push_remote and not cfg.registry.strip():
            w.warn((*path, "publishImageConfig", "registry"),
                   "pushRemote without registry: the image is pushed to Docker Hub")
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


def _check_image(image: str, path: Path, w: _Walker) -> None:
    if not image.strip():
        w.error(path, "must not be empty")
    elif any(c.isspace() for c in image) or "{{" in image:
        w.error(path, f"{image!r} is not an image reference")


def _check_when(when: Any, path: Path, w: _Walker) -> None:
    if when.branch:
        _check_constraint(when.branch, (*path, "branch"), w, events=False)
    if when.event:
        _check_constraint(when.event, (*path, "event"), w, events=True)


def _check_constraint(c: Constraint, path: Path, w: _Walker, *, events: bool) -> None:
    for part in ("include", "exclude"):
        for i, value in enumerate(getattr(c, part)):
            if events and value not in EVENTS:
                w.warn((*path, part, i), f"unknown event {value!r}; events are {', '.join(EVENTS)}")


def _check_cache(paths: list[str], path: Path, w: _Walker) -> None:
    for i, p in enumerate(paths):
        parts = p.replace("\\", "/").split("/")
        if not p.strip():
            w.error((*path, "paths", i), "must not be empty")
        elif ".." in parts:
            w.error((*path, "paths", i), f"{p!r}: `..` is not allowed in a cache path")
        elif "\x00" in p or "\n" in p:
            w.error((*path, "paths", i), "control characters are not allowed in a cache path")
    _check_cache_mounts(paths, path, w)


def _check_cache_mounts(paths: list[str], path: Path, w: _Walker) -> None:
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
