"""`when` and the top-level `branch`: Rancher's Constraint.Match with Go's filepath.Match.

Rancher matched globs with Go's `filepath.Match`, where `*` and `?` never cross a `/`
(`feature/*` matches `feature/a`, not `feature/a/b`) and a malformed pattern matches nothing.
Exclude wins; an empty include list matches everything.
"""

from __future__ import annotations

from translator.api import globs
from translator.api.config_types import Constraint, Constraints


def glob_match(pattern: str, value: str) -> bool:
    """Go's filepath.Match on '/'-separated values; a malformed pattern matches nothing."""
    try:
        return globs.match(pattern, value)
    except globs.BadPattern:
        return False


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
