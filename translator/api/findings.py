"""What validation reports: findings with a severity, a field path and a line."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    """One problem: where it is and what to do about it."""

    severity: Severity
    path: str
    message: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = f" (line {self.line}" + (f", column {self.column})" if self.column else ")") if self.line else ""
        return f"{self.path}: {self.message}{where}"

    def to_json(self) -> dict[str, Any]:
        """The finding for machines (`translator validate -o json`)."""
        out: dict[str, Any] = {"severity": self.severity.value, "path": self.path, "message": self.message}
        if self.line:
            out["line"] = self.line
        if self.column:
            out["column"] = self.column
        return out
