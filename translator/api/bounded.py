"""Limits on every untrusted document, and the reads that respect them.

Pipeline files come from any branch anyone can push to, webhook bodies from the internet, API
answers from servers we do not run. Each is read through here: at most `max_bytes` are read
(one byte more tells "too large" from "exactly the limit", so /dev/zero or `yes` on stdin cost
1 MiB, not memory until killed), then decoded strictly as UTF-8, then parsed with bounds on
nodes, nesting, alias expansion and wall-clock time (`yaml_source.parse`). Every violation is
one `InputRefused` naming the document and, where known, the line — never a traceback, never
a hang.

The figures are generous for real files (the largest of 216 real Rancher pipeline files is
3.8 kB, nests 9 levels and uses no alias) and small enough that the worst accepted input is
validated in about a second (`benchmarks/hostile_inputs.py` prints the figures).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

KiB = 1024
MiB = 1024 * KiB

Clock = Callable[[], float]  # seconds, monotonic; injected by the shell that reads the clock


@dataclass(frozen=True)
class ReadLimits:
    """Bounds on one document. Only `max_bytes` is configurable (PipelineSetting
    `maxPipelineFileBytes`); the others bound the work a file of that size can cause."""

    max_bytes: int = MiB
    max_nodes: int = 100_000  # scalars, sequences and mappings as written
    max_depth: int = 100  # nesting of sequences and mappings, aliases expanded
    max_aliases: int = 1_000  # uses of `*anchor`
    max_alias_nodes: int = 10_000  # nodes added by expanding aliases (the "billion laughs" bound)
    max_seconds: float = 10.0  # wall-clock budget of the parse, when a clock is given

    def with_max_bytes(self, max_bytes: int) -> ReadLimits:
        return replace(self, max_bytes=max_bytes)


PIPELINE_FILE = ReadLimits()
WEBHOOK_BODY = ReadLimits(max_bytes=10 * MiB, max_nodes=1_000_000)  # GitHub caps deliveries at 25 MB
API_ANSWER = ReadLimits(max_bytes=16 * MiB, max_nodes=2_000_000)


class Reader(Protocol):
    """Anything with `read(n)`: a file, stdin's buffer, an HTTP response, a socket's rfile."""

    def read(self, n: int, /) -> bytes: ...


class InputRefused(Exception):
    """A document we will not read: too large, not UTF-8, not YAML, or past a limit.

    `subject` names the document (a file, `<stdin>`, `webhook body`), `line`/`column` are
    1-based where known.
    """

    def __init__(self, message: str, *, subject: str = "", line: int | None = None,
                 column: int | None = None) -> None:
        super().__init__(message)
        self.message, self.subject, self.line, self.column = message, subject, line, column

    def __str__(self) -> str:
        where = ""
        if self.line:
            where = f" (line {self.line}" + (f", column {self.column})" if self.column else ")")
        return f"{self.subject + ': ' if self.subject else ''}{self.message}{where}"


def size_text(n: int) -> str:
    """1048576 -> '1 MiB', 1536 -> '1.5 KiB', 10 -> '10 bytes'."""
    for unit, size in (("GiB", 1024 * MiB), ("MiB", MiB), ("KiB", KiB)):
        if n >= size:
            value = n / size
            return f"{value:.1f}".removesuffix(".0") + f" {unit}"
    return f"{n} bytes"


def too_large(subject: str, limit: int, *, what: str = "a pipeline file", size: int | None = None) -> InputRefused:
    said = f" ({size:,} bytes)" if size is not None else ""
    return InputRefused(f"larger than {size_text(limit)}{said}, the limit of {what}", subject=subject)


def read_capped(stream: Reader | None, *, limit: int, subject: str, what: str = "a pipeline file") -> bytes:
    """At most `limit` bytes of `stream`; InputRefused when there is more (or no stream)."""
    if stream is None:
        raise InputRefused("cannot read: the input is closed", subject=subject)
    chunks: list[bytes] = []
    total = 0
    try:
        while total <= limit:
            chunk = stream.read(min(64 * KiB, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except (OSError, ValueError) as exc:  # a closed or unreadable descriptor
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise InputRefused(f"cannot read: {reason}", subject=subject) from None
    if total > limit:
        raise too_large(subject, limit, what=what)
    return b"".join(chunks)


def decode_utf8(data: bytes, *, subject: str) -> str:
    """Strict UTF-8 (a BOM is allowed), naming the line of the first bad byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputRefused(f"not UTF-8 text (byte {exc.start})", subject=subject, line=line) from None


def check_shape(data: Any, limits: ReadLimits, *, subject: str) -> None:
    """Node count and nesting of already-decoded data (JSON, an inline config), iteratively."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    nodes = 0
    while stack:
        value, depth = stack.pop()
        nodes += 1
        if nodes > limits.max_nodes:
            raise InputRefused(f"more than {limits.max_nodes:,} values", subject=subject)
        if isinstance(value, dict | list):
            if depth > limits.max_depth:
                raise InputRefused(f"nested deeper than {limits.max_depth} levels", subject=subject)
            items = value.values() if isinstance(value, dict) else value
            stack.extend((item, depth + 1) for item in items)


def load_json(data: bytes, limits: ReadLimits, *, subject: str, what: str = "a JSON document") -> Any:
    """JSON within `limits` (size, nodes, depth), or InputRefused saying what is wrong."""
    if len(data) > limits.max_bytes:
        raise too_large(subject, limits.max_bytes, what=what, size=len(data))
    try:
        value = json.loads(data) if data else None
    except RecursionError:
        raise InputRefused(f"nested deeper than {limits.max_depth} levels", subject=subject) from None
    except UnicodeDecodeError as exc:
        raise InputRefused(f"not UTF-8 text (byte {exc.start})", subject=subject) from None
    except ValueError as exc:  # json.JSONDecodeError
        line = getattr(exc, "lineno", None)
        raise InputRefused(f"not JSON: {getattr(exc, 'msg', exc)}", subject=subject, line=line) from None
    check_shape(value, limits, subject=subject)
    return value
