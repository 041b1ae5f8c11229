"""The web UI in a real browser (headless Chromium via Playwright), the UI server in its own
process, the API double (authentication and RBAC on) holding the objects; prints:

- first render of a run page with 200 steps, and of a pipeline's page with 10,000 runs (paged):
  the browser's first contentful paint after navigation from a tab showing the pipelines list (as
  a user clicks through; in a new tab each time too, printed, not checked: a new tab's creation is
  250-400 ms of the browser's CPU beside the navigation on 2 cores), on the first visit of a page
  (median of three: three run pages; page 1, page 1 filtered by state, by branch) — the session's
  watches were started by the pipelines list at login (4 s for the 10,000 runs, listed in pages of
  500) — and again (median of 5 visits of one page);
- status-to-screen latency with 100 run pages open when their 100 runs change at once: from the
  write of each execution's status in the API server to the browser having painted the frame that
  shows it (the time it is in the document is printed too); the pages are read only after 3 s;
- the UI server's RSS with those 100 run pages open (each holds an event stream).

Targets: first render <= 300 ms, status on screen <= 1 s, RSS <= 150 MB with 100 open run pages. Each
figure is printed beside its target, with the load average before and after; the exit status is 1
when any target is missed.
Run: .venv/bin/python benchmarks/ui.py [--pages 100] [--runs 10000] [--steps 200]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

G, V = "devops.cubepaas.io", "v1alpha1"
TOKEN = "bench-token"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
FIRST_VISITS = 3  # run pages of 200 steps, each visited first once
QUIET_SECONDS = 3.0  # after the 100 runs change: the browser is left alone this long before its pages are read
HOSTS = 17  # a browser keeps at most six HTTP/1.1 connections per host: 17 loopback addresses carry 100 streams

# Installed before any page script: counts open event streams, and stamps when the run's state changes in
# the document (__changedAt) and when the frame showing it has been painted (__paintedAt: a task posted from
# the requestAnimationFrame callback of the frame after the change runs once that frame is drawn).
PROBE = """
(() => {
  const Native = window.EventSource;
  window.__sseOpen = 0;
  function Wrapped(url, opts) { const es = new Native(url, opts); es.addEventListener('open', () => window.__sseOpen++);
    return es; }
  Wrapped.prototype = Native.prototype;
  Wrapped.CONNECTING = 0; Wrapped.OPEN = 1; Wrapped.CLOSED = 2;
  window.EventSource = Wrapped;
  window.__changedAt = 0; window.__paintedAt = 0;
  new MutationObserver(() => {
    const s = document.getElementById('run-state');
    if (s && s.textContent === 'Success' && !window.__changedAt) {
      window.__changedAt = Date.now();
      requestAnimationFrame(() => setTimeout(() => { window.__paintedAt = Date.now(); }, 0));
    }
  }).observe(document, {subtree: true, childList: true, characterData: true});
})();
"""


def serve(api: str, port: int, hosts: int) -> None:
    """The UI server alone in this process (what `translator ui` runs), on `hosts` loopback addresses."""
    import uvicorn
    from kubernetes import client

    from translator.ui.app import UiConfig, build

    app = build(UiConfig(secret=secrets.token_bytes(32), namespaces=("bench", "history")),
                client.Configuration(host=api))
    sockets = []
    for i in range(hosts):
        # proto IPPROTO_TCP as `translator ui`'s own listening socket has (uvicorn binds host:port through
        # getaddrinfo): asyncio sets TCP_NODELAY only then (base_events._set_nodelay); a plain
        # socket(AF_INET, SOCK_STREAM) left Nagle on and made every keep-alive answer wait ~40 ms for an ACK
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((f"127.0.0.{i + 1}", port))
        sockets.append(sock)
    uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, ws="none")).run(sockets=sockets)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> tuple[float, float]:
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def _config(stages: int, steps: int) -> dict[str, Any]:
    return {"stages": [{"name": f"Stage {s + 1}", "steps": [
        {"runScriptConfig": {"image": "golang:1.22", "shellScript": f"make part-{s}-{t}"}} for t in range(steps)]}
        for s in range(stages)]}


def _status(state: str, stages: int, steps: int, now: str) -> dict[str, Any]:
    step_state = {"Success": "Success", "Building": "Building"}.get(state, "Waiting")
    ended = {"ended": now, "duration": "42s"} if state == "Success" else {}
    return {"executionState": state, "started": now, **ended,
            "engineRef": {"engine": "argo", "workflowName": "x", "workflowNamespace": "bench"},
            "conditions": [{"type": "Initialized", "status": "True", "reason": "Initialized"}],
            "stages": [{"name": "Clone", "state": "Success", "steps": [{"state": "Success", "started": now,
                                                                        "ended": now}]}]
            + [{"name": f"Stage {s + 1}", "state": step_state, "steps": [
                {"state": step_state, "started": now} for _ in range(steps)]} for s in range(stages)]}


def setup(kube: Any, args: argparse.Namespace) -> list[str]:
    """The user, a 200-step run, a pipeline with 10,000 runs, and the runs of the live pages."""
    from tests.kube_double.store import now

    store = kube.store
    auth = kube.enable_auth()
    auth.add_token(TOKEN, "bench-user")
    for ns in ("bench", "history"):
        kube.create_namespace(ns)
    rbac = "rbac.authorization.k8s.io"
    store.create(store.resource(rbac, "clusterroles"), "", {"metadata": {"name": "pipelines-reader"}, "rules": [
        {"apiGroups": [G], "resources": ["pipelines", "pipelineexecutions", "pipelinesettings"],
         "verbs": ["get", "list", "watch"]}]})
    store.create(store.resource(rbac, "clusterrolebindings"), "", {
        "metadata": {"name": "bench-user"}, "roleRef": {"apiGroup": rbac, "kind": "ClusterRole",
                                                         "name": "pipelines-reader"},
        "subjects": [{"apiGroup": rbac, "kind": "User", "name": "bench-user"}]})
    pipelines, executions = store.resource(G, "pipelines"), store.resource(G, "pipelineexecutions")
    stamp = now()

    def execution(ns: str, pipeline: str, run: int, state: str, config: dict[str, Any], stages: int,
                  steps: int) -> None:
        store.create(executions, ns, {"apiVersion": f"{G}/{V}", "kind": "PipelineExecution",
                                      "metadata": {"name": f"{pipeline}-{run}",
                                                   "labels": {f"{G}/pipeline": pipeline}},
                                      "spec": {"pipelineName": pipeline, "run": run, "branch": "main",
                                               "pipelineConfig": config}})
        obj = store.get(executions, ns, f"{pipeline}-{run}")
        obj["status"] = _status(state, stages, steps, stamp)
        store.replace(executions, ns, obj["metadata"]["name"], obj, subresource="status")

    big = _config(args.steps // 10, 10)
    small = _config(2, 2)
    for ns, name, config in (("bench", "big", big), ("history", "many", small), ("bench", "live", small)):
        store.create(pipelines, ns, {"apiVersion": f"{G}/{V}", "kind": "Pipeline", "metadata": {"name": name},
                                     "spec": {"repositoryUrl": f"https://git.example.com/{name}.git",
                                              "config": config}})
    for run in range(1, FIRST_VISITS + 1):
        execution("bench", "big", run, "Building", big, args.steps // 10, 10)
    for run in range(1, args.runs + 1):
        execution("history", "many", run, "Success" if run % 7 else "Failed", small, 2, 2)
    names = []
    for run in range(1, args.pages + 1):
        execution("bench", "live", run, "Building", small, 2, 2)
        names.append(f"live-{run}")
    return names


FCP = "performance.getEntriesByName('first-contentful-paint').length > 0"


def first_paint(context: Any, url: str, *, home: str = "") -> float:
    """First contentful paint of `url` (ms from its navigation's start): navigated to in a new tab,
    or, with `home`, in a tab already showing the UI's `home` page and left alone for 0.5 s — as a
    user clicks through to it (the same renderer process; a new tab's creation costs the browser
    250-400 ms of CPU, which on 2 cores overlaps the navigation)."""
    page = context.new_page()
    if home:
        page.goto(home, wait_until="load")
        time.sleep(0.5)
    page.goto(url, wait_until="load")
    page.wait_for_function(FCP)
    fcp = page.evaluate("performance.getEntriesByName('first-contentful-paint')[0].startTime")
    page.close()
    return float(fcp)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--runs", type=int, default=10000)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--serve", nargs=3, metavar=("API", "PORT", "HOSTS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]), int(args.serve[2]))
        return
    if not Path(CHROMIUM).exists():
        sys.exit(f"needs Debian's chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    from tests.kube_double.server import KubeDouble

    with KubeDouble(history_size=50000) as kube:
        t0 = time.perf_counter()
        live = setup(kube, args)
        print(f"setup: {args.runs} + {args.pages} + {FIRST_VISITS} executions in {time.perf_counter() - t0:.1f} s")
        port = free_port()
        missed: list[str] = []
        ui = subprocess.Popen([sys.executable, __file__, "--serve", kube.url, str(port), str(HOSTS)], cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    urllib.request.urlopen(base + "/healthz", timeout=1)
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            rss_idle, _ = rss_mb(ui.pid)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
                # Playwright polls its waits with eval, which the pages CSP forbids: bypassed for the probes
                context = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
                context.add_init_script(PROBE)
                login = context.new_page()
                login.goto(base + "/login")
                login.fill("input[name=token]", TOKEN)
                login.click("button[type=submit]")
                login.wait_for_url(base + "/")
                login.close()
                cookie = next(c for c in context.cookies() if c["name"] == "translator_session")
                context.add_cookies([{**cookie, "domain": f"127.0.0.{i + 1}"} for i in range(1, HOSTS)])
                missed = report(context, base, port, live, ui.pid, kube, rss_idle, args.runs)
                browser.close()
        finally:
            ui.terminate()
            try:
                ui.wait(timeout=15)
            except subprocess.TimeoutExpired:
                ui.kill()
                ui.wait()
    if missed:
        sys.exit(f"missed {len(missed)} target(s): {'; '.join(missed)}")


class Targets:
    """Each figure printed beside its target; `missed` lists the ones over it."""

    def __init__(self) -> None:
        self.missed: list[str] = []

    def check(self, label: str, value: float, target: float, unit: str, detail: str = "") -> None:
        ok = value <= target
        if not ok:
            self.missed.append(label)
        print(f"{label}: {value:.0f} {unit}{detail}   target <= {target:.0f} {unit}   {'ok' if ok else 'MISSED'}")


def report(context: Any, base: str, port: int, live: list[str], pid: int, kube: Any, rss_idle: float,
           runs: int) -> list[str]:
    """Measures and prints every figure against its target; returns the targets missed."""
    targets = Targets()
    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())} ({os.cpu_count()} cores)")
    # first visits: of three run pages (200 steps each), and of three views of the 10,000-run pipeline
    # (page 1, page 1 of its failed runs, page 1 of branch main); one sample is at the mercy of the
    # machine's other work, so the median of the three is checked (each is printed)
    run_urls = [f"/ns/bench/runs/big-{i}" for i in range(1, FIRST_VISITS + 1)]
    history_urls = ["/ns/history/pipelines/many", "/ns/history/pipelines/many?state=Failed",
                    "/ns/history/pipelines/many?branch=main"]
    # in a new tab each time (printed), then from a tab showing the pipelines list (checked)
    new_tab = [first_paint(context, base + url) for url in run_urls + history_urls[:1]]
    print(f"first render in a new tab (not checked: includes the tab's own creation on the 2 cores): run pages "
          f"{', '.join(f'{v:.0f}' for v in new_tab[:-1])} ms, the 10,000-run pipeline {new_tab[-1]:.0f} ms")
    home = base + "/"
    cold_runs = [first_paint(context, base + url, home=home) for url in run_urls]
    warm_run = statistics.median(first_paint(context, base + run_urls[0], home=home) for _ in range(5))
    cold_histories = [first_paint(context, base + url, home=home) for url in history_urls]
    warm_history = statistics.median(first_paint(context, base + history_urls[0], home=home) for _ in range(5))
    cold_run, cold_history = statistics.median(cold_runs), statistics.median(cold_histories)
    where = "from the pipelines list"
    targets.check(f"first render, run page with 200 steps, first visit {where} (median of 3 pages)", cold_run,
                  300, "ms", f" ({', '.join(f'{v:.0f}' for v in cold_runs)})")
    targets.check(f"first render, run page with 200 steps, again {where} (median of 5 visits)", warm_run, 300, "ms")
    targets.check(f"first render, pipeline with {runs:,} runs (25 a page), first visit {where} (median of 3 views)",
                  cold_history, 300, "ms", f" ({', '.join(f'{v:.0f}' for v in cold_histories)})")
    targets.check(f"first render, pipeline with {runs:,} runs (page 1), again {where} (median of 5 visits)",
                  warm_history, 300, "ms")

    pages = []
    opened = time.perf_counter()
    for i, name in enumerate(live):
        page = context.new_page()
        page.goto(f"http://127.0.0.{i % HOSTS + 1}:{port}/ns/bench/runs/{name}", wait_until="domcontentloaded")
        pages.append(page)
    for page in pages:
        page.wait_for_function("window.__sseOpen >= 1", timeout=60000)
    print(f"{len(pages)} run pages open, every event stream connected, in {time.perf_counter() - opened:.1f} s")
    time.sleep(2.0)
    rss, peak = rss_mb(pid)
    targets.check(f"UI server RSS with {len(pages)} open run pages", rss, 150, "MB",
                  f" (peak {peak:.0f} MB; {rss_idle:.0f} MB before any page)")

    store = kube.store
    executions = store.resource(G, "pipelineexecutions")
    written: dict[str, float] = {}
    with store.lock:  # the 100 runs end at once
        for name in live:
            obj = store.get(executions, "bench", name)
            obj["status"] = _status("Success", 2, 2, obj["status"]["started"])
            store.replace(executions, "bench", name, obj, subresource="status")
            written[name] = time.time() * 1000
    # each page stamps its own times; the browser is not asked anything until they are all due (a hundred
    # waits through Playwright's driver meanwhile would take the 2 cores from what they measure), then each
    # page is read, waiting longer for any without a stamp yet
    time.sleep(QUIET_SECONDS)
    latencies, in_document = [], []
    for name, page in zip(live, pages, strict=True):
        page.wait_for_function("window.__paintedAt > 0", timeout=30000)
        stamps = page.evaluate("[window.__changedAt, window.__paintedAt]")
        in_document.append(float(stamps[0]) - written[name])
        latencies.append(float(stamps[1]) - written[name])
    targets.check(f"status to screen (painted), {len(live)} runs changing at once, the slowest", max(latencies), 1000,
                  "ms", f" (p50 {pct(latencies, 0.5):.0f} ms, p95 {pct(latencies, 0.95):.0f} ms; in the document:"
                  f" p50 {pct(in_document, 0.5):.0f} ms, slowest {max(in_document):.0f} ms)")
    load = os.getloadavg()
    print(f"load average after: {' '.join(f'{x:.1f}' for x in load)} ({os.cpu_count()} cores)")
    print(json.dumps({"first_render_run_ms": round(warm_run), "first_render_run_cold_ms": round(cold_run),
                      "first_render_history_ms": round(warm_history),
                      "first_render_history_cold_ms": round(cold_history), "rss_mb": round(rss),
                      "latency_p50_ms": round(pct(latencies, 0.5)), "latency_max_ms": round(max(latencies)),
                      "load_average": round(load[0], 1), "cores": os.cpu_count(), "missed": targets.missed}))
    return targets.missed


if __name__ == "__main__":
    main()
