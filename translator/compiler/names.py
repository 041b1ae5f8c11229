"""Names Kubernetes and Argo accept, made deterministically from names people wrote.

A name that has to change is lowercased, stripped of what the target refuses and, when it is
too long or lost its meaning, given a short hash of the original so that two different inputs
never collapse onto one output.
"""

from __future__ import annotations

import hashlib
import re

_NOT_DNS = re.compile(r"[^a-z0-9-]+")
_NOT_LABEL = re.compile(r"[^A-Za-z0-9._-]+")
_DASHES = re.compile(r"-{2,}")


def short_hash(text: str, length: int = 8) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def dns_label(text: str, *, max_length: int = 63, fallback: str = "x") -> str:
    """A DNS-1123 label (lowercase alphanumerics and '-', alphanumeric at both ends)."""
    name = _DASHES.sub("-", _NOT_DNS.sub("-", text.lower())).strip("-")
    changed = name != text
    if not name:
        name = fallback
    if len(name) > max_length or (changed and name != text.lower().strip("-") and len(name) + 9 > max_length):
        name = name[: max_length - 9].rstrip("-") + "-" + short_hash(text)
    return name.strip("-") or fallback


def template_name(text: str, *, max_length: int = 60, fallback: str = "step") -> str:
    """An Argo template or DAG task name: `^[a-zA-Z0-9][-a-zA-Z0-9]*$`, not starting with a digit."""
    name = dns_label(text, max_length=max_length, fallback=fallback)
    if name[0].isdigit():
        name = ("s-" + name)[:max_length].rstrip("-")
    return name


def label_value(text: str) -> str:
    """A label value: at most 63 of `[A-Za-z0-9._-]`, alphanumeric at both ends (or empty)."""
    value = _NOT_LABEL.sub("-", text).strip("-._")
    if value == text and len(value) <= 63:
        return value
    if len(value) > 54 or value != text:
        value = value[:54].strip("-._")
        value = f"{value}-{short_hash(text)}" if value else short_hash(text)
    return value
