"""Label and field selectors, as list and watch requests filter with them.

Equality (`a=b`, `a==b`, `a!=b`), set (`a in (x,y)`, `a notin (x)`) and existence (`a`, `!a`)
requirements, comma-joined, following apimachinery `pkg/labels/selector.go` Parse; field
selectors compare a dotted path's value as a string (`metadata.name=x`).
"""

from __future__ import annotations

import re
from typing import Any

from tests.kube_double.errors import ApiError

_SET_TERM = re.compile(r"^\s*(!?)([A-Za-z0-9./_-]+)\s*(?:(in|notin)\s*\(([^)]*)\)|(==|=|!=)\s*([A-Za-z0-9._-]*))?\s*$")


def _split_terms(text: str) -> list[str]:
    terms, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        terms.append(cur)
    return terms


def label_matcher(text: str) -> Any:
    """A label selector (`a=b,c!=d,e in (f,g),!h,i`) as a predicate on a labels dict."""
    checks = []
    for term in _split_terms(text or ""):
        m = _SET_TERM.match(term)
        if not m:
            raise ApiError(400, "BadRequest", f"unable to parse requirement: {term!r}")
        neg, key, setop, values, op, value = m.groups()
        if setop:
            vals = {v.strip() for v in values.split(",") if v.strip()}
            checks.append((lambda k, vs, o: lambda lab: (lab.get(k) in vs) == (o == "in")
                           if k in lab or o == "in" else True)(key, vals, setop))
        elif op:
            checks.append((lambda k, want, o: lambda lab: (lab.get(k) == want) == (o != "!="))(key, value, op))
        else:
            checks.append((lambda k, n: lambda lab: (k in lab) != bool(n))(key, neg))
    return lambda labels: all(c(labels) for c in checks)


def field_matcher(text: str) -> Any:
    checks = []
    for term in _split_terms(text or ""):
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


def selector(label_selector: str, field_selector: str) -> Any:
    labels, fields = label_matcher(label_selector), field_matcher(field_selector)
    return lambda obj: labels(obj["metadata"].get("labels") or {}) and fields(obj)


