"""Drive executions through the real controller (its own process) against the API double and
the Argo simulator, and print: runs admitted per minute, status-sync lag p50/p99, API requests
per run, API requests per minute while finished executions sit idle, peak RSS and CPU per run.

Targets: >= 1,200 runs/min admitted, p99 lag <= 1 s, no requests at idle beyond the watches,
<= 250 MB RSS. Run: .venv/bin/python benchmarks/controller.py [--runs 1000] [--idle 10000]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.argo_sim import ArgoSimulator  # noqa: E402
from tests.kube_double.server import KubeDouble  # noqa: E402

G, V = "devops.cubepaas.io", "v1alpha1"


def kind(name: str) -> dict[str, str]:
    return {"apiVersion": f"{G}/{V}", "kind": name}  # the API server needs them on a custom resource


CONFIG = {"stages": [{"name": "Build", "steps": [{"runScriptConfig": {"image": "alpine", "shellScript": "make"}},
                                                 {"runScriptConfig": {"image": "alpine", "shellScript": "lint"}}]},
                     {"name": "Ship", "steps": [{"runScriptConfig": {"image": "alpine", "shellScript": "ship"}}]}]}


def proc_stats(pid: int) -> tuple[float, float]:
    """(peak RSS in MB, CPU seconds) of a process, from /proc."""
    rss = 0.0
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists() and children.read_text().split():  # run under a profiler: measure its child
        pid = int(children.read_text().split()[0])
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            rss = int(line.split()[1]) / 1024
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return rss, (int(fields[11]) + int(fields[12])) / ticks


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        print("(the controller did not stop within 20 s of SIGTERM; killed)", file=sys.stderr)
        proc.kill()
        proc.wait()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def queue_length(port: int) -> float:
    """The controller's own `translator_queue_length` gauge, from its /metrics; -1 until ready."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as resp:
            if resp.status != 200:
                return -1.0
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            for line in resp.read().decode().splitlines():
                if line.startswith("translator_queue_length "):
                    return float(line.split()[1])
    except OSError:  # not listening yet, or 503 while it lists
        pass
    return -1.0


