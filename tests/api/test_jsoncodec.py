"""The JSON codec reads and writes what the standard library does, for every JSON document."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from translator.api import jsoncodec

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=30,
)


@given(json_values)
def test_any_json_value_reads_back_as_the_standard_library_reads_it(value: object) -> None:
    text = json.dumps({"v": value})
    assert jsoncodec.loads(text.encode()) == json.loads(text)
    assert jsoncodec.loads(text) == json.loads(text)
    assert json.loads(jsoncodec.dumps({"v": value})) == {"v": value}


@pytest.mark.parametrize("number", [2**64, 2**64 - 1, -(2**63) - 1, 10**30, -(10**40)])
def test_integers_beyond_64_bits_stay_integers(number: int) -> None:
    doc = {"spec": {"big": number, "list": [1, number]}}
    decoded = jsoncodec.loads(json.dumps(doc).encode())
    assert decoded == doc and type(decoded["spec"]["big"]) is int and type(decoded["spec"]["list"][1]) is int
    assert jsoncodec.loads(jsoncodec.dumps(doc)) == doc


def test_long_digit_runs_in_strings_decode_the_same() -> None:
    doc = {"commit": "1234567890123456789012345", "note": "a:12345678901234567890", "n": 1}
    assert jsoncodec.loads(json.dumps(doc).encode()) == doc


def test_what_orjson_refuses_is_read_as_the_standard_library_reads_it() -> None:
    lone = b'{"a":"\\ud800"}'
    assert jsoncodec.loads(lone) == json.loads(lone)
    utf16 = json.dumps({"a": "b"}).encode("utf-16")
    assert jsoncodec.loads(utf16) == {"a": "b"}


@pytest.mark.parametrize("text", [b'{"a":NaN}', b'{"a":Infinity}', b'{"a":-Infinity}', b'{"a":', b"", b"\xff"])
def test_what_is_not_json_is_refused(text: bytes) -> None:
    with pytest.raises(ValueError):
        jsoncodec.loads(text)


def test_objects_orjson_cannot_encode_are_encoded_by_the_standard_library() -> None:
    assert json.loads(jsoncodec.dumps({"big": 2**70})) == {"big": 2**70}
    assert json.loads(jsoncodec.dumps({1: "one"})) == {"1": "one"}
    assert b" " not in jsoncodec.dumps({"a": [1, 2], 3: {"b": 2**70}})


def test_bytes_to_keep_are_the_encoded_document() -> None:
    doc = {"metadata": {"name": "p-1", "labels": {"a": "b"}}, "status": {"big": 2**70, "n": [1.5, None]}}
    assert jsoncodec.dumps_to_keep(doc) == jsoncodec.dumps(doc)
    assert jsoncodec.loads(jsoncodec.dumps_to_keep(doc)) == doc


@pytest.mark.parametrize(("text", "long"), [
    (b'{"a":1234567890123456789}', True),
    (b'{"a": -1234567890123456789}', True),
    (b'[1,\n 12345678901234567890]', True),
    (b"12345678901234567890", True),
    (b'{"a":123456789012345678}', False),
    (b'{"c":"x1234567890123456789"}', False),
    (b'{"c":"0000000000000000000000000000000000000001","n":1}', False),
    (b'{"a":0.12345678901234567890}', False),
])
def test_every_integer_of_19_digits_is_seen(text: bytes, long: bool) -> None:
    assert jsoncodec.long_number(text) is long
    assert jsoncodec.loads(text) == json.loads(text)
