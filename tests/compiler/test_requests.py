"""The request split of a one-pod run (translator/compiler/requests.py), by property and by example."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from translator.compiler.requests import QuantityError, peak, quantity, scale, split_requests, units

# a step: (request, limit) in whole units, request <= limit
step = st.integers(min_value=0, max_value=64_000).flatmap(
    lambda r: st.tuples(st.just(r), st.integers(min_value=r, max_value=r + 64_000)))
stages = st.lists(st.lists(step, min_size=1, max_size=6), min_size=1, max_size=8)


@given(stages)
@settings(max_examples=300, deadline=None)
def test_the_pods_total_is_the_peak_stage_and_no_request_exceeds_its_limit(run: list[list[tuple[int, int]]]) -> None:
    requests = [[r for r, _ in stage] for stage in run]
    limits = [[lim for _, lim in stage] for stage in run]
    out = scale(requests, limits)
    assert sum(map(sum, out)) == peak(requests)
    for got, stage_requests, stage_limits in zip(out, requests, limits, strict=True):
        assert all(0 <= g <= r <= lim for g, r, lim in zip(got, stage_requests, stage_limits, strict=True))
    assert scale(requests, limits) == out  # deterministic


@given(stages)
@settings(max_examples=100, deadline=None)
def test_split_requests_keeps_limits_and_sums_to_the_peak_in_quantities(run: list[list[tuple[int, int]]]) -> None:
    resources = [[{"requests": {"cpu": f"{r}m", "memory": f"{r}Mi"}, "limits": {"cpu": f"{lim}m", "memory": f"{lim}Mi"}}
                  for r, lim in stage] for stage in run]
    out = split_requests(resources)
    for resource, unit in (("cpu", 1), ("memory", 2**20)):
        total = sum(units(s["requests"][resource], resource) for stage in out for s in stage)
        assert total == peak([[r * unit for r, _ in stage] for stage in run])
    assert [[s["limits"] for s in stage] for stage in out] == [[s["limits"] for s in stage] for stage in resources]
    assert split_requests(resources) == out


def test_argo_docs_example_a_sequence_asks_for_its_largest_step() -> None:
    """docs/container-set-template.md Example A: a (1Gi) -> b (2Gi) -> c (1Gi) needs 2Gi at most."""
    out = split_requests([[{"requests": {"cpu": "1", "memory": m}, "limits": {"cpu": "1", "memory": "4Gi"}}]
                          for m in ("1Gi", "2Gi", "1Gi")])
    memory = [units(stage[0]["requests"]["memory"], "memory") for stage in out]
    assert sum(memory) == 2 * 2**30 and [stage[0]["requests"]["memory"] for stage in out] == ["512Mi", "1Gi", "512Mi"]


def test_argo_docs_example_b_a_diamond_asks_for_its_parallel_pair() -> None:
    """Example B: a (1000) -> b (2000) + c (1000) -> d (1000) needs 3000 at once."""
    out = scale([[1000], [2000, 1000], [1000]])
    assert sum(map(sum, out)) == 3000 and out == [[600], [1200, 600], [600]]


@pytest.mark.parametrize(("text", "resource", "value"), [
    ("100m", "cpu", 100), ("1", "cpu", 1000), ("0.5", "cpu", 500), ("2.5", "cpu", 2500), ("1e3m", "cpu", 1000),
    ("128Mi", "memory", 128 * 2**20), ("1G", "memory", 10**9), ("1.5Gi", "memory", 3 * 2**29), ("1k", "memory", 1000),
])
def test_kubernetes_quantities_are_read(text: str, resource: str, value: int) -> None:
    assert units(text, resource) == value


@pytest.mark.parametrize("bad", ["", "abc", "1Xi", "--1", "1.2.3"])
def test_what_is_not_a_quantity_is_refused_naming_it(bad: str) -> None:
    with pytest.raises(QuantityError, match="not a Kubernetes quantity"):
        units(bad, "cpu")


def test_quantities_are_written_as_users_write_them() -> None:
    assert [quantity(v, "cpu") for v in (2000, 250, 0)] == ["2", "250m", "0"]
    assert [quantity(v, "memory") for v in (2**30, 96 * 2**20, 3 * 2**10, 1000)] == ["1Gi", "96Mi", "3Ki", "1000"]
