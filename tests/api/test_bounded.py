"""The bounded reader: every limit is one clear error with its line, never a hang or a traceback."""

from __future__ import annotations

import io
import itertools

import pytest

from translator.api.bounded import (
    InputRefused,
    MiB,
    ReadLimits,
    check_shape,
    decode_utf8,
    load_json,
    read_capped,
)
from translator.api.config_validation import validate_data, validate_text
from translator.api.yaml_source import YamlSyntaxError, parse


def _laughs(levels: int = 9, width: int = 9) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


def _error(text: str, **limits: int) -> str:
    result = validate_text(text, limits=ReadLimits(**limits) if limits else ReadLimits())
    assert not result.ok and len(result.errors) == 1, result.findings
    return str(result.errors[0])


def test_alias_bomb_at_the_top_level_is_refused_at_its_line() -> None:
    assert _error(_laughs()) == "(file): aliases expand past 10,000 nodes (line 5)"


def test_alias_bomb_under_env_is_refused() -> None:
    text = _laughs() + "stages:\n- name: s\n  steps:\n  - runScriptConfig: {image: a, shellScript: b}\n" \
                       "    env: {A: *a9}\n"
    assert "aliases expand past 10,000 nodes (line 5)" in _error(text)


def test_alias_count_is_bounded_too() -> None:
    text = "x: &x 1\nl: [" + ", ".join(["*x"] * 1001) + "]\n"
    assert _error(text) == "(file): more than 1,000 aliases (line 2)"


def test_a_few_aliases_are_fine_and_merge_keys_work() -> None:
    text = ("defaults: &env {A: '1', B: '2'}\nstages:\n- name: s\n  steps:\n"
            "  - runScriptConfig: {image: a, shellScript: b}\n    env:\n      <<: *env\n      C: '3'\n")
    result = validate_text(text)
    assert result.config is not None
    assert result.config.stages[0].steps[0].env == {"A": "1", "B": "2", "C": "3"}


def test_an_alias_inside_its_own_anchor_is_refused() -> None:
    assert "refers to the value that contains it" in _error("a: &a [1, *a]\n")


@pytest.mark.parametrize("text", [
    "stages: " + "[" * 10_000 + "]" * 10_000 + "\n",
    "stages: " + "{a: " * 10_000 + "x" + "}" * 10_000 + "\n",
    "".join(" " * i + f"k{i}:\n" for i in range(500)) + " " * 500 + "x\n",
    "stages:\n" + "".join(" " * (2 * i) + "- \n" for i in range(300)) + "x\n",
])
def test_deep_nesting_is_refused_not_a_recursion_error(text: str) -> None:
    assert "nested deeper than 100 levels (line" in _error(text)


def test_aliases_may_not_nest_past_the_depth_either() -> None:
    deep = "[" * 60 + "]" * 60
    text = f"a: &a {deep}\nb: {'[' * 50}*a{']' * 50}\n"
    assert "nested deeper than 100 levels once aliases are expanded (line 2)" in _error(text)


def test_node_count_is_bounded() -> None:
    assert _error("stages:\n" + "- a\n" * 100_001) == "(file): more than 100,000 values (line 99999)"


def test_size_is_checked_before_anything_is_parsed() -> None:
    text = "stages: []\n# " + "x" * MiB + "\n"
    assert _error(text) == "(file): larger than 1 MiB (1,048,590 bytes), the limit of a pipeline file"
    assert validate_text(text, limits=ReadLimits(max_bytes=2 * MiB)).ok


def test_the_time_budget_uses_the_injected_clock() -> None:
    ticks = itertools.count(0, 100)  # every look at the clock: 100 s later
    text = "stages:\n" + "- a\n" * 2_000

    def clock() -> float:
        return float(next(ticks))

    result = validate_text(text, limits=ReadLimits(max_seconds=150), clock=clock)
    assert [str(f) for f in result.errors] == ["(file): not parsed within 150 s"]
    assert validate_text("stages: []\n", clock=clock).ok


def test_read_capped_reads_one_byte_more_than_the_limit_and_no_more() -> None:
    class Endless(io.RawIOBase):
        read_bytes = 0

        def read(self, n: int = -1) -> bytes:
            Endless.read_bytes += n
            return b"\0" * n

    with pytest.raises(InputRefused) as err:
        read_capped(Endless(), limit=1000, subject="/dev/zero")
    assert str(err.value) == "/dev/zero: larger than 1000 bytes, the limit of a pipeline file"
    assert Endless.read_bytes == 1001
    assert read_capped(io.BytesIO(b"a" * 1000), limit=1000, subject="f") == b"a" * 1000


def test_read_capped_of_a_closed_input() -> None:
    with pytest.raises(InputRefused, match="<stdin>: cannot read: the input is closed"):
        read_capped(None, limit=10, subject="<stdin>")
    closed = io.BytesIO(b"x")
    closed.close()
    with pytest.raises(InputRefused, match="cannot read"):
        read_capped(closed, limit=10, subject="f")


def test_decode_names_the_line_of_the_bad_byte() -> None:
    with pytest.raises(InputRefused) as err:
        decode_utf8(b"a: 1\nb: \xff\n", subject="f.yml")
    assert str(err.value) == "f.yml: not UTF-8 text (byte 8) (line 2)"


def test_inline_config_data_is_bounded_the_same_way() -> None:
    deep: object = "x"
    for _ in range(150):
        deep = [deep]
    result = validate_data({"stages": deep})
    assert [str(f) for f in result.errors] == ["(file): nested deeper than 100 levels"]
    with pytest.raises(InputRefused, match="more than 5 values"):
        check_shape(list(range(10)), ReadLimits(max_nodes=5), subject="x")


def test_json_documents_are_bounded() -> None:
    limits = ReadLimits(max_bytes=1000, max_depth=10)
    with pytest.raises(InputRefused, match="larger than 1000 bytes"):
        load_json(b"[" + b"1," * 600 + b"1]", limits, subject="body")
    with pytest.raises(InputRefused, match="nested deeper than 10 levels"):
        load_json(b"[" * 20 + b"]" * 20, limits, subject="body")
    with pytest.raises(InputRefused, match="nested deeper"):  # past Python's own recursion limit
        load_json(b"[" * 100_000 + b"]" * 100_000, ReadLimits(max_bytes=MiB), subject="body")
    with pytest.raises(InputRefused, match=r"not JSON: Extra data \(line 2\)"):
        load_json(b"{}\n}", limits, subject="body")
    assert load_json(b'{"a": [1]}', limits, subject="body") == {"a": [1]}


def test_syntax_errors_and_limit_errors_are_one_documented_type() -> None:
    for text in ("a: [", _laughs(), "a: \x07"):
        with pytest.raises(InputRefused):
            parse(text)
    with pytest.raises(YamlSyntaxError) as err:
        parse(_laughs())
    assert err.value.limit and err.value.line == 5
