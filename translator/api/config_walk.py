"""The walk beside the models: raw YAML data decoded the way Rancher's Go decoder did.

Rancher read pipeline files with go-yaml v2 into the structs of
`pkg/apis/project.cattle.io/v3/pipeline_types.go`; this walk reproduces that decoding on
the raw data before pydantic sees it, and reports what Go would have refused in our words,
with the line:

- unknown keys were dropped silently: each is a warning here, with the likely intended place;
- a `string` field took any scalar as written (`1.10` is "1.10", `yes` is "yes"); null is "";
- `include`, `exclude` and `notification.condition` are `stringorslice`: one string or a list;
  a Constraint is a string, a list (both: `include`) or the mapping;
- a `bool` field took only YAML booleans (go-yaml also reads `y`/`n` as booleans); a quoted
  "true" or a number was a decoding error that refused the whole file;
- an `int` field (`timeout`) took integers and truncated floats (`1.5` is 1, which we warn
  about); a string, a boolean or a number beyond int64 refused the file; `timeout` 0 or less
  meant the default (Rancher: `if Timeout > 0`);
- no string may hold a NUL: no container can be given one (argv, env and files are C strings
  to the runtime).

Nothing here changes the input: it builds a cleaned copy.
"""

from __future__ import annotations

import difflib
import math
import types
import typing
from typing import Any

from pydantic import BaseModel, BeforeValidator

from translator.api.config_types import PipelineConfig, Stage, Step, StepType, one_or_many
from translator.api.findings import Finding, Severity
from translator.api.yaml_source import Path, SourceDocument, format_path

MAX_TIMEOUT_MINUTES = (2**63 - 1) // 60  # activeDeadlineSeconds is an int64 of seconds
DEFAULT_TIMEOUT = PipelineConfig.model_fields["timeout"].default
_GO_BOOLS = {"y": True, "Y": True, "n": False, "N": False}  # go-yaml v2 resolve.go; PyYAML reads them as strings

STEP_TYPE_KEYS = {t.value for t in StepType}


def fields_by_alias(model: type[BaseModel]) -> dict[str, str]:
    return {(f.alias or name): name for name, f in model.model_fields.items()}


def unwrap_optional(annotation: Any) -> Any:
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation


def step_config_models() -> dict[str, type[BaseModel]]:
    out = {}
    for name, f in Step.model_fields.items():
        alias = f.alias or name
        if alias in STEP_TYPE_KEYS:
            out[alias] = unwrap_optional(f.annotation)
    return out


_STEP_CONFIG_MODELS = step_config_models()
_STEP_LEVEL_KEYS = set(fields_by_alias(Step)) - STEP_TYPE_KEYS
_STEP_CONFIG_FIELDS: dict[str, set[str]] = {}
for _cfg, _model in _STEP_CONFIG_MODELS.items():
    for _alias in fields_by_alias(_model):
        _STEP_CONFIG_FIELDS.setdefault(_alias, set()).add(_cfg)


def _one_or_many(field: Any) -> bool:
    return any(isinstance(m, BeforeValidator) and m.func is one_or_many for m in field.metadata)


