"""Secret values masked as `***` in step logs where the project reads or archives them.

Steps that can read secrets already mask their own output (compiler/trust_scripts: the
wrapper), which covers the container log, Argo's archive and the Jenkins console. This is the
second line, applied by `translator logs` to everything it prints and by the Jenkins engine to
what it copies to the log store: it catches what the wrapper could not (a log written before
the wrapper existed, an awk that misparsed a registry config) with the same rules — every line
of a value at least `MIN_SECRET_LENGTH` long, longest first; for a registry config
(`.dockerconfigjson`) each `auth`, `password`, `identitytoken` and `registrytoken`, and the
`user:password` inside a decoded `auth` and its password; for git credentials `password`.

Streams are masked line by line: a line is held until its newline (or until it is longer than
`MAX_HELD`, when all of it is let through but an end that a secret could begin with), so a
secret split across two chunks of a log is still caught.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Iterator

from translator.api.setting_types import PipelineSettingSpec
from translator.compiler.plan import PlanStep, secret_sources
from translator.compiler.trust_scripts import MASK, MIN_SECRET_LENGTH

MAX_HELD = 64 * 1024
REGISTRY_KEYS = ("auth", "password", "identitytoken", "registrytoken")


def secret_values(kind: str, key: str, data: dict[str, str]) -> list[str]:
    """The values a step can read from one Secret (decoded data), by how it reads it."""
    if kind == "env":
        return [data[key]] if key in data else []
    if kind == "git":
        return [data[k] for k in ("password", "token") if data.get(k)]
    if kind == "registry":
        return _registry_values(data.get(".dockerconfigjson") or data.get(".dockercfg") or "")
    return []


def _registry_values(text: str) -> list[str]:
    try:
        config = json.loads(text)
    except ValueError:
        return [text] if text else []
    found: list[str] = []
    entries = (config.get("auths") or config) if isinstance(config, dict) else {}
    for entry in entries.values() if isinstance(entries, dict) else []:
        if not isinstance(entry, dict):
            continue
        for name in REGISTRY_KEYS:
            value = entry.get(name)
            if isinstance(value, str) and value:
                found.append(value)
                if name == "auth":
                    found += _decoded_auth(value)
    return found


def _decoded_auth(value: str) -> list[str]:
    try:
        decoded = base64.b64decode(value, validate=False).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return []
    return [decoded, decoded.split(":", 1)[1]] if ":" in decoded else [decoded]


def mask_list(values: Iterable[str]) -> tuple[str, ...]:
    """What is replaced: every line of every value, at least MIN_SECRET_LENGTH long, longest first."""
    lines = {line.removesuffix("\r") for value in values for line in value.split("\n")}
    return tuple(sorted((s for s in lines if len(s) >= MIN_SECRET_LENGTH), key=lambda s: (-len(s), s)))


class StreamMasker:
    """Masks a log given in chunks of any size; `feed` what comes, `close` at the end."""

    def __init__(self, values: Iterable[str]) -> None:
        self.secrets = mask_list(values)
        self._held = ""

    def mask(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text

    def feed(self, chunk: str) -> str:
        if not self.secrets:
            return chunk
        text = self._held + chunk
        cut = text.rfind("\n") + 1
        if not cut and len(text) > MAX_HELD:  # a long line: let it through but for a secret's possible start
            masked = self.mask(text)
            keep = self._partial_suffix(masked)
            self._held = masked[len(masked) - keep:]
            return masked[: len(masked) - keep]
        self._held = text[cut:]
        return self.mask(text[:cut])

    def _partial_suffix(self, text: str) -> int:
        """The longest end of `text` that a secret begins with (so may be cut in two)."""
        best = 0
        for secret in self.secrets:
            for size in range(min(len(secret) - 1, len(text)), best, -1):
                if text.endswith(secret[:size]):
                    best = size
                    break
        return best

    def close(self) -> str:
        rest, self._held = self._held, ""
        return self.mask(rest)


def step_masker(step: PlanStep, setting: PipelineSettingSpec,
                read: Callable[[str], dict[str, str]]) -> tuple[StreamMasker, list[str]]:
    """A masker for every Secret the step could read; `read(name)` gives a Secret's decoded data
    and raises when it cannot. Also the names of the Secrets that could not be read."""
    values: list[str] = []
    unread: list[str] = []
    cache: dict[str, dict[str, str]] = {}
    for source in secret_sources(step, setting):
        if source.secret not in cache:
            try:
                cache[source.secret] = read(source.secret)
            except Exception:  # whatever the reader's failure, the name is reported, not raised
                cache[source.secret] = {}
                unread.append(source.secret)
        values += secret_values(source.kind, source.key, cache[source.secret])
    return StreamMasker(values), unread


def masked(masker: StreamMasker, chunks: Iterable[str]) -> Iterator[str]:
    """The chunks, masked; nothing empty."""
    for chunk in chunks:
        out = masker.feed(chunk)
        if out:
            yield out
    tail = masker.close()
    if tail:
        yield tail
