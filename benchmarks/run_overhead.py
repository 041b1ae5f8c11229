"""Run overhead per form over the corpus pipelines, in the simulator's timing model
(tests/argo_sim_timing.py: pod start, per-node attach of ReadWriteOnce volumes, Multi-Attach).

Each corpus file is compiled for real in each form; the model runs the compiled Workflow with
every step taking `--step-seconds`. Overhead = time from the run's start to its last step done,
minus the steps' own time (their critical path). Forms:
  (a) pod-per-step sharing a ReadWriteOnce claim (the previous default) on 1 node, and on
      `--nodes` nodes with network-attached volumes;
  (b) one pod per run (containerSet, emptyDir workspace);
  (c) pod-per-step pinned to the first step's node, hostPath workspace.
Targets (exit 1 on a miss): (b) overhead <= one pod start per run, whatever the step count;
(c) <= one pod start per stage and no attach waits; (b) and (c) 0 Multi-Attach events on
`--nodes` nodes. Also: the peak CPU request of (b) with split requests vs the naive sum.

Run: .venv/bin/python benchmarks/run_overhead.py [--pod-start 3] [--attach 20] [--nodes 10]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.argo_sim_timing import Cluster, Timeline, run  # noqa: E402
from translator.api.setting_types import PipelineSettingSpec  # noqa: E402
from translator.compiler.compile import compile_text  # noqa: E402
from translator.compiler.context import ExecutionContext  # noqa: E402
from translator.compiler.requests import units  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "rancher-pipelines" / "files"
EPSILON = 1e-9


def _rwo(wf: dict[str, Any]) -> dict[str, Any]:
    """The previous default: the same pod-per-step Workflow with its claim ReadWriteOnce."""
    for claim in wf["spec"].get("volumeClaimTemplates") or []:
        claim["spec"]["accessModes"] = ["ReadWriteOnce"]
    return wf


def _compile(text: str, form: str) -> dict[str, Any] | None:
    setting = PipelineSettingSpec.model_validate({"argo": {"runForm": form}})
    result = compile_text(text, ExecutionContext(pipeline="bench", repository_url="https://example.com/r.git"), setting)
    return result.objects[0] if result.ok else None


def _pod_cpu(wf: dict[str, Any]) -> int:
    """The one pod's CPU request as compiled (split to the peak stage), in millicores."""
    containers = wf["spec"]["templates"][0]["containerSet"]["containers"]
    return sum(units(c["resources"]["requests"]["cpu"], "cpu") for c in containers)


def _naive_cpu(wf: dict[str, Any]) -> int:
    """The sum of the running steps' own CPU requests (a pod-per-step Workflow), in millicores."""
    templates = {t["name"]: t for t in wf["spec"]["templates"]}
    dag = templates[wf["spec"]["entrypoint"]]["dag"]["tasks"]
    return sum(units(templates[t["template"]]["container"]["resources"]["requests"]["cpu"], "cpu")
               for t in dag if t.get("when") != "false")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pod-start", type=float, default=3.0, help="seconds per pod start (2-5; default 3)")
    parser.add_argument("--attach", type=float, default=20.0, help="seconds per volume attach (10-30; default 20)")
    parser.add_argument("--step-seconds", type=float, default=30.0, help="each step's own run time (default 30)")
    parser.add_argument("--nodes", type=int, default=10, help="nodes of the multi-node cluster (default 10)")
    args = parser.parse_args()
    if CORPUS.exists():
        texts = {p.name: p.read_bytes().decode("utf-8", "replace") for p in sorted(CORPUS.iterdir())}
    else:
        texts = {p.parent.name: p.read_text() for p in sorted((ROOT / "examples").glob("*/.*.y*ml"))}
    many = Cluster(nodes=args.nodes, pod_start=args.pod_start, attach=args.attach, step_seconds=args.step_seconds)
    one = Cluster(nodes=1, pod_start=args.pod_start, attach=args.attach, step_seconds=args.step_seconds)
    rows: dict[str, list[Timeline]] = {"(a) RWO claim, 1 node": [], f"(a) RWO claim, {args.nodes} nodes": [],
                                       "(b) one pod": [], f"(c) pinned, {args.nodes} nodes": []}
    misses: list[str] = []
    split_cpu = naive_cpu = 0
    compiled = 0
    for name, text in texts.items():
        shared, pod, pinned = _compile(text, "pvc"), _compile(text, "pod"), _compile(text, "pinned")
        if shared is None or pod is None or pinned is None:
            continue  # refused by the validator (the corpus's broken files)
        compiled += 1
        a1, a10 = run(_rwo(shared), one), run(shared, many)
        b, c = run(pod, many), run(pinned, many)
        for key, timeline in zip(rows, (a1, a10, b, c), strict=True):
            rows[key].append(timeline)
        if b.overhead > args.pod_start + EPSILON or b.multi_attach:
            misses.append(f"{name}: (b) overhead {b.overhead:.1f} s, {b.multi_attach} Multi-Attach")
        if c.overhead > args.pod_start * c.stages + EPSILON or c.attach_waits or c.multi_attach or len(c.nodes) != 1:
            misses.append(f"{name}: (c) overhead {c.overhead:.1f} s over {c.stages} stages, "
                          f"{c.attach_waits} attach waits, {c.multi_attach} Multi-Attach, {len(c.nodes)} nodes")
        split_cpu += _pod_cpu(pod)
        naive_cpu += _naive_cpu(pinned)
    print(f"{compiled} corpus pipelines; pod start {args.pod_start} s, attach {args.attach} s, "
          f"step {args.step_seconds} s")
    widths = {"overhead mean": 14, "p95": 8, "max": 8, "pods/run": 10, "attach waits": 14, "Multi-Attach": 14}
    print(f"{'form':<26}" + "".join(f"{h:>{w}}" for h, w in widths.items()))
    for key, timelines in rows.items():
        over = sorted(t.overhead for t in timelines)
        p95 = over[min(len(over) - 1, round(0.95 * (len(over) - 1)))] if over else 0.0
        print(f"{key:<26}{statistics.fmean(over) if over else 0:>13.1f}s{p95:>7.1f}s{max(over, default=0):>7.1f}s"
              f"{statistics.fmean(t.pods for t in timelines) if timelines else 0:>10.1f}"
              f"{sum(t.attach_waits for t in timelines):>14}{sum(t.multi_attach for t in timelines):>14}")
    ratio = split_cpu / naive_cpu if naive_cpu else 0.0
    print(f"peak CPU request of (b), all runs together: split {split_cpu / 1000:.1f} cores vs naive sum "
          f"{naive_cpu / 1000:.1f} cores ({ratio:.0%})")
    print(f"targets: (b) <= {args.pod_start} s per run; (c) <= {args.pod_start} s per stage, no attach waits; "
          f"0 Multi-Attach on {args.nodes} nodes")
    for miss in misses[:20]:
        print("MISS", miss)
    print("all targets met" if not misses else f"{len(misses)} misses")
    return 1 if misses or not compiled else 0


if __name__ == "__main__":
    raise SystemExit(main())