class Walker:
    """Walks raw data beside the model classes, recording findings with lines."""

    def __init__(self, doc: SourceDocument, findings: list[Finding]) -> None:
        self.doc = doc
        self.findings = findings

    def _add(self, severity: Severity, path: Path, message: str) -> None:
        self.findings.append(Finding(severity, format_path(path), message, self.doc.line_of(path)))

    def error(self, path: Path, message: str) -> None:
        self._add(Severity.ERROR, path, message)

    def warn(self, path: Path, message: str) -> None:
        self._add(Severity.WARNING, path, message)

    def normalize(self, value: Any, annotation: Any, path: Path) -> Any:
        annotation = unwrap_optional(annotation)
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
            return self.string(value, path)
        return value

    def string(self, value: Any, path: Path) -> Any:
        if isinstance(value, bool | int | float):
            raw = self.doc.raw_text(path)
            return raw if raw is not None else (str(value).lower() if isinstance(value, bool) else str(value))
        if isinstance(value, str) and "\x00" in value:
            self.error(path, "contains a NUL character, which no container can be given")
        return value

    def _bool(self, value: Any, path: Path) -> Any:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value in _GO_BOOLS:
            return _GO_BOOLS[value]
        shown = type(value).__name__ if isinstance(value, dict | list) else repr(value)
        self.error(path, f"must be true or false, got {shown}")
        return _DROP

    def _timeout(self, value: Any, path: Path) -> Any:
        shown = type(value).__name__ if isinstance(value, dict | list) else repr(value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.error(path, f"must be a whole number of minutes, got {shown}")
            return _DROP
        if isinstance(value, float):
            if not math.isfinite(value) or abs(value) > MAX_TIMEOUT_MINUTES:
                self.error(path, f"{self.doc.raw_text(path) or value} minutes is more than a run can be given "
                                 f"(at most {MAX_TIMEOUT_MINUTES:,})")
                return _DROP
            if value != int(value):
                self.warn(path, f"{self.doc.raw_text(path) or value} is not a whole number of minutes; "
                                f"{int(value)} is used, as Rancher's decoder truncated it")
            value = int(value)
        if value > MAX_TIMEOUT_MINUTES:
            self.error(path, f"{value} minutes is more than a run can be given (at most {MAX_TIMEOUT_MINUTES:,}: "
                             "Kubernetes holds a deadline as int64 seconds)")
            return _DROP
        if value <= 0:
            self.warn(path, f"a timeout of {value} means the default, {DEFAULT_TIMEOUT} minutes, as in Rancher")
            return _DROP
        return value

    def _model(self, value: Any, model: type[BaseModel], path: Path) -> Any:
        from translator.api.config_types import Constraint

        if model is Constraint and isinstance(value, str | bool | int | float):
            return {"include": [self.string(value, path)]}
        if model is Constraint and isinstance(value, list):
            return {"include": [self.string(v, (*path, i)) for i, v in enumerate(value)]}
        if not isinstance(value, dict):
            return value
        known = fields_by_alias(model)
        out: dict[str, Any] = {}
        for key, item in value.items():
            key_s = str(key)
            child = (*path, key_s)
            name = known.get(key_s) or (key_s if key_s in model.model_fields else None)
            if name is None:
                self.warn(child, self._unknown_key_message(key_s, model, value, path))
                continue
            if item is None and not (model is Step and key_s in STEP_TYPE_KEYS):
                continue  # `notification:` with nothing under it means "not set"
            field = model.model_fields[name]
            annotation = unwrap_optional(field.annotation)
            if _one_or_many(field) and isinstance(item, str | bool | int | float):
                cleaned: Any = [self.string(item, child)]
            elif annotation is bool:
                cleaned = self._bool(item, child)
            elif model is PipelineConfig and name == "timeout":
                cleaned = self._timeout(item, child)
            else:
                cleaned = self.normalize(item, field.annotation, child)
            if cleaned is not _DROP:
                out[key_s] = cleaned
        return out

    def _unknown_key_message(self, key: str, model: type[BaseModel], siblings: dict[Any, Any],
                             path: Path) -> str:
        base = f"unknown key `{key}`, ignored as Rancher did"
        here = format_path(path)
        if model is Step and key == "name" and StepType.APPLY_APP.value not in siblings:
            if not STEP_TYPE_KEYS & set(siblings):
                return f"{base}; steps have no name: this looks like a stage written inside `steps`"
            return f"{base}; steps have no name in this format (the stage has one)"
        if model is Step and key in _STEP_CONFIG_FIELDS:
            present = [c for c in _STEP_CONFIG_FIELDS[key] if c in siblings]
            target = sorted(present or _STEP_CONFIG_FIELDS[key])
            return f"{base}; it belongs inside {' or '.join(target)} (indent it under that key)"
        if model in _STEP_CONFIG_MODELS.values():
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
        known = sorted(fields_by_alias(model))
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.75) or [
            k for k in known if len(key) >= 4 and k.lower().startswith(key.lower())
        ][:1]
        if close:
            return f"{base}; did you mean `{close[0]}`?"
        return f"{base}; known keys here: {', '.join(known)}"


_DROP = object()  # a value already reported: left out so pydantic does not report it again


def pydantic_message(err: Any) -> str:
    """One pydantic error in our words: what the value must be, never pydantic's own text or URL."""
    kind = err["type"]
    got = err.get("input")
    shown = type(got).__name__ if isinstance(got, dict | list) else repr(got)
    expected = {
        "string_type": "a string", "int_type": "a whole number", "int_parsing": "a whole number",
        "int_from_float": "a whole number", "bool_type": "true or false", "bool_parsing": "true or false",
        "float_type": "a number", "float_parsing": "a number", "list_type": "a list", "dict_type": "a mapping",
        "model_type": "a mapping", "model_attributes_type": "a mapping", "enum": "one of the allowed values",
    }
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        return "unknown key"
    if kind in expected:
        return f"must be {expected[kind]}, got {shown}"
    ctx = err.get("ctx") or {}
    bounds = {"greater_than_equal": ("at least", "ge"), "greater_than": ("more than", "gt"),
              "less_than_equal": ("at most", "le"), "less_than": ("less than", "lt")}
    if kind in bounds:
        word, key = bounds[kind]
        return f"must be {word} {ctx.get(key)}, got {shown}"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected', 'the allowed values')}, got {shown}"
    msg = str(err.get("msg") or kind)
    return msg.replace("Input should be", "must be").replace("Value error, ", "") + f", got {shown}"
