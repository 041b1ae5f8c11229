"""API errors as the API server writes them: a `Status` with reason, code, message and details.

Callers (the controller, the CLI, kubectl users) read these: `reason` to decide, `message` to
show, `details.causes` to point at a field. The shapes and wordings follow
kubernetes apimachinery v0.34 `pkg/api/errors/errors.go` (NewNotFound, NewAlreadyExists,
NewConflict, NewInvalid, NewBadRequest, NewRequestEntityTooLargeError) and
`pkg/util/validation/field/errors.go` (field.Error, ErrorBody, ErrorList.ToAggregate).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

# apimachinery pkg/util/validation/field/errors.go: ErrorType and its String()
REQUIRED, INVALID, TYPE_INVALID = "FieldValueRequired", "FieldValueInvalid", "FieldValueTypeInvalid"
NOT_SUPPORTED, FORBIDDEN, TOO_LONG, TOO_MANY = ("FieldValueNotSupported", "FieldValueForbidden",
                                                "FieldValueTooLong", "FieldValueTooMany")
DUPLICATE, NOT_FOUND = "FieldValueDuplicate", "FieldValueNotFound"
_WORDS = {REQUIRED: "Required value", INVALID: "Invalid value", TYPE_INVALID: "Invalid value",
          NOT_SUPPORTED: "Unsupported value", FORBIDDEN: "Forbidden", TOO_LONG: "Too long", TOO_MANY: "Too many",
          DUPLICATE: "Duplicate value", NOT_FOUND: "Not found"}
_OMIT = object()


def go_value(value: Any) -> str:
    """A bad value as ErrorBody prints it: %v for numbers and booleans, %q for strings, else JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


@dataclass(frozen=True)
class FieldError:
    """One field.Error: `<field>: <type words>[: <value>][: <detail>]`."""

    type: str
    field: str
    bad_value: Any = ""
    detail: str = ""

    def body(self) -> str:
        # field/errors.go ErrorBody: Required/Forbidden/TooLong print no value
        words = _WORDS[self.type]
        if self.type in (REQUIRED, FORBIDDEN, TOO_LONG) or self.bad_value is _OMIT:
            text = words
        else:
            text = f"{words}: {go_value(self.bad_value)}"
        return f"{text}: {self.detail}" if self.detail else text

    def __str__(self) -> str:
        return f"{self.field}: {self.body()}"


def required(path: str, detail: str = "") -> FieldError:
    return FieldError(REQUIRED, path, "", detail)


def invalid(path: str, value: Any, detail: str) -> FieldError:
    return FieldError(INVALID, path, value, detail)


def field_not_found(path: str, value: Any) -> FieldError:
    return FieldError(NOT_FOUND, path, value)


def type_invalid(path: str, value: Any, detail: str) -> FieldError:
    return FieldError(TYPE_INVALID, path, value, detail)


def not_supported(path: str, value: Any, valid: list[Any]) -> FieldError:
    # field.NotSupported: each allowed value quoted (strconv.Quote of fmt.Sprint)
    quoted = ", ".join(json.dumps(v if isinstance(v, str) else json.dumps(v)) for v in valid)
    return FieldError(NOT_SUPPORTED, path, value, f"supported values: {quoted}" if valid else "")


def duplicate(path: str, value: Any) -> FieldError:
    return FieldError(DUPLICATE, path, value)


def forbidden(path: str, detail: str) -> FieldError:
    return FieldError(FORBIDDEN, path, "", detail)


def too_long(path: str, max_length: int) -> FieldError:
    unit = "byte" if max_length == 1 else "bytes"
    return FieldError(TOO_LONG, path, "", f"may not be more than {max_length} {unit}")


def too_many(path: str, actual: int, max_items: int) -> FieldError:
    unit = "item" if max_items == 1 else "items"
    return FieldError(TOO_MANY, path, actual if actual >= 0 else _OMIT, f"must have at most {max_items} {unit}")


def aggregate(errors: list[FieldError]) -> str:
    """ErrorList.ToAggregate().Error(): duplicates dropped; one error bare, more in brackets."""
    seen: list[str] = []
    for err in errors:
        if str(err) not in seen:
            seen.append(str(err))
    return seen[0] if len(seen) == 1 else "[" + ", ".join(seen) + "]"


@dataclass(eq=False)
class ApiError(Exception):
    """An answer other than success: becomes a `Status` object with this code."""

    code: int
    reason: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    list_continue: str = ""  # an expired list's token to go on with (paging.py)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": "Status", "apiVersion": "v1",
                               "metadata": {"continue": self.list_continue} if self.list_continue else {},
                               "status": "Failure", "message": self.message, "reason": self.reason, "code": self.code}
        if self.details:
            out["details"] = self.details
        return out


def group_resource(group: str, plural: str) -> str:
    """schema.GroupResource.String(): `configmaps`, `pipelines.devops.cubepaas.io`."""
    return f"{plural}.{group}" if group else plural


def _details(group: str, kind: str, name: str) -> dict[str, Any]:
    return {k: v for k, v in (("name", name), ("group", group), ("kind", kind)) if v}


def not_found(group: str, plural: str, name: str) -> ApiError:
    # errors.go NewNotFound: details.kind is the resource (plural), not the Kind
    return ApiError(404, "NotFound", f'{group_resource(group, plural)} "{name}" not found',
                    _details(group, plural, name))


def already_exists(group: str, plural: str, name: str) -> ApiError:
    return ApiError(409, "AlreadyExists", f'{group_resource(group, plural)} "{name}" already exists',
                    _details(group, plural, name))


# apiserver pkg/storage/errors.go: OptimisticLockErrorMsg
MODIFIED = "the object has been modified; please apply your changes to the latest version and try again"


def conflict(group: str, plural: str, name: str, why: str = MODIFIED) -> ApiError:
    return ApiError(409, "Conflict", f'Operation cannot be fulfilled on {group_resource(group, plural)} "{name}": '
                    f"{why}", _details(group, plural, name))


def invalid_object(group: str, kind: str, name: str, errors: list[FieldError]) -> ApiError:
    """errors.go NewInvalid: 422, `<Kind>[.<group>] "<name>" is invalid: <aggregate>`, one cause per error."""
    qualified = f"{kind}.{group}" if group else kind
    details = {**_details(group, kind, name),
               "causes": [{"reason": e.type, "message": e.body(), "field": e.field} for e in errors]}
    return ApiError(422, "Invalid", f'{qualified} "{name}" is invalid: {aggregate(errors)}', details)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


__all__ = ["ApiError", "FieldError", "already_exists", "bad_request", "conflict", "duplicate", "field_not_found",
           "forbidden", "invalid", "invalid_object", "not_found", "not_supported", "required", "too_long", "too_many",
           "type_invalid"]
