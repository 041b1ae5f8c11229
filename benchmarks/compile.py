"""Compile the shared corpus and print per-file latency, throughput and one-command wall time.

Targets on this machine: p50 <= 5 ms, p99 <= 20 ms per file, `translator compile` <= 1 s.
Run: .venv/bin/python benchmarks/compile.py [--rounds N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from translator.compiler.compile import compile_text  # noqa: E402
from translator.compiler.context import ExecutionContext  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "rancher-pipelines" / "files"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="passes over the corpus (default 5)")
    args = parser.parse_args()
    if CORPUS.exists():
        texts = [p.read_bytes().decode("utf-8", "replace") for p in sorted(CORPUS.iterdir())]
        source = f"{len(texts)} files of ../shared/corpus/rancher-pipelines"
    else:
        texts = [p.read_text() for p in sorted((ROOT / "examples").glob("*/.*.y*ml"))]
        source = f"{len(texts)} example files (../shared is absent)"
    ctx = ExecutionContext(pipeline="bench", repository_url="https://example.com/r.git", cache_nodes=("a", "b"))
    for text in texts:  # warm-up: imports, caches
        compile_text(text, ctx)
    samples: list[float] = []
    compiled = refused = 0
    start = time.perf_counter()
    for _ in range(args.rounds):
        for text in texts:
            t0 = time.perf_counter()
            result = compile_text(text, ctx)
            samples.append((time.perf_counter() - t0) * 1000)
            compiled += result.ok
            refused += not result.ok
    wall = time.perf_counter() - start
    walls = []
    example = ROOT / "examples" / "all-step-types"
    for _ in range(5):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "translator.cli", "compile", str(example)],
                       check=True, capture_output=True)
        walls.append(time.perf_counter() - t0)
    print(f"corpus: {source}, {args.rounds} rounds, {compiled} compiled, {refused} refused")
    print(f"per-file p50: {percentile(samples, 0.50):.2f} ms (target <= 5)")
    print(f"per-file p99: {percentile(samples, 0.99):.2f} ms (target <= 20)")
    print(f"per-file mean: {statistics.fmean(samples):.2f} ms, max {max(samples):.2f} ms")
    print(f"throughput: {len(samples) / wall:.0f} files/s")
    print(f"`translator compile` one file, wall: median {statistics.median(walls):.2f} s, "
          f"max {max(walls):.2f} s (target <= 1)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
