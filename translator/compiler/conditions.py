"""`when` and the top-level `branch`: Rancher's Constraint.Match with Go's filepath.Match.

Rancher matched globs with Go's `filepath.Match`, where `*` and `?` never cross a `/`
(`feature/*` matches `feature/a`, not `feature/a/b`) and a malformed pattern matches nothing.
Exclude wins; an empty include list matches everything.
"""

from __future__ import annotations

import re
from functools import lru_cache

from translator.api.config_types import Constraint, Constraints


@lru_cache(maxsize=4096)
def _compile(pattern: str) -> re.Pattern[str] | None:
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "\\":
            i += 1
            if i >= len(pattern):
                return None
            out.append(re.escape(pattern[i]))
        elif c == "[":
            end = i + 1
            if end < len(pattern) and pattern[end] == "^":
                end += 1
            if end < len(pattern) and pattern[end] == "]":
                end += 1
            while end < len(pattern) and pattern[end] != "]":
                end += 1
            if end >= len(pattern):
                return None
            body = pattern[i + 1 : end]
            negate = body.startswith("^")
            body = body[1:] if negate else body
            if not body:
                return None
            cls = "".join("\\" + ch if ch in "\\]^[" else ch for ch in body)
            out.append(f"[{'^' if negate else ''}{cls}]")
            i = end
        else:
            out.append(re.escape(c))
        i += 1
    try:
        return re.compile("".join(out) + r"\Z", re.DOTALL)
    except re.error:
        return None


def glob_match(pattern: str, value: str) -> bool:
    """Go's filepath.Match on '/'-separated values."""
    compiled = _compile(pattern)
    return bool(compiled and compiled.match(value))


def constraint_matches(constraint: Constraint | None, value: str) -> bool:
    if constraint is None:
        return True
    if any(glob_match(p, value) for p in constraint.exclude):
        return False
    if not constraint.include:
        return True
    return any(glob_match(p, value) for p in constraint.include)


def when_matches(when: Constraints | None, *, branch: str, event: str) -> tuple[bool, str]:
    """(runs?, why not) for a stage's or step's `when`."""
    if when is None:
        return True, ""
    if not constraint_matches(when.branch, branch):
        return False, f"branch {branch!r} does not match the step's `when.branch`"
    if not constraint_matches(when.event, event):
        return False, f"event {event!r} does not match `when.event`"
    return True, ""
