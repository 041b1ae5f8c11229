"""Cache placement policies under load: a scheduling simulation around the project's own code.

Every run's node preferences come from `translator.cache.placement.placement` (the function
the compiler uses), turned into affinity terms by `preferred_affinity` / `required_affinity`;
the simulated scheduler reads those terms as kube-scheduler does.

Model (from the issue's study):
- kube-scheduler: feasible nodes (a free slot; required affinity), score = 2 x NodeAffinity
  (sum of matching preferred weights, normalised to 0..100 over the feasible nodes) +
  LeastAllocated (free share of the node, 0..100); ties broken at random. A run with no
  feasible node waits (FIFO) until a slot frees.
- Pipelines are Zipf-popular (s = 1). A run on a node holding its pipeline's cache takes
  0.3 x its cold time (cold: 340 s mean, lognormal sigma 0.3).
- Load is arrivals x mean cold time / slots (so 85 % means the cluster would be 85 % busy if
  every run were cold). The burst is 1.5 x the 85 % load.
- Disk: each node holds at most `disk` caches (equal sizes), least recently used evicted
  first, never one in use. "tight" = room for pipelines / nodes caches per node (the disks
  together hold one copy of each cache), "ample" = every cache fits on every node.
- 4 run slots per node.

Policies:
- none: no affinity.
- last3: preferred affinity to the last 3 nodes that ran the pipeline (100/66/33), nothing else.
- full: every node whose inventory holds the cache (highest weights) then the recency list
  minus nodes that evicted it; while holders exist, the run requires a holder for up to
  `wait` (120 s) and then runs anywhere, cold.

Usage: python benchmarks/cache_policy.py [--runs 20000] [--quick]
"""

from __future__ import annotations

import argparse
import heapq
import math
import random
import statistics
import sys
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from translator.cache.placement import HOSTNAME_LABEL, placement, preferred_affinity, required_affinity

COLD_MEAN = 340.0
HIT_FACTOR = 0.3
SLOTS = 4
WAIT = 120.0
TIGHT_COPIES = 1.0


@dataclass
class Node:
    name: str
    disk: int
    caches: OrderedDict[int, None] = field(default_factory=OrderedDict)  # LRU: oldest first
    in_use: dict[int, int] = field(default_factory=dict)
    running: int = 0
    busy_seconds: float = 0.0

    def holds(self, pipeline: int) -> bool:
        return pipeline in self.caches

    def use(self, pipeline: int) -> None:
        self.caches[pipeline] = None
        self.caches.move_to_end(pipeline)
        self.in_use[pipeline] = self.in_use.get(pipeline, 0) + 1
        while len(self.caches) > self.disk:
            victim = next((p for p in self.caches if not self.in_use.get(p)), None)
            if victim is None:
                break
            del self.caches[victim]

    def release(self, pipeline: int) -> None:
        self.in_use[pipeline] -= 1


@dataclass
class Run:
    id: int
    pipeline: int
    arrival: float
    cold: float
    preferred: list[dict[str, object]]
    required: set[str] | None
    deadline: float = math.inf
    start: float = 0.0
    hit: bool = False
    measured: bool = True


def _terms(prefs: list[dict[str, object]]) -> list[tuple[int, set[str]]]:
    out = []
    for term in prefs:
        preference = term["preference"]
        assert isinstance(preference, dict)
        values: set[str] = set()
        for expr in preference["matchExpressions"]:
            if expr["key"] == HOSTNAME_LABEL and expr["operator"] == "In":
                values |= set(expr["values"])
        weight = term["weight"]
        assert isinstance(weight, int)
        out.append((weight, values))
    return out