def start_controller(kube: KubeDouble, namespace: str, port: int = 0) -> subprocess.Popen[bytes]:
    prefix = os.environ.get("BENCH_PREFIX", "").split()  # e.g. "py-spy record -o prof.svg --"
    return subprocess.Popen(
        [*prefix, sys.executable, "-m", "translator.cli", "controller", "--kubeconfig", kube.kubeconfig,
         "--namespace", namespace, "--no-leader-elect", "--metrics-port", str(port), "--workers", "4",
         "--log-level", os.environ.get("BENCH_LOG", "warning")],
        stdout=subprocess.DEVNULL, stderr=None if os.environ.get("BENCH_LOG") else subprocess.DEVNULL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--idle", type=int, default=10000, help="finished executions sitting idle")
    parser.add_argument("--idle-seconds", type=float, default=30)
    args = parser.parse_args()

    with KubeDouble(history_size=200000) as kube:
        store = kube.store
        ns = "bench"
        kube.create_namespace(ns)
        pe = store.resource(G, "pipelineexecutions")
        store.create(store.resource(G, "pipelinesettings"), ns, {
            **kind("PipelineSetting"), "metadata": {"name": "default"}, "spec": {"executorQuota": args.runs}})
        store.create(store.resource(G, "pipelines"), ns, {**kind("Pipeline"), "metadata": {"name": "app"}, "spec": {
            "repositoryUrl": "https://git.example.com/app.git", "config": CONFIG}})
        sim = ArgoSimulator(kube, step_seconds=0.2, tick=0.05).start()
        proc = start_controller(kube, ns)
        time.sleep(3)  # the controller starts and lists
        base_requests = sum(kube.requests.values())
        own_cpu0 = sum(os.times()[:2])
        t0 = time.monotonic()
        for i in range(1, args.runs + 1):
            store.create(pe, ns, {**kind("PipelineExecution"), "metadata": {"name": f"app-{i}"}, "spec": {
                "pipelineName": "app", "run": i, "branch": "master", "pipelineConfig": CONFIG}})
        created_at = time.monotonic()
        wf_res = store.resource("argoproj.io", "workflows")
        def count(test: object) -> int:
            with store.lock:
                return sum(1 for k, o in store.objects.items() if test(k, o))  # type: ignore[operator]

        while count(lambda k, o: k[1] == "workflows") < args.runs and time.monotonic() - t0 < 600:
            time.sleep(0.05)
        admitted_at = time.monotonic()
        print(f"admitted after {admitted_at - t0:.1f} s", file=sys.stderr)
        while time.monotonic() - t0 < 900:
            done = count(lambda k, o: k[1] == "pipelineexecutions"
                         and (o.get("status") or {}).get("executionState") in ("Success", "Failed"))
            if done >= args.runs:
                break
            time.sleep(0.2)
        finished_at = time.monotonic()
        run_requests = sum(kube.requests.values()) - base_requests
        watch_requests = kube.requests.get("GET watch", 0)
        rss, cpu = proc_stats(proc.pid)
        own_cpu = sum(os.times()[:2]) - own_cpu0
        busy = finished_at - t0

        # status-sync lag: each Workflow change -> the next write of its execution's status
        lags = []
        pending: dict[str, float] = {}
        with store.lock:
            history = list(store.history)
        for ev in history:
            if ev.resource == wf_res and ev.type == "MODIFIED":
                pending.setdefault(ev.obj["metadata"]["name"], ev.at)
            elif ev.resource == pe and ev.type == "MODIFIED" and ev.obj["metadata"]["name"] in pending:
                lags.append(ev.at - pending.pop(ev.obj["metadata"]["name"]))
        stop(proc)
        sim.stop()

        # idle: many finished executions, nothing happening
        for i in range(args.idle):
            obj = store.create(pe, ns, {**kind("PipelineExecution"), "metadata": {"name": f"old-{i}"},
                                        "spec": {"pipelineName": "app", "run": i}})
            obj["status"] = {"executionState": "Success", "started": "2026-01-01T00:00:00Z",
                             "ended": "2026-01-01T00:01:00Z", "conditions": [{"type": "Built", "status": "True"}],
                             "stages": [{"name": "Clone", "state": "Success", "steps": [{"state": "Success"}]}]}
            store.replace(pe, ns, f"old-{i}", obj, subresource="status")
        port = free_port()
        proc = start_controller(kube, ns, port)
        settle_start = time.monotonic()
        quiet = 0
        while quiet < 3 and time.monotonic() - settle_start < 300:  # start, list, reconcile everything once
            time.sleep(2)
            quiet = quiet + 1 if queue_length(port) == 0 else 0
        settled = time.monotonic() - settle_start
        before = {k: v for k, v in kube.requests.items()}
        time.sleep(args.idle_seconds)
        after = dict(kube.requests)
        idle_calls = sum(after.get(k, 0) - before.get(k, 0) for k in after if not k.endswith("watch"))
        idle_watches = after.get("GET watch", 0) - before.get("GET watch", 0)
        idle_rss, _ = proc_stats(proc.pid)
        stop(proc)

    admit_minutes = (admitted_at - created_at) / 60 if admitted_at > created_at else float("nan")
    print(f"executions: {args.runs} (3 steps each, clone included: 4), quota {args.runs}")
    print(f"runs admitted per minute (created -> Workflow created): {args.runs / max(admit_minutes, 1e-9):.0f} "
          f"(all {args.runs} admitted {admitted_at - t0:.1f} s after the first was created; target >= 1200)")
    print(f"all runs finished after {finished_at - t0:.1f} s (simulated steps take 0.2 s)")
    print(f"status-sync lag (Workflow change -> execution status), {len(lags)} changes: "
          f"p50 {pct(lags, 0.5) * 1000:.0f} ms, p99 {pct(lags, 0.99) * 1000:.0f} ms (target p99 <= 1000 ms)")
    print(f"API requests per run: {(run_requests - watch_requests) / args.runs:.1f} "
          f"(+ {watch_requests} watch requests in all)")
    print(f"controller CPU per run: {cpu / args.runs * 1000:.1f} ms, i.e. one core admits and follows "
          f"{60000 / (cpu / args.runs * 1000):.0f} runs/min; peak RSS {rss:.0f} MB (target <= 250)")
    print(f"the double + simulator process used {own_cpu:.0f} s of CPU in those {busy:.0f} s "
          f"({own_cpu / busy * 100:.0f}% of a core, under one GIL), the controller {cpu:.0f} s "
          f"({cpu / busy * 100:.0f}%): the machine has 2 cores")
    print(f"idle with {args.idle} finished executions: {idle_calls / (args.idle_seconds / 60):.1f} API requests/min "
          f"beyond the watches ({idle_watches} watch re-opens in {args.idle_seconds:.0f} s), measured after a "
          f"start-up of {settled:.0f} s (list and one reconcile of each); RSS {idle_rss:.0f} MB")
    print(f"median lag {statistics.median(lags) * 1000 if lags else float('nan'):.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
