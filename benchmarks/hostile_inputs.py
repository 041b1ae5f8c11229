"""The bounds on hostile pipeline files, measured: time and peak memory of the worst inputs.

Each input runs in a fresh child process (so peak RSS is its own) through what `translator
validate --engine argo` and the controller run: read within the limits, parse, validate,
compile. Prints one line per input: outcome, wall time, peak RSS above the interpreter's
baseline, and the first finding.

    .venv/bin/python benchmarks/hostile_inputs.py
"""

from __future__ import annotations

import json
import subprocess
import sys

MiB = 1024 * 1024


def _stages(n: int, script: str = "echo hi") -> str:
    step = f"  steps:\n  - runScriptConfig:\n      image: alpine:3.20\n      shellScript: {script}\n"
    return "stages:\n" + "".join(f"- name: s{i}\n{step}" for i in range(n))


def _largest_accepted() -> str:
    """As many stages as fit under 1 MiB, within Argo's 199 steps: the rest goes into scripts."""
    head = _stages(197)
    room = MiB - len(head) - 200
    return head + "- name: big\n  steps:\n  - runScriptConfig:\n      image: alpine:3.20\n      shellScript: |\n" + \
        "".join("        echo " + "x" * 90 + "\n" for _ in range(room // 104))


def _billion_laughs() -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 9)}]")
    return "\n".join(lines) + "\nstages:\n- name: s\n  steps:\n  - runScriptConfig: {image: a, shellScript: *a9}\n"


INPUTS = {
    "largest accepted file (1 MiB, 199 steps)": _largest_accepted,
    "just over 1 MiB": lambda: _stages(1) + "# " + "x" * MiB + "\n",
    "8,000 stages (past Argo's 199 steps)": lambda: _stages(8_000),
    "one step with 40,000 env variables": lambda: _stages(1) + "    env:\n" + "".join(
        f"      V{i}: value{i}\n" for i in range(40_000)),
    "alias bomb (billion laughs)": _billion_laughs,
    "aliases under env, 9 x 9 deep": lambda: _billion_laughs().replace("shellScript: *a9", "shellScript: x}\n"
                                                                      "    env: {A: *a9"),
    "500,000 nested lists": lambda: "stages: " + "[" * 500_000 + "]" * 500_000 + "\n",
    "200,000 nested flow mappings": lambda: "stages: " + "{a: " * 200_000 + "x" + "}" * 200_000 + "\n",
    "block mappings nested 1,400 levels": lambda: "".join(" " * i + f"k{i}:\n" for i in range(1_400)) + "x" * 9,
    "100,001 scalars": lambda: "stages:\n" + "- a\n" * 100_001,
    "1 MiB of one scalar": lambda: "timeout: " + "9" * (MiB - 20) + "\n",
    "1 MiB of 'a: b' lines": lambda: "a: b\n" * (MiB // 5),
}

CHILD = r"""
import json, resource, sys, time
from translator.compiler.compile import check_text
text = sys.stdin.read()
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start, cpu = time.monotonic(), time.process_time()
result = check_text(text, engine="argo", clock=time.monotonic)
elapsed, cpu = time.monotonic() - start, time.process_time() - cpu
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base
first = next((str(f) for f in result.errors), "ok")
print(json.dumps({"ok": result.ok, "seconds": elapsed, "cpu": cpu, "peak_kib": peak, "first": first[:110],
                  "rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def main() -> None:
    print(f"{'input':52} {'size':>9} {'result':8} {'wall':>7} {'CPU':>7} {'+RSS':>8} {'peak RSS':>9}  first finding")
    for name, make in INPUTS.items():
        text = make()
        proc = subprocess.run([sys.executable, "-c", CHILD], input=text, capture_output=True, text=True,
                              timeout=120, check=False)
        if proc.returncode != 0:
            print(f"{name:52} FAILED: {proc.stderr.strip().splitlines()[-1:]}")
            continue
        out = json.loads(proc.stdout)
        size = f"{len(text.encode()) / MiB:.2f} MiB"
        outcome = "accepted" if out["ok"] else "refused"
        print(f"{name:52} {size:>9} {outcome:8} {out['seconds']:6.2f}s {out['cpu']:6.2f}s "
              f"{out['peak_kib'] / 1024:6.1f}MB {out['rss_kib'] / 1024:7.1f}MB  {out['first']}")
    print("wall/CPU: check_text (read limits, parse, validate, Argo engine check) alone; +RSS: the peak above the")
    print("process after reading its input; peak RSS: the whole child process, interpreter and imports included")


if __name__ == "__main__":
    main()