class Cluster:
    def __init__(self, nodes: int, pipelines: int, disk: int, policy: str, rng: random.Random) -> None:
        self.nodes = [Node(f"node-{i:02d}", disk) for i in range(nodes)]
        self.by_name = {n.name: n for n in self.nodes}
        self.policy = policy
        self.rng = rng
        self.recency: dict[int, list[str]] = {}
        self.pending: deque[Run] = deque()
        self.finished: list[Run] = []
        self.events: list[tuple[float, int, str, object]] = []
        self.seq = 0
        self.now = 0.0
        self.pipelines = pipelines

    # -------------------------------------------------------------- the policy (project code)

    def affinity(self, run: Run) -> None:
        recency = self.recency.get(run.pipeline, [])
        if self.policy == "none":
            run.preferred, run.required = [], None
            return
        if self.policy == "last3":
            prefs = placement((), recency, frozenset(), 3)
            run.preferred, run.required = preferred_affinity(prefs), None
            return
        holders = [n.name for n in self.nodes if n.holds(run.pipeline)]
        holders.sort(key=lambda name: -list(self.by_name[name].caches).index(run.pipeline))
        evicted = frozenset(n.name for n in self.nodes if not n.holds(run.pipeline))
        prefs = placement(holders, recency, evicted, 3)
        run.preferred = preferred_affinity(prefs)
        if holders:
            req = required_affinity(tuple(holders))
            terms = req["nodeSelectorTerms"]
            assert isinstance(terms, list)
            run.required = {v for t in terms for e in t["matchExpressions"] for v in e["values"]}
            run.deadline = self.now + WAIT
        else:
            run.required = None

    # -------------------------------------------------------------- kube-scheduler

    def schedule(self, run: Run, only: Node | None = None) -> Node | None:
        feasible = [n for n in ([only] if only else self.nodes) if n.running < SLOTS]
        if run.required is not None:
            feasible = [n for n in feasible if n.name in run.required]
        if not feasible:
            return None
        terms = _terms(run.preferred)
        raw = {n.name: sum(w for w, values in terms if n.name in values) for n in feasible}
        top = max(raw.values()) or 1
        best, best_score = [], -1.0
        for n in feasible:
            score = 2 * (100 * raw[n.name] / top) + 100 * (SLOTS - n.running) / SLOTS
            if score > best_score + 1e-9:
                best, best_score = [n], score
            elif abs(score - best_score) <= 1e-9:
                best.append(n)
        return self.rng.choice(best)

    def start(self, run: Run, node: Node) -> None:
        run.start = self.now
        run.hit = node.holds(run.pipeline)
        duration = run.cold * (HIT_FACTOR if run.hit else 1.0)
        node.running += 1
        node.busy_seconds += duration
        node.use(run.pipeline)
        self.push(self.now + duration, "end", (run, node))

    def push(self, at: float, kind: str, payload: object) -> None:
        self.seq += 1
        heapq.heappush(self.events, (at, self.seq, kind, payload))

    def arrive(self, run: Run) -> None:
        self.affinity(run)
        node = self.schedule(run)
        if node is not None:
            self.start(run, node)
            return
        self.pending.append(run)
        if run.required is not None:
            self.push(run.deadline, "deadline", run)

    def drain(self, freed: Node | None) -> None:
        """A slot freed (or a deadline passed): pending runs are tried in arrival order."""
        for run in list(self.pending):
            if freed is not None and freed.running >= SLOTS:
                break
            node = self.schedule(run)
            if node is not None:
                self.pending.remove(run)
                self.start(run, node)

    def end(self, run: Run, node: Node) -> None:
        node.running -= 1
        node.release(run.pipeline)
        nodes = self.recency.setdefault(run.pipeline, [])
        if node.name in nodes:
            nodes.remove(node.name)
        nodes.insert(0, node.name)
        del nodes[10:]
        self.finished.append(run)
        self.drain(node)

    def deadline(self, run: Run) -> None:
        if run in self.pending and run.required is not None:
            run.required = None  # resubmitted without the requirement: runs anywhere, cold
            self.drain(None)

    def simulate(self, phases: list[tuple[int, float, bool]]) -> None:
        """phases: (runs, load, measured)."""
        weights = [1 / (i + 1) for i in range(self.pipelines)]
        capacity = len(self.nodes) * SLOTS
        at, rid = 0.0, 0
        for count, load, measured in phases:
            rate = load * capacity / COLD_MEAN
            for _ in range(count):
                at += self.rng.expovariate(rate)
                pipeline = self.rng.choices(range(self.pipelines), weights)[0]
                cold = COLD_MEAN * self.rng.lognormvariate(-0.045, 0.3)
                rid += 1
                self.push(at, "arrive", Run(rid, pipeline, at, cold, [], None, measured=measured))
        while self.events:
            self.now, _, kind, payload = heapq.heappop(self.events)
            if kind == "arrive":
                assert isinstance(payload, Run)
                self.arrive(payload)
            elif kind == "end":
                run, node = payload  # type: ignore[misc]
                self.end(run, node)
            else:
                assert isinstance(payload, Run)
                self.deadline(payload)


