"""JSON values copied, encoded, compared and measured in C (orjson), with the stdlib's answers.

The double stores what it was sent as JSON, and copies, encodes and compares it on every
request; the stdlib's `copy.deepcopy` and `json.dumps` made those copies the world's largest
cost in benchmarks/controller.py. Each function here gives exactly what the stdlib form it
replaces gives, and uses the stdlib whenever orjson could differ:

- `clone(v)` is `copy.deepcopy(v)` for JSON data: an orjson round trip, kept only when orjson
  accepts every value (it refuses integers beyond 64 bits, non-str keys, lone surrogates and,
  with OPT_PASSTHROUGH_SUBCLASS, subclasses of dict, list, str and int) and the copy equals the
  original (a tuple comes back a list, NaN and the infinities come back None: unequal). Two
  differences remain, neither in data that came as JSON: an Enum member is copied as its value,
  and a dict reached twice is copied twice (deepcopy's memo would share one copy).
- `dumps(v)` is the same JSON value as `json.dumps(v)` (compact, UTF-8 rather than \\u escapes:
  a JSON parser reads both alike); the stdlib encodes anything orjson refuses and any value whose
  orjson text holds `null` (orjson writes NaN and the infinities as null, json.dumps as NaN and
  Infinity: a null may have been one of them).
- `same(a, b)` is `json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)`, decided the
  same way (orjson's sorted texts, the stdlib's when orjson refuses either or writes a null).
- `fits(v, limit)` is `len(json.dumps(v, separators=(",", ":")).encode()) <= limit`. No
  character of orjson's compact text becomes more than 6 in the stdlib's (a control character
  or DEL 1 -> 6 as \\u00XX; a UTF-8 sequence of 2-4 bytes -> one or two \\uXXXX, at most 3 per
  byte; a float, at least 3 characters in both, differs by its exponent's form, `1e-07` against
  `1.5e-7` or `0.00001`, never threefold; NaN and the infinities: `NaN`/`Infinity` against
  `null`), so a text of at most limit / 6 bytes fits; a longer one is measured by the stdlib.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import orjson

_OPTIONS = orjson.OPT_PASSTHROUGH_SUBCLASS
_SORTED = orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_SORT_KEYS
_MOST_PER_BYTE = 6  # the stdlib's compact text is at most this many times orjson's (see the docstring)


def _refuse(value: Any) -> Any:  # orjson's `default`: a value it has no form for is refused
    raise TypeError(f"not JSON data: {type(value).__name__}")


def copied(value: Any) -> tuple[Any, bool]:
    """(a deep copy of `value`, plain): `clone`'s copy, and whether orjson made it (then it holds
    only dict, list, str, int, float, bool and None, and no object twice)."""
    try:
        copy_ = orjson.loads(orjson.dumps(value, default=_refuse, option=_OPTIONS))
    except (TypeError, orjson.JSONEncodeError, orjson.JSONDecodeError):
        return copy.deepcopy(value), False
    return (copy_, True) if copy_ == value else (copy.deepcopy(value), False)


def clone(value: Any) -> Any:
    """A deep copy of `value`, equal to `copy.deepcopy(value)` (see the module docstring)."""
    return copied(value)[0]


def text(value: Any) -> bytes | None:
    """orjson's text of `value` when it reads back as an equal value (JSON data, as `clone` checks
    it: two values with one such text are the same JSON value); None for anything else."""
    try:
        data = orjson.dumps(value, default=_refuse, option=_OPTIONS)
        return data if orjson.loads(data) == value else None
    except (TypeError, orjson.JSONEncodeError, orjson.JSONDecodeError):
        return None


def plain_text(value: Any) -> bytes | None:
    """orjson's text of a value known to be plain (see `copied`); None if orjson refuses it."""
    try:
        return orjson.dumps(value, option=_OPTIONS)
    except (TypeError, orjson.JSONEncodeError):
        return None


def read(data: bytes) -> Any:
    """The value of a text `text` or `plain_text` gave: plain, as `copied` makes it."""
    return orjson.loads(data)


def dumps(value: Any) -> bytes:
    """`value` as JSON text: the value `json.dumps(value)` writes, in orjson's compact form."""
    try:
        data = orjson.dumps(value, default=_refuse, option=_OPTIONS)
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(value).encode()
    return json.dumps(value).encode() if b"null" in data else data


def same(a: Any, b: Any) -> bool:
    """Whether `a` and `b` are one JSON value, as their stdlib texts with sorted keys are equal."""
    try:
        left = orjson.dumps(a, default=_refuse, option=_SORTED)
        right = orjson.dumps(b, default=_refuse, option=_SORTED)
    except (TypeError, orjson.JSONEncodeError):
        left = right = b"null"
    if b"null" in left or b"null" in right:
        return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    return left == right


def fits(value: Any, limit: int) -> bool:
    """Whether the stdlib's compact UTF-8 text of `value` is at most `limit` bytes."""
    try:
        if len(orjson.dumps(value, default=_refuse, option=_OPTIONS)) * _MOST_PER_BYTE <= limit:
            return True
    except (TypeError, orjson.JSONEncodeError):
        pass
    return len(json.dumps(value, separators=(",", ":")).encode()) <= limit


__all__ = ["clone", "copied", "dumps", "fits", "plain_text", "read", "same", "text"]
