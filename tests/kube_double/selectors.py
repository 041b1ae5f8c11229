"""Label and field selectors, as list and watch requests filter with them.

Label selectors follow apimachinery `pkg/labels/selector.go`: its lexer (identifiers end at
whitespace or one of `=!(),<>`; `in` and `notin` are keywords), its parser (requirements joined
by `,`: `k`, `!k`, `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a)`, `k>1`, `k<1`; `()` and an
empty `k=` are the empty value) and `Requirement.Matches` (`in`/`=` need the key; `notin`/`!=`
match where it is absent; `>`/`<` compare integers and fail on a non-integer label). Keys must
be qualified names and values label values (`validateLabelKey`, `validateLabelValue`); any
parse error is the apiserver's 400 "unable to parse requirement". Field selectors compare a
dotted path's value as a string (`metadata.name=x`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tests.kube_double.errors import ApiError

Labels = dict[str, str]
_SPECIAL = "=!(),<>"
_OPERATORS = ("!=", "==", "=", "!", "(", ")", ",", ">", "<")  # selector.go string2token, longest first
_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")  # validation.IsQualifiedName's name part
_DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def _lex(text: str) -> list[str]:
    """selector.go Lexer.Lex: identifiers, keywords and operators; whitespace between them dropped."""
    tokens, pos = [], 0
    while pos < len(text):
        ch = text[pos]
        if ch in " \t\r\n":
            pos += 1
        elif ch in _SPECIAL:
            op = next(o for o in _OPERATORS if text.startswith(o, pos))
            tokens.append(op)
            pos += len(op)
        else:
            end = pos
            while end < len(text) and text[end] not in _SPECIAL and text[end] not in " \t\r\n":
                end += 1
            tokens.append(text[pos:end])
            pos = end
    return tokens


def _is_identifier(token: str | None) -> bool:
    """In value context `in` and `notin` are identifiers too (selector.go Parser.lookahead)."""
    return token is not None and token not in _OPERATORS


def _bad(message: str) -> ApiError:
    return ApiError(400, "BadRequest", f"unable to parse requirement: {message}")


def _check_key(key: str) -> None:
    """validation.IsQualifiedName: [prefix/]name, prefix a DNS subdomain (<= 253), name <= 63."""
    prefix, _, name = key.rpartition("/")
    if ("/" in key and (not prefix or len(prefix) > 253 or not _DNS1123.match(prefix))) \
            or len(name) > 63 or not _NAME.match(name):
        raise _bad(f"key: Invalid value: {key!r}: name part must consist of alphanumeric characters, '-', '_' "
                   "or '.', and must start and end with an alphanumeric character")


def _check_value(value: str) -> None:
    """validation.IsValidLabelValue: empty, or a name of at most 63 characters."""
    if value and (len(value) > 63 or not _NAME.match(value)):
        raise _bad(f"values: Invalid value: {value!r}: a valid label must be an empty string or consist of "
                   "alphanumeric characters, '-', '_' or '.'")


def _requirement(key: str, op: str, values: set[str]) -> Callable[[Labels], bool]:
    """selector.go Requirement.Matches."""
    if op in ("in", "=", "=="):
        return lambda lab: key in lab and lab[key] in values
    if op in ("notin", "!="):
        return lambda lab: key not in lab or lab[key] not in values
    if op == "exists":
        return lambda lab: key in lab
    if op == "!":
        return lambda lab: key not in lab
    bound = int(next(iter(values)))

    def compare(lab: Labels) -> bool:
        try:
            have = int(lab[key])
        except (KeyError, ValueError):
            return False  # absent, or not an integer: no match
        return have > bound if op == ">" else have < bound

    return compare


def _values(tokens: list[str], pos: int) -> tuple[set[str], int]:
    """selector.go parseValues / parseIdentifiersList: `(a,b)`; `()`, `(,` and `,)` give the empty value."""
    if pos >= len(tokens) or tokens[pos] != "(":
        raise _bad(f"found {tokens[pos] if pos < len(tokens) else ''!r} expected: '('")
    pos += 1
    values: set[str] = set()
    if pos < len(tokens) and tokens[pos] == ")":
        return {""}, pos + 1
    expect_value = True
    while pos < len(tokens):
        tok = tokens[pos]
        if tok == ")":
            if expect_value:
                values.add("")
            return values, pos + 1
        if tok == ",":
            if expect_value:
                values.add("")
            expect_value = True
        elif _is_identifier(tok) and expect_value:
            values.add(tok)
            expect_value = False
        else:
            raise _bad(f"found {tok!r}, expected: ',', or identifier")
        pos += 1
    raise _bad("found '', expected: ')'")


def label_matcher(text: str) -> Callable[[Labels], bool]:
    """A label selector as a predicate on a labels dict (the empty selector matches everything)."""
    tokens = _lex(text or "")
    checks: list[Callable[[Labels], bool]] = []
    pos = 0
    while pos < len(tokens):
        negated = tokens[pos] == "!"
        pos += negated
        key = tokens[pos] if pos < len(tokens) else ""
        if not _is_identifier(key or None):
            raise _bad(f"found {key!r}, expected: identifier")
        _check_key(key)
        pos += 1
        following = tokens[pos] if pos < len(tokens) else None
        if following in (None, ","):
            checks.append(_requirement(key, "!" if negated else "exists", set()))
        elif negated:
            raise _bad(f"found {following!r}, expected: ',' or 'end of string'")
        elif following in ("in", "notin"):
            values, pos = _values(tokens, pos + 1)
            for value in values:
                _check_value(value)
            checks.append(_requirement(key, following, values))
        elif following in ("=", "==", "!=", ">", "<"):
            pos += 1
            value = ""
            if pos < len(tokens) and tokens[pos] != ",":
                if not _is_identifier(tokens[pos]):
                    raise _bad(f"found {tokens[pos]!r}, expected: identifier")
                value, pos = tokens[pos], pos + 1
            if following in (">", "<") and not re.fullmatch(r"[-+]?\d+", value):
                raise _bad(f"values[0]: Invalid value: {value!r}: for 'Gt', 'Lt' operators, the value must be "
                           "an integer")
            _check_value(value)
            checks.append(_requirement(key, following, {value}))
        else:
            raise _bad(f"found {following!r}, expected: =, !=, ==, in, notin, >, <")
        if pos < len(tokens):
            if tokens[pos] != ",":
                raise ApiError(400, "BadRequest", f"found {tokens[pos]!r}, expected: ',' or 'end of string'")
            pos += 1
            if pos >= len(tokens) or not (_is_identifier(tokens[pos]) or tokens[pos] == "!"):
                raise ApiError(400, "BadRequest", "found '', expected: identifier after ','")
    return lambda labels: all(check(labels) for check in checks)


def field_matcher(text: str) -> Callable[[dict[str, Any]], bool]:
    checks = []
    for term in (text or "").split(","):
        if not term.strip():
            continue
        m = re.match(r"^\s*([A-Za-z0-9.]+)\s*(==|=|!=)\s*(.*?)\s*$", term)
        if not m:
            raise ApiError(400, "BadRequest", f"invalid field selector {term!r}")
        path, op, value = m.groups()

        def get(obj: dict[str, Any], path: str = path) -> Any:
            cur: Any = obj
            for part in path.split("."):
                cur = cur.get(part) if isinstance(cur, dict) else None
            return "" if cur is None else str(cur)

        checks.append((lambda g, v, o: lambda obj: (g(obj) == v) == (o != "!="))(get, value, op))
    return lambda obj: all(c(obj) for c in checks)


def selector(label_selector: str, field_selector: str) -> Callable[[dict[str, Any]], bool]:
    labels, fields = label_matcher(label_selector), field_matcher(field_selector)
    return lambda obj: labels(obj["metadata"].get("labels") or {}) and fields(obj)