@dataclass
class Result:
    hits: float
    wait_mean: float
    wait_p95: float
    time_mean: float
    floor: float
    busiest: float


def run_case(nodes: int, pipelines: int, disk: str, policy: str, load: str, runs: int, seed: int = 1) -> Result:
    rng = random.Random(seed)
    room = pipelines if disk == "ample" else max(2, math.ceil(TIGHT_COPIES * pipelines / nodes))
    cluster = Cluster(nodes, pipelines, room, policy, rng)
    warm = max(runs // 5, 1000)
    if load == "burst":
        phases = [(warm, 0.85, False), (runs, 1.5 * 0.85, True)]
    else:
        phases = [(warm, float(load) / 100, False), (runs, float(load) / 100, True)]
    cluster.simulate(phases)
    measured = [r for r in cluster.finished if r.measured]
    waits = sorted(r.start - r.arrival for r in measured)
    times = [r.start - r.arrival + r.cold * (HIT_FACTOR if r.hit else 1.0) for r in measured]
    span = max(r.start for r in cluster.finished) or 1.0
    return Result(
        hits=sum(r.hit for r in measured) / len(measured),
        wait_mean=statistics.fmean(waits), wait_p95=waits[int(0.95 * (len(waits) - 1))],
        time_mean=statistics.fmean(times), floor=statistics.fmean(r.cold * HIT_FACTOR for r in measured),
        busiest=max(n.busy_seconds for n in cluster.nodes) / (SLOTS * span),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20000, help="measured runs per case")
    parser.add_argument("--quick", action="store_true", help="10 nodes / 50 pipelines only, 5,000 runs")
    parser.add_argument("--slots", type=int, default=SLOTS, help="runs a node takes at once")
    parser.add_argument("--tight-copies", type=float, default=TIGHT_COPIES,
                        help="tight disk: cluster-wide copies of each cache the disks hold")
    args = parser.parse_args()
    globals().update(SLOTS=args.slots, TIGHT_COPIES=args.tight_copies)
    runs = 5000 if args.quick else args.runs
    clusters = [(10, 50)] if args.quick else [(10, 50), (10, 500), (50, 50), (50, 500)]
    started = time.perf_counter()
    failures = []
    print(f"{'nodes':>5} {'pipes':>5} {'disk':>5} {'load':>5} {'policy':>6} {'hits':>6} {'wait':>7} "
          f"{'p95':>7} {'time':>7} {'x floor':>7} {'busiest':>7}")
    for nodes, pipelines in clusters:
        for disk in ("tight", "ample"):
            for load in ("30", "60", "85", "burst"):
                for policy in ("none", "last3", "full"):
                    r = run_case(nodes, pipelines, disk, policy, load, runs)
                    ratio = r.time_mean / r.floor
                    print(f"{nodes:>5} {pipelines:>5} {disk:>5} {load:>5} {policy:>6} {r.hits:>6.1%} "
                          f"{r.wait_mean:>6.1f}s {r.wait_p95:>6.1f}s {r.time_mean / 60:>5.2f}m {ratio:>7.2f} "
                          f"{r.busiest:>7.1%}")
                    if policy == "full" and disk == "tight" and load == "85" and (r.hits < 0.97 or ratio > 1.1):
                        failures.append(f"{nodes}/{pipelines} at 85 %: {r.hits:.1%} hits, {ratio:.2f} x floor")
                    if policy == "full" and disk == "tight" and load == "burst" and (
                            r.hits < 0.90 or r.wait_mean > 30):
                        failures.append(f"{nodes}/{pipelines} burst: {r.hits:.1%} hits, {r.wait_mean:.1f} s wait")
            print()
    print(f"targets (full policy, tight disk): 85 % load >= 97 % hits and <= 1.1 x floor; "
          f"1.5 x burst >= 90 % hits and mean wait <= 30 s; {time.perf_counter() - started:.0f} s")
    for failure in failures:
        print(f"MISSED: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
