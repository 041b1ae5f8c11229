"""A CRD's structural schema applied to a request's object, in the API server's order.

1. prune: fields the schema does not declare are dropped, silently (reported as "unknown
   field" warnings; refused with 400 under `fieldValidation=Strict`), except under
   `x-kubernetes-preserve-unknown-fields`;
2. nulls of non-nullable fields without a default are dropped;
3. defaults fill what is missing;
4. validate: type, required, enum, pattern, min/maxLength, minimum/maximum, min/maxItems,
   uniqueItems, min/maxProperties, `x-kubernetes-int-or-string`, with kube-openapi's messages
   turned into field errors the way the API server turns them.

Sources: kubernetes apiextensions-apiserver v0.34 `pkg/apiserver/schema/pruning/algorithm.go`
(prune, skipPrune), `pkg/apiserver/schema/defaulting/prunenulls.go` and `algorithm.go`,
`pkg/apiserver/customresource_handler.go` (unstructuredSchemaCoercer.apply: the order),
`pkg/apiserver/validation/validation.go` (kubeOpenAPIResultToFieldErrors,
ConvertJSONSchemaPropsWithPostProcess: int-or-string is type `integer,string`); kube-openapi
`pkg/validation/validate` (object, slice, string, numeric, type validators) and
`pkg/validation/errors/schema.go` (the message formats). Ratcheting (CRDValidationRatcheting,
default on from 1.30) is not modelled: an update is validated whole, as 1.29 does.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections import OrderedDict
from typing import Any

from tests.kube_double import jsonvalue
from tests.kube_double.errors import (
    FieldError,
    duplicate,
    invalid,
    not_supported,
    required,
    too_long,
    too_many,
    type_invalid,
)

Schema = dict[str, Any]
_META = ("apiVersion", "kind", "metadata")


class Memo:
    """What the steps found for the top-level fields of a resource's objects, by each field's JSON
    text. The Argo simulator writes a Workflow (no status subresource) many times with one
    unchanged spec of ~4 KB, and pruning, defaulting and validating it again was most of the
    double's CPU. Each step is a function of (value, schema, path) alone, so a field seen before
    gets the same answer: its coerced text and unknown fields (`apply`), or "no errors"
    (`validate`, `list_errors`: errors are not kept, a field with errors is checked again).
    A text is kept the second time it is seen (metadata and status change on every write: seen
    once, they never push out what repeats); at most `size`, the least recently used go first."""

    def __init__(self, size: int = 2048) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[str, int, str, bytes], tuple[Schema, Any]] = OrderedDict()
        self._once: set[int] = set()  # hashes of keys seen once
        self._lock = threading.Lock()

    def get(self, step: str, schema: Schema, path: str, text: bytes) -> Any:
        key = (step, id(schema), path, text)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] is not schema:
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, step: str, schema: Schema, path: str, text: bytes, found: Any) -> None:
        key = (step, id(schema), path, text)
        with self._lock:
            if hash(key) not in self._once:
                if len(self._once) >= 8 * self.size:
                    self._once.clear()
                self._once.add(hash(key))
                return
            self._entries[key] = (schema, found)  # the schema itself, so a reused id never matches
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _child(schema: Schema | None, key: str) -> tuple[bool, Schema | None]:
    """(declared, schema) of `key` under an object schema: a property, else additionalProperties."""
    if schema is None:
        return False, None
    props = schema.get("properties") or {}
    if key in props:
        return True, props[key]
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        return True, extra
    return False, None


def prune(value: Any, schema: Schema | None, *, root: bool = False, path: str = "",
          unknown: list[str] | None = None) -> None:
    """pruning/algorithm.go prune: drop what `schema` does not declare (the root keeps apiVersion,
    kind and metadata, as an x-kubernetes-embedded-resource)."""
    unknown = [] if unknown is None else unknown
    if schema is not None and schema.get("x-kubernetes-preserve-unknown-fields"):
        _skip_prune(value, schema, path=path, unknown=unknown)
        return
    if isinstance(value, dict):
        for key in list(value):
            if root and key in _META:
                continue
            declared, sub = _child(schema, key)
            if declared:
                prune(value[key], sub, path=_join(path, key), unknown=unknown)
            else:
                unknown.append(_join(path, key))
                del value[key]
    elif isinstance(value, list):
        for i, item in enumerate(value):
            prune(item, None if schema is None else schema.get("items"), path=f"{path}[{i}]", unknown=unknown)


def _skip_prune(value: Any, schema: Schema, *, path: str, unknown: list[str]) -> None:
    # algorithm.go skipPrune: keep unknown fields, still prune inside the declared ones
    if isinstance(value, dict):
        for key in list(value):
            declared, sub = _child(schema, key)
            if declared and sub is not None:
                prune(value[key], sub, path=_join(path, key), unknown=unknown)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            _skip_prune(item, schema["items"], path=f"{path}[{i}]", unknown=unknown)


def prune_nulls(value: Any, schema: Schema | None, *, done: frozenset[str] | set[str] = frozenset()) -> None:
    """defaulting/prunenulls.go PruneNonNullableNullsWithoutDefaults (`done`: fields of `value`
    whose own subtree was already through it)."""
    if isinstance(value, dict):
        for key in list(value):
            _, sub = _child(schema, key)
            if value[key] is None and sub is not None and not sub.get("nullable") and "default" not in sub:
                del value[key]
            elif key not in done:
                prune_nulls(value[key], sub)
    elif isinstance(value, list):
        for item in value:
            prune_nulls(item, None if schema is None else schema.get("items"))


def default(value: Any, schema: Schema | None, *, done: frozenset[str] | set[str] = frozenset()) -> None:
    """defaulting/algorithm.go Default: a missing (or null, non-nullable) field gets its default
    (`done`: fields of `value`, none null, whose own subtree was already through it)."""
    if schema is None:
        return
    if isinstance(value, dict):
        for key, prop in (schema.get("properties") or {}).items():
            if "default" in prop and (key not in value or (value[key] is None and not prop.get("nullable"))):
                value[key] = copy.deepcopy(prop["default"])
        for key in value:
            declared, sub = _child(schema, key)
            if declared and sub is not None and key not in done:
                if value[key] is None and not sub.get("nullable") and "default" in sub:
                    value[key] = copy.deepcopy(sub["default"])
                default(value[key], sub)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            if item is None and not schema["items"].get("nullable") and "default" in schema["items"]:
                value[i] = copy.deepcopy(schema["items"]["default"])
            default(value[i], schema["items"])


def json_type(value: Any) -> str:
    """validate/type.go schemaInfoForType, for JSON values."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _types(schema: Schema) -> list[str]:
    if schema.get("x-kubernetes-int-or-string"):
        return ["integer", "string"]
    return [schema["type"]] if schema.get("type") else []


