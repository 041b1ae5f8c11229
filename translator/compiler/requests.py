"""Resource requests of a one-pod run: the pod asks for what the run needs at its peak.

Kubernetes schedules a pod by the sum of its containers' requests, and a containerSet starts
every container of the run at once (argo-workflows docs/container-set-template.md, "Resource
Requests": containers waiting for their dependencies still hold their requests). Stages run in
order, so the most the run ever needs at once is its largest stage's sum. `split_requests`
scales every step's request by `peak / total` (per resource), in whole units (millicores; for
memory Mi, else Ki, else bytes: the largest unit all requests are multiples of), rounded by
largest remainder so the pod's total is exactly the peak. A scaled request never exceeds the
step's own request, so it never exceeds its limit; limits stay exactly as the user wrote them.

Quantities are Kubernetes' (apimachinery pkg/api/resource: decimal and binary suffixes, an
optional exponent); a value this module cannot read is a QuantityError naming it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from fractions import Fraction

RESOURCES = ("cpu", "memory")
# apimachinery pkg/api/resource/suffix.go: binary and decimal SI suffixes
_SUFFIX: dict[str, Fraction] = {
    "Ki": Fraction(2**10), "Mi": Fraction(2**20), "Gi": Fraction(2**30), "Ti": Fraction(2**40),
    "Pi": Fraction(2**50), "Ei": Fraction(2**60),
    "n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 1000), "": Fraction(1),
    "k": Fraction(10**3), "M": Fraction(10**6), "G": Fraction(10**9), "T": Fraction(10**12),
    "P": Fraction(10**15), "E": Fraction(10**18),
}
_QUANTITY = re.compile(r"([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|)")


class QuantityError(ValueError):
    """A request or limit that is not a Kubernetes quantity."""


@functools.lru_cache(maxsize=4096)  # pure, and the same few quantities come with every run
def units(quantity: str, resource: str) -> int:
    """`quantity` in whole units: millicores for cpu, bytes otherwise (rounded up, as Kubernetes does)."""
    match = _QUANTITY.fullmatch(quantity.strip())
    if not match:
        raise QuantityError(f"{resource} quantity {quantity!r} is not a Kubernetes quantity")
    try:
        number = Fraction(Decimal(match.group(1)))
    except InvalidOperation:
        raise QuantityError(f"{resource} quantity {quantity!r} is not a Kubernetes quantity") from None
    value = number * _SUFFIX[match.group(2)] * (1000 if resource == "cpu" else 1)
    if value < 0:
        raise QuantityError(f"{resource} quantity {quantity!r} is negative")
    return int(-((-value.numerator) // value.denominator))  # ceiling


@functools.lru_cache(maxsize=4096)
def quantity(value: int, resource: str) -> str:
    """Whole units back to a quantity: `2` / `250m` for cpu; `1Gi`, `96Mi` or bytes for memory."""
    if resource == "cpu":
        return str(value // 1000) if value % 1000 == 0 else f"{value}m"
    for suffix in ("Gi", "Mi", "Ki"):
        size = int(_SUFFIX[suffix])
        if value and value % size == 0:
            return f"{value // size}{suffix}"
    return str(value)


def peak(stages: Sequence[Sequence[int]]) -> int:
    """The largest stage's sum: what the run needs at once."""
    return max((sum(stage) for stage in stages), default=0)


def scale(stages: Sequence[Sequence[int]], limits: Sequence[Sequence[int]] | None = None) -> list[list[int]]:
    """Each request scaled so the total is the peak stage's sum (one resource, whole units).

    Requests above their limit count as the limit (Kubernetes refuses such a container). The
    rounding gives each container the floor of its share, then one unit more to the largest
    remainders (ties: the earlier step), so the result is deterministic and sums exactly."""
    capped = [[min(r, lim) for r, lim in zip(stage, limit, strict=True)] for stage, limit in
              zip(stages, limits, strict=True)] if limits is not None else [list(s) for s in stages]
    flat = [r for stage in capped for r in stage]
    total, top = sum(flat), peak(capped)
    if total == 0 or total == top:
        return capped
    shares = [Fraction(r * top, total) for r in flat]
    out = [int(s) for s in shares]  # floor: shares are non-negative
    left = top - sum(out)
    order = sorted(range(len(flat)), key=lambda i: (-(shares[i] - out[i]), i))
    for i in order[:left]:
        out[i] += 1
    result: list[list[int]] = []
    it = iter(out)
    for stage in capped:
        result.append([next(it) for _ in stage])
    return result


def _unit(requests: Sequence[Sequence[int]], resource: str) -> int:
    """Memory is split in Mi when every request is a multiple of it (else Ki, else bytes), so
    the results read like what users write; cpu in millicores."""
    if resource == "cpu":
        return 1
    values = [r for stage in requests for r in stage]
    return next((u for u in (2**20, 2**10) if all(v % u == 0 for v in values)), 1)


def split_requests(
    stages: Sequence[Sequence[dict[str, dict[str, str]]]],
) -> list[list[dict[str, dict[str, str]]]]:
    """Per stage, per step: the step's resources with requests scaled to the peak stage (cpu
    and memory each); limits unchanged. Raises QuantityError for a value it cannot read."""
    scaled: dict[str, list[list[int]]] = {}
    for resource in RESOURCES:
        requests = [[units(s["requests"][resource], resource) for s in stage] for stage in stages]
        limits = [[units(s["limits"][resource], resource) if resource in s["limits"] else r
                   for s, r in zip(stage, req, strict=True)] for stage, req in zip(stages, requests, strict=True)]
        unit = _unit(requests, resource)
        done = scale([[r // unit for r in st] for st in requests], [[lim // unit for lim in st] for st in limits])
        scaled[resource] = [[r * unit for r in st] for st in done]
    out: list[list[dict[str, dict[str, str]]]] = []
    for si, stage in enumerate(stages):
        out.append([
            {"requests": {**s["requests"], **{r: quantity(scaled[r][si][ti], r) for r in RESOURCES}},
             "limits": dict(s["limits"])}
            for ti, s in enumerate(stage)])
    return out
