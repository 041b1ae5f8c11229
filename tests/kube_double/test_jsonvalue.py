"""The double's fast JSON paths give what the stdlib forms they replace give (jsonvalue.py), and
the schema's memo gives what the walk gives (schema.Memo), for values seen once, twice and again."""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import pytest

from tests.kube_double import jsonvalue, schema
from tests.kube_double.crds import argo_workflow_crd, our_crds


class Sub(dict[str, Any]):
    pass


ODD = [
    {"a": (1, 2)},  # a tuple: orjson writes a list
    {"a": math.nan}, {"a": [math.inf, -math.inf]},  # orjson writes null
    {"a": 2**64}, {"a": -(2**63) - 1}, {"a": 123456789012345678901234567890},  # beyond 64 bits
    {1: "int key"}, {"a": "\ud800"},  # a non-str key, a lone surrogate
    {"a": Sub(b=1)}, {"a": {1, 2}}, {"a": b"bytes"},
]
PLAIN = [
    {}, [], {"a": None, "b": [True, False, 0, -0.0, 1.5e-7, 1e16, 2**63, 2**64 - 1, -(2**63)]},
    {"text": "naïve ☃ \U0001f600 \x7f \x00 \n \"q\"", "nested": {"x": [{"y": []}, {}]}},
]


@pytest.mark.parametrize("value", ODD + PLAIN, ids=repr)
def test_clone_is_deepcopy(value: Any) -> None:
    copied = jsonvalue.clone(value)
    expected = copy.deepcopy(value)
    assert repr(copied) == repr(expected) and type(copied) is type(expected)
    if isinstance(value, dict) and isinstance(value.get("a"), dict):
        assert type(copied["a"]) is type(value["a"])  # a subclass stays one
    assert copied is not value


def test_a_plain_copy_says_so() -> None:
    assert jsonvalue.copied({"a": [1]})[1] and not jsonvalue.copied({"a": (1,)})[1]


@pytest.mark.parametrize("value", [v for v in ODD + PLAIN if not isinstance(v, dict) or 1 not in v], ids=repr)
def test_dumps_is_the_value_json_dumps_writes(value: Any) -> None:
    try:
        expected = json.dumps(value)
    except (TypeError, ValueError):
        with pytest.raises((TypeError, ValueError)):
            jsonvalue.dumps(value)
        return
    assert repr(json.loads(jsonvalue.dumps(value))) == repr(json.loads(expected))


@pytest.mark.parametrize("pair", [({"a": 1}, {"a": 1.0}), ({"a": True}, {"a": 1}), ({"a": math.nan}, {"a": None}),
                                  ({"b": 1, "a": [2]}, {"a": [2], "b": 1}), ({"a": (1,)}, {"a": [1]}),
                                  ({"a": -0.0}, {"a": 0.0}), ({"a": 2**70}, {"a": 2**70})], ids=repr)
def test_same_is_sorted_json_dumps_equal(pair: tuple[Any, Any]) -> None:
    a, b = pair
    assert jsonvalue.same(a, b) == (json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True))


@pytest.mark.parametrize("value", [*PLAIN, {"a": "\x01" * 100}, {"a": "☃" * 100}, {"a": [1e-7] * 50}], ids=repr)
def test_fits_is_the_stdlib_compact_length_against_the_limit(value: Any) -> None:
    size = len(json.dumps(value, separators=(",", ":")).encode())
    for limit in (size - 1, size, size + 1, size * 6):
        assert jsonvalue.fits(value, limit) == (size <= limit), limit


def _workflow(i: int) -> dict[str, Any]:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "unknownTop": i,
            "metadata": {"name": f"wf-{i}", "labels": {"a": "b"}},
            "spec": {"entrypoint": "main", "bogus": {"x": 1}, "arguments": None,
                     "templates": [{"name": "main", "container": {"image": "alpine", "mystery": True,
                                                                 "env": [{"name": "A", "value": "1"},
                                                                         {"name": "A", "value": "2"}]}}]},
            "status": {"phase": "Running", "nodes": {"n": {"id": "n", "name": "n", "type": "Pod",
                                                           "phase": "Bogus", "extra": 1}}}}


def _crds() -> list[dict[str, Any]]:
    found = []
    for crd in [argo_workflow_crd("v4.1"), *our_crds()]:
        version = next(v for v in crd["spec"]["versions"] if v.get("storage", True))
        found.append(version["schema"]["openAPIV3Schema"])
    return found


@pytest.mark.parametrize("root", _crds(), ids=lambda s: ",".join(sorted(s.get("properties") or {})))
def test_the_memo_answers_as_the_walk_does(root: dict[str, Any]) -> None:
    memo = schema.Memo()
    for round_ in range(4):  # seen once, then kept, then answered from the memo
        for i in range(3):
            plain, memoized = _workflow(i), _workflow(i)
            unknown: list[str] = []
            memo_unknown: list[str] = []
            schema.apply(plain, root, unknown=unknown)
            schema.apply(memoized, root, unknown=memo_unknown, memo=memo)
            assert (memoized, memo_unknown) == (plain, unknown), round_
            assert json.dumps(memoized) == json.dumps(plain)  # the same keys in the same order
            for check in (schema.validate, schema.list_errors):
                assert [str(e) for e in check(memoized, root, memo=memo)] == [str(e) for e in check(plain, root)]
    assert {key[0] for key in memo._entries} >= {"apply", "validate"}  # it did answer


def test_the_memo_keeps_no_errors() -> None:
    root = _crds()[0]
    memo = schema.Memo()
    bad = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "x"},
           "spec": {"templates": [{"name": "a", "container": {"image": 3}}]}}
    found = [[str(e) for e in schema.validate(bad, root, memo=memo)] for _ in range(3)]
    assert found[0] and found[0] == found[1] == found[2]