def _type_ok(value: Any, types: list[str]) -> bool:
    kind = json_type(value)
    if kind in types:
        return True
    if kind == "number" and "integer" in types and float(value).is_integer():  # isFloatInt
        return True
    return kind == "integer" and "number" in types  # isIntFloat


def _number(n: Any) -> str:
    return str(int(n)) if isinstance(n, float) and n.is_integer() else str(n)


def _checked(step: str, check: Any, value: Any, schema: Schema, path: str, memo: Memo | None) -> list[FieldError]:
    """`check(value, schema, path)`, or [] at once when `memo` saw that field's text pass it."""
    text = jsonvalue.text(value) if memo is not None and isinstance(value, dict | list) else None
    if memo is None or text is None:
        return check(value, schema, path)  # type: ignore[no-any-return]
    if memo.get(step, schema, path, text):
        return []
    errs: list[FieldError] = check(value, schema, path)
    if not errs:
        memo.put(step, schema, path, text, True)
    return errs


def validate(value: Any, schema: Schema, path: str = "", *, memo: Memo | None = None) -> list[FieldError]:
    """Every error kube-openapi finds in `value`, as field errors (paths like `spec.stages[0].name`);
    `memo`: for the fields of `value` (not deeper), what was found before (see Memo)."""
    errs: list[FieldError] = []
    name = path or "."
    types = _types(schema)
    if value is None:
        if types and not schema.get("nullable"):
            errs.append(type_invalid(path, "null", f'{name} in body must be of type {",".join(types)}: "null"'))
        return errs
    if types and not _type_ok(value, types):
        kind = json_type(value)
        errs.append(type_invalid(path, kind, f'{name} in body must be of type {",".join(types)}: "{kind}"'))
    if "enum" in schema and value not in schema["enum"]:  # commonValidator, whatever the type
        errs.append(not_supported(path, value, schema["enum"]))
    if isinstance(value, str):
        errs += _validate_string(value, schema, path)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        errs += _validate_number(value, schema, path)
    elif isinstance(value, list):
        errs += _validate_array(value, schema, path)
    elif isinstance(value, dict):
        errs += _validate_object(value, schema, path, memo)
    return errs


