"""Go's `path/filepath.Match`, which Rancher matched `when` and `branch` globs with.

`*` and `?` never cross a `/` (`feature/*` matches `feature/a`, not `feature/a/b`);
`[...]` classes take ranges and `^` to negate, `\\` escapes. A malformed pattern is
`ErrBadPattern`, which Rancher's Constraint.Includes/Excludes ignored (`ok, _ :=
filepath.Match(...)`): such a pattern matches nothing. The validator warns about each one, the
compiler treats it as Rancher did. The structure follows match.go (Go 1.17+: `scanChunk`,
`matchChunk`, the whole pattern checked before a non-match is returned).
"""

from __future__ import annotations


class BadPattern(ValueError):
    """The pattern is malformed: it can match nothing."""


def match(pattern: str, name: str) -> bool:
    """filepath.Match(pattern, name) on '/'-separated names; BadPattern when malformed."""
    while pattern:
        star, chunk, pattern = _scan_chunk(pattern)
        if star and not chunk:
            return "/" not in name  # a trailing * matches the rest unless it has a /
        rest = _match_chunk(chunk, name)
        if rest is not None and (not rest or pattern):
            name = rest
            continue
        if star:
            found = False
            i = 0
            while i < len(name) and name[i] != "/":
                rest = _match_chunk(chunk, name[i + 1 :])
                if rest is not None and (pattern or not rest):
                    name, found = rest, True
                    break
                i += 1
            if found:
                continue
        check(pattern)  # a non-match is only returned for a well-formed pattern
        return False
    return not name


def check(pattern: str) -> None:
    """BadPattern when `pattern` is malformed."""
    while pattern:
        _, chunk, pattern = _scan_chunk(pattern)
        _match_chunk(chunk, "")


def problem(pattern: str) -> str | None:
    """Why `pattern` is malformed (it never matches), or None."""
    try:
        check(pattern)
    except BadPattern as exc:
        return str(exc)
    return None


def _scan_chunk(pattern: str) -> tuple[bool, str, str]:
    star = False
    while pattern.startswith("*"):
        pattern, star = pattern[1:], True
    in_range = False
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            i += 1
        elif c == "[":
            in_range = True
        elif c == "]":
            in_range = False
        elif c == "*" and not in_range:
            break
        i += 1
    return star, pattern[:i], pattern[i:]


def _match_chunk(chunk: str, s: str) -> str | None:
    """The rest of `s` after `chunk` matched its start, or None; the whole chunk is always
    parsed, so a malformed one raises BadPattern whether or not it matched."""
    failed = False
    while chunk:
        if not failed and not s:
            failed = True
        c = chunk[0]
        if c == "[":
            r = ""
            if not failed:
                r, s = s[0], s[1:]
            chunk = chunk[1:]
            negated = chunk.startswith("^")
            if negated:
                chunk = chunk[1:]
            matched = False
            ranges = 0
            while True:
                if chunk.startswith("]") and ranges > 0:
                    chunk = chunk[1:]
                    break
                lo, chunk = _get_esc(chunk)
                hi = lo
                if chunk[0] == "-":
                    hi, chunk = _get_esc(chunk[1:])
                if lo <= r <= hi:
                    matched = True
                ranges += 1
            if matched == negated:
                failed = True
        elif c == "?":
            if not failed:
                if s[0] == "/":
                    failed = True
                s = s[1:]
            chunk = chunk[1:]
        else:
            if c == "\\":
                chunk = chunk[1:]
                if not chunk:
                    raise BadPattern("ends with a lone \\")
            if not failed:
                if chunk[0] != s[0]:
                    failed = True
                s = s[1:]
            chunk = chunk[1:]
    return None if failed else s


def _get_esc(chunk: str) -> tuple[str, str]:
    if not chunk or chunk[0] in "-]":
        what = "an unclosed [" if not chunk else f"{chunk[0]!r} where a character class expects a character"
        raise BadPattern(what)
    if chunk[0] == "\\":
        chunk = chunk[1:]
        if not chunk:
            raise BadPattern("ends with a lone \\ inside [...]")
    r, rest = chunk[0], chunk[1:]
    if not rest:
        raise BadPattern("an unclosed [")
    return r, rest
