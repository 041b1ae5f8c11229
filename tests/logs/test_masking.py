"""Masking at read and archive time (translator/logs/masking.py): the same rules as the step's
own wrapper, whatever the chunks a log arrives in."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from translator.logs import masking
from translator.logs.masking import StreamMasker, secret_values

SECRETS = ("hunter2-pass", "tok-3", "-----BEGIN-----\nMIIEvQIBADAN\n-----END-----")


def _run(masker: StreamMasker, chunks: list[str]) -> str:
    return "".join(masker.feed(c) for c in chunks) + masker.close()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["hunter2-pass", "tok-3", "MIIEvQIBADAN", "x", "\n", "hunter2", "-pass", "tok"]),
                max_size=40),
       st.lists(st.integers(min_value=0, max_value=200), max_size=10))
def test_no_secret_survives_any_chunking(words: list[str], cuts: list[int]) -> None:
    text = "".join(words)
    points = sorted({min(c, len(text)) for c in cuts})
    chunks = [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]
    out = _run(StreamMasker(SECRETS), chunks)
    assert out == StreamMasker(SECRETS).mask(text)
    for secret in ("hunter2-pass", "tok-3", "MIIEvQIBADAN"):
        assert secret not in out


def test_a_long_line_without_newline_is_let_through_but_never_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(masking, "MAX_HELD", 16)
    masker = StreamMasker(["ABCDEFGH"])
    assert masker.feed("x" * 20 + "ABCD") == "x" * 20  # the secret's possible start: held back
    assert masker.feed("EFGH tail") == ""  # held until the line ends
    assert masker.close() == "*** tail"
    assert StreamMasker(["ABCDEFGH"]).feed("y" * 30) == "y" * 30  # nothing to hold


def test_each_line_of_a_value_at_least_three_characters_long_longest_first() -> None:
    masker = StreamMasker(["ab", "abc", "xxabcxx", "line one\nline two\r\n"])
    assert masker.mask("ab abc xxabcxx line two") == "ab *** *** ***"


def test_values_by_how_the_step_reads_them() -> None:
    assert secret_values("env", "token", {"token": "t0k3n", "other": "nope"}) == ["t0k3n"]
    assert secret_values("env", "missing", {"token": "t"}) == []
    assert secret_values("git", "", {"username": "bot", "password": "pw-123"}) == ["pw-123"]
    auth = base64.b64encode(b"robot:hunter2-password").decode()
    config = json.dumps({"auths": {"r.local": {"auth": auth}, "ghcr.io": {"username": "u", "password": "ghp_1"}}})
    assert secret_values("registry", "", {".dockerconfigjson": config}) == [
        auth, "robot:hunter2-password", "hunter2-password", "ghp_1"]
    assert secret_values("registry", "", {".dockerconfigjson": "not json at all"}) == ["not json at all"]
