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
from typing import Any

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


def prune_nulls(value: Any, schema: Schema | None) -> None:
    """defaulting/prunenulls.go PruneNonNullableNullsWithoutDefaults."""
    if isinstance(value, dict):
        for key in list(value):
            _, sub = _child(schema, key)
            if value[key] is None and sub is not None and not sub.get("nullable") and "default" not in sub:
                del value[key]
            else:
                prune_nulls(value[key], sub)
    elif isinstance(value, list):
        for item in value:
            prune_nulls(item, None if schema is None else schema.get("items"))


def default(value: Any, schema: Schema | None) -> None:
    """defaulting/algorithm.go Default: a missing (or null, non-nullable) field gets its default."""
    if schema is None:
        return
    if isinstance(value, dict):
        for key, prop in (schema.get("properties") or {}).items():
            if "default" in prop and (key not in value or (value[key] is None and not prop.get("nullable"))):
                value[key] = copy.deepcopy(prop["default"])
        for key in value:
            declared, sub = _child(schema, key)
            if declared and sub is not None:
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


def validate(value: Any, schema: Schema, path: str = "") -> list[FieldError]:
    """Every error kube-openapi finds in `value`, as field errors (paths like `spec.stages[0].name`)."""
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
        errs += _validate_object(value, schema, path)
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


def _validate_object(value: dict[str, Any], schema: Schema, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if "maxProperties" in schema and len(value) > schema["maxProperties"]:
        errs.append(too_many(path, len(value), int(schema["maxProperties"])))
    if "minProperties" in schema and len(value) < schema["minProperties"]:
        errs.append(invalid(path, value, f"{path} in body should have at least {schema['minProperties']} properties"))
    props = schema.get("properties") or {}
    extra = schema.get("additionalProperties")
    for key, item in value.items():
        if key in props:
            errs += validate(item, props[key], _join(path, key))
        elif isinstance(extra, dict):
            errs += validate(item, extra, _join(path, key))
    for key in schema.get("required") or []:
        if key not in value:
            errs.append(required(_join(path, key)))
    return errs


def list_errors(value: Any, schema: Schema | None, path: str = "") -> list[FieldError]:
    """listtype/validation.go ValidateListSetsAndMaps: no repeated item in an
    `x-kubernetes-list-type: set`, no repeated key in a `map` (the second one is reported)."""
    if schema is None:
        return []
    errs: list[FieldError] = []
    if isinstance(value, dict):
        for key, item in value.items():
            declared, sub = _child(schema, key)
            if declared:
                inner = f"{path}[{key}]" if key not in (schema.get("properties") or {}) else _join(path, key)
                errs += list_errors(item, sub, inner)
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


def apply(obj: dict[str, Any], schema: Schema, *, unknown: list[str]) -> None:
    """Steps 1-3 on a request's object (customresource_handler.go unstructuredSchemaCoercer.apply)."""
    prune(obj, schema, root=True, unknown=unknown)
    prune_nulls(obj, schema)
    default(obj, schema)


__all__ = ["apply", "default", "json_type", "list_errors", "prune", "prune_nulls", "validate"]