def _validate_string(value: str, schema: Schema, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if "maxLength" in schema and len(value) > schema["maxLength"]:  # runes, as utf8.RuneCountInString
        errs.append(too_long(path, int(schema["maxLength"])))
    if "minLength" in schema and len(value) < schema["minLength"]:
        errs.append(invalid(path, value, f"{path} in body should be at least {schema['minLength']} chars long"))
    if "pattern" in schema and not re.search(schema["pattern"], value):
        errs.append(invalid(path, value, f"{path} in body should match '{schema['pattern']}'"))
    return errs


def _validate_number(value: float, schema: Schema, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if "maximum" in schema:
        top, exclusive = schema["maximum"], schema.get("exclusiveMaximum", False)
        if value > top or (exclusive and value == top):
            words = "less than" if exclusive else "less than or equal to"
            errs.append(invalid(path, value, f"{path} in body should be {words} {_number(top)}"))
    if "minimum" in schema:
        low, exclusive = schema["minimum"], schema.get("exclusiveMinimum", False)
        if value < low or (exclusive and value == low):
            words = "greater than" if exclusive else "greater than or equal to"
            errs.append(invalid(path, value, f"{path} in body should be {words} {_number(low)}"))
    if "multipleOf" in schema and value % schema["multipleOf"]:
        errs.append(invalid(path, value, f"{path} in body should be a multiple of {_number(schema['multipleOf'])}"))
    return errs


def _validate_array(value: list[Any], schema: Schema, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        errs.append(too_many(path, len(value), int(schema["maxItems"])))
    if "minItems" in schema and len(value) < schema["minItems"]:
        errs.append(invalid(path, value, f"{path} in body should have at least {schema['minItems']} items"))
    if schema.get("uniqueItems") and len({json.dumps(v, sort_keys=True) for v in value}) != len(value):
        errs.append(invalid(path, value, f"{path} in body shouldn't contain duplicates"))
    if isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            errs += validate(item, schema["items"], f"{path}[{i}]")
    return errs


def _validate_object(value: dict[str, Any], schema: Schema, path: str, memo: Memo | None = None) -> list[FieldError]:
    errs: list[FieldError] = []
    if "maxProperties" in schema and len(value) > schema["maxProperties"]:
        errs.append(too_many(path, len(value), int(schema["maxProperties"])))
    if "minProperties" in schema and len(value) < schema["minProperties"]:
        errs.append(invalid(path, value, f"{path} in body should have at least {schema['minProperties']} properties"))
    props = schema.get("properties") or {}
    extra = schema.get("additionalProperties")
    for key, item in value.items():
        if key in props:
            errs += _checked("validate", validate, item, props[key], _join(path, key), memo)
        elif isinstance(extra, dict):
            errs += _checked("validate", validate, item, extra, _join(path, key), memo)
    for key in schema.get("required") or []:
        if key not in value:
            errs.append(required(_join(path, key)))
    return errs


def list_errors(value: Any, schema: Schema | None, path: str = "", *, memo: Memo | None = None) -> list[FieldError]:
    """listtype/validation.go ValidateListSetsAndMaps: no repeated item in an
    `x-kubernetes-list-type: set`, no repeated key in a `map` (the second one is reported);
    `memo` as for `validate`."""
    if schema is None:
        return []
    errs: list[FieldError] = []
    if isinstance(value, dict):
        for key, item in value.items():
            declared, sub = _child(schema, key)
            if declared and sub is not None:
                inner = f"{path}[{key}]" if key not in (schema.get("properties") or {}) else _join(path, key)
                errs += _checked("list", list_errors, item, sub, inner, memo)
    elif isinstance(value, list):
        kind = schema.get("x-kubernetes-list-type")
        if kind == "map" and any(item is not None and not isinstance(item, dict) for item in value):
            bad = next(i for i, item in enumerate(value) if item is not None and not isinstance(item, dict))
            return [invalid(f"{path}[{bad}]", value[bad], "must be an object for an array of list-type map")]
        if kind in ("set", "map"):
            keys = schema.get("x-kubernetes-list-map-keys") or []
            seen: dict[str, int] = {}
            for i, item in enumerate(value):
                key: Any = item if kind == "set" else {k: item[k] for k in keys if isinstance(item, dict) and k in item}
                text = json.dumps(key, sort_keys=True)
                seen[text] = seen.get(text, 0) + 1
                if seen[text] == 2:
                    errs.append(duplicate(f"{path}[{i}]", key))
        for i, item in enumerate(value):
            errs += list_errors(item, schema.get("items"), f"{path}[{i}]")
    return errs


def apply(obj: dict[str, Any], schema: Schema, *, unknown: list[str], memo: Memo | None = None) -> None:
    """Steps 1-3 on a request's object (customresource_handler.go unstructuredSchemaCoercer.apply).

    With `memo` (`obj` plain, as jsonvalue.copied makes it), each declared top-level field but
    apiVersion, kind and metadata goes through the three steps at once, its text looked up first
    (see Memo); then the steps' work at the top level itself. The same as the three passes one
    after the other: each step changes only the subtree it is given, so the fields' turns commute."""
    if memo is None or schema.get("x-kubernetes-preserve-unknown-fields"):
        prune(obj, schema, root=True, unknown=unknown)
        prune_nulls(obj, schema)
        default(obj, schema)
        return
    done: set[str] = set()
    for key in list(obj):
        if key in _META:
            continue  # kept as they are (prune at the root); their nulls and defaults below
        declared, sub = _child(schema, key)
        if not declared or sub is None:
            unknown.append(key)
            del obj[key]
        elif isinstance(obj[key], dict | list):
            obj[key] = _coerced(obj[key], sub, key, unknown, memo)
            done.add(key)
    prune_nulls(obj, schema, done=done)
    default(obj, schema, done=done)


def _coerced(value: Any, schema: Schema, path: str, unknown: list[str], memo: Memo) -> Any:
    """A plain top-level field through steps 1-3: the answer kept for its text, else worked out."""
    text = jsonvalue.plain_text(value)
    found = memo.get("apply", schema, path, text) if text is not None else None
    if found is not None:
        unknown.extend(found[1])
        return jsonvalue.read(found[0])
    own: list[str] = []
    prune(value, schema, path=path, unknown=own)
    prune_nulls(value, schema)
    default(value, schema)
    unknown.extend(own)
    result = jsonvalue.text(value)  # None when a default brought in what is not JSON data (a YAML date)
    if text is not None and result is not None:
        memo.put("apply", schema, path, text, (result, tuple(own)))
    return value


__all__ = ["Memo", "apply", "default", "json_type", "list_errors", "prune", "prune_nulls", "validate"]
