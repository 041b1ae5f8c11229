"""The world `benchmarks/controller.py` runs the controller against, in a process of its own:
the API server double and the Argo simulator, so that the controller's CPU, memory and lag
are its own and the world's limits are measured, not guessed.

The driver talks to it over a multiprocessing pipe (`World.call`); the controller talks to the
double over HTTP, as to an API server. The world measures itself: its CPU, the API requests in
flight (sampled; watches excluded), the simulated steps that are overdue (a step that should
have ended by now and has not: the simulator's backlog), and who wrote what (the User-Agent of
every write, by namespace, so the driver can check which controller handled which namespace).
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.argo_sim import FINISHED, ArgoSimulator  # noqa: E402
from tests.kube_double.server import KubeDouble  # noqa: E402

G = "devops.cubepaas.io"


def kind(name: str) -> dict[str, str]:
    return {"apiVersion": f"{G}/v1alpha1", "kind": name}  # the API server needs them on a custom resource
NAMESPACE_IN_PATH = re.compile(r"/namespaces/([^/?]+)/")
RESOURCE_IN_PATH = re.compile(r"^/(?:api|apis/[^/]+)/[^/]+/(?:namespaces/[^/?]+/)?([^/?]+)(?:/[^/?]+(?:/([^/?]+))?)?")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


def finished_execution(name: str, pipeline: str, run: int, config: dict[str, Any]) -> tuple[dict[str, Any],
                                                                                               dict[str, Any]]:
    """(body, status) of an execution that ran long ago, shaped as the controller writes them."""
    stamp = f"2026-01-{1 + run % 28:02d}T{run % 24:02d}:00:00Z"
    steps = [{"name": "clone", "state": "Success", "started": stamp, "ended": stamp}]
    stages = [{"name": "Clone", "state": "Success", "steps": steps}]
    for si, stage in enumerate(config["stages"], start=1):
        stages.append({"name": stage["name"], "state": "Success", "started": stamp, "ended": stamp,
                       "steps": [{"state": "Success", "started": stamp, "ended": stamp,
                                  "log": f"ns/{pipeline}/{run}/{si}/{ti}/main.log"}
                                 for ti, _ in enumerate(stage["steps"])]})
    body = {**kind("PipelineExecution"),
            "metadata": {"name": name, "labels": {"devops.cubepaas.io/pipeline": pipeline}},
            "spec": {"pipelineName": pipeline, "run": run, "branch": "master", "event": "push",
                     "triggeredBy": "webhook", "commit": f"{run:040x}", "ref": "refs/heads/master",
                     "repositoryUrl": f"https://git.example.com/{pipeline}.git", "pipelineConfig": config}}
    status = {"executionState": "Success", "started": stamp, "ended": stamp, "duration": "1m0s",
              "engineRef": {"engine": "argo", "workflowName": name, "workflowNamespace": "x"},
              "conditions": [{"type": t, "status": "True", "reason": r, "lastUpdateTime": stamp}
                             for t, r in (("Initialized", "Initialized"), ("Provisioned", "Submitted"),
                                          ("Built", "Succeeded"))],
              "stages": stages}
    return body, status


class YieldingLock(threading.Condition):
    """The store's lock, which the simulator's thread takes only after letting waiting requests
    in: its pass over a thousand Workflows takes and drops the lock once per Workflow, and an
    unfair lock handed straight back to it would keep the API double's answers waiting behind the
    whole pass (a real API server answers on other cores while Argo works)."""

    def __init__(self) -> None:
        super().__init__()
        self.polite: set[int] = set()  # thread idents that yield first

    def __enter__(self) -> bool:
        if threading.get_ident() in self.polite:
            time.sleep(0.0001)
        return super().__enter__()


class World:
    def __init__(self, *, history_size: int, step_seconds: float, tick: float) -> None:
        self.kube = KubeDouble(history_size=history_size)
        self.store = self.kube.store
        self.store.lock = self.lock = YieldingLock()
        self.kube.start()
        self.sim = ArgoSimulator(self.kube, step_seconds=step_seconds, tick=tick).start()
        self.lock.polite.add(self.sim._thread.ident or 0)
        self.step_seconds = step_seconds
        self._lock = threading.Lock()
        self.in_flight = 0
        self.in_flight_samples: list[int] = []
        self.overdue_samples: list[int] = []
        self.writers: Counter[tuple[str, str]] = Counter()
        self.calls: Counter[str] = Counter()  # "VERB resource[/subresource]" of every request but watches
        self.latencies: list[float] = []  # seconds each API request (not a watch) took to answer
        self._sampling = threading.Event()
        self._instrument()
        threading.Thread(target=self._sample, daemon=True).start()

    # ------------------------------------------------------------------ measuring itself

    def _instrument(self) -> None:
        world = self
        handler = self.kube.server.RequestHandlerClass
        original = handler._handle  # type: ignore[attr-defined]

        def _handle(self: Any, method: str) -> None:
            if "watch=" in self.path:
                original(self, method)
                return
            if method != "GET":
                found = NAMESPACE_IN_PATH.search(self.path)
                with world._lock:
                    world.writers[(self.headers.get("User-Agent", ""), found.group(1) if found else "")] += 1
            res = RESOURCE_IN_PATH.match(self.path)
            what = f"{method} {res.group(1)}{'/' + res.group(2) if res.group(2) else ''}" if res else f"{method} ?"
            with world._lock:
                world.in_flight += 1
                world.calls[what] += 1
            started = time.perf_counter()
            try:
                original(self, method)
            finally:
                took = time.perf_counter() - started
                with world._lock:
                    world.in_flight -= 1
                    if world._sampling.is_set():
                        world.latencies.append(took)

        handler._handle = _handle  # type: ignore[attr-defined]

    def _overdue(self) -> int:
        """Simulated steps that should have ended half a second ago and have not."""
        now = time.monotonic()
        late = 0
        with self.store.lock:  # stored objects are replaced on write, never changed: read them outside
            workflows = [self.store.objects[k] for k in self.store.objects.of("argoproj.io", "workflows")]
        for wf in workflows:
            name = wf["metadata"]["name"]
            for node in ((wf.get("status") or {}).get("nodes") or {}).values():
                if node.get("type") == "Pod" and node.get("phase") not in FINISHED:
                    started = self.sim._started.get((name, node.get("displayName", "")))
                    if started is not None and now - started > self.step_seconds + 0.5:
                        late += 1
        return late

    def _sample(self) -> None:
        while True:
            self._sampling.wait()
            with self._lock:
                self.in_flight_samples.append(self.in_flight)
            self.overdue_samples.append(self._overdue())
            time.sleep(0.25)

    def sampling(self, on: bool) -> None:
        if on:
            self.in_flight_samples.clear()
            self.overdue_samples.clear()
            self.latencies.clear()
            self._sampling.set()
        else:
            self._sampling.clear()

    def stats(self) -> dict[str, Any]:
        cpu = os.times()
        with self._lock:
            flight = list(self.in_flight_samples)
            writers = dict(self.writers)
            calls = dict(self.calls)
        overdue = list(self.overdue_samples)
        with self._lock:
            latencies = list(self.latencies)
        return {"cpu": cpu.user + cpu.system, "requests": dict(self.kube.requests), "writers": writers, "calls": calls,
                "in_flight_max": max(flight, default=0), "in_flight_p99": pct([float(v) for v in flight], 0.99),
                "overdue_max": max(overdue, default=0), "overdue_p99": pct([float(v) for v in overdue], 0.99),
                "samples": len(flight), "latency_p50": pct(latencies, 0.5), "latency_p99": pct(latencies, 0.99),
                "answered": len(latencies)}

    # ------------------------------------------------------------------ setting up

    def kubeconfig(self) -> str:
        return self.kube.kubeconfig

    def namespaces(self, names: list[str]) -> None:
        for name in names:
            self.kube.create_namespace(name)

    def setting(self, namespace: str, quota: int) -> None:
        self.store.create(self.store.resource(G, "pipelinesettings"), namespace,
                          {**kind("PipelineSetting"), "metadata": {"name": "default"},
                           "spec": {"executorQuota": quota}})

    def pipelines(self, namespace: str, names: list[str], config: dict[str, Any]) -> None:
        res = self.store.resource(G, "pipelines")
        for name in names:
            self.store.create(res, namespace, {**kind("Pipeline"), "metadata": {"name": name}, "spec": {
                "repositoryUrl": f"https://git.example.com/{name}.git", "config": config}})

    def runs(self, namespace: str, pipeline: str, first: int, count: int, config: dict[str, Any]) -> list[str]:
        res = self.store.resource(G, "pipelineexecutions")
        names = []
        for run in range(first, first + count):
            made = self.store.create(res, namespace, {**kind("PipelineExecution"), "metadata": {
                "name": f"{pipeline}-{run}", "labels": {"devops.cubepaas.io/pipeline": pipeline}}, "spec": {
                "pipelineName": pipeline, "run": run, "branch": "master", "pipelineConfig": config}})
            names.append(made["metadata"]["name"])
        return names

    def batch(self, namespace: str, runs: list[tuple[str, int]], config: dict[str, Any]) -> None:
        """Executions `<pipeline>-<run>` for each (pipeline, run), created one after the other."""
        res, pres = self.store.resource(G, "pipelineexecutions"), self.store.resource(G, "pipelines")
        highest: dict[str, int] = {}
        for pipeline, run in runs:
            highest[pipeline] = max(highest.get(pipeline, 0), run)
        for pipeline, run in highest.items():  # the numbers are taken first, as `translator run` and webhooks do
            with self.store.lock:
                current = self.store.get(pres, namespace, pipeline)
                status = current.get("status") or {}
                if int(status.get("nextRun") or 1) <= run:
                    current["status"] = {**status, "nextRun": run + 1}
                    self.store.replace(pres, namespace, pipeline, current, subresource="status")
        for pipeline, run in runs:
            self.store.create(res, namespace, {**kind("PipelineExecution"), "metadata": {
                "name": f"{pipeline}-{run}", "labels": {"devops.cubepaas.io/pipeline": pipeline}}, "spec": {
                "pipelineName": pipeline, "run": run, "branch": "master", "pipelineConfig": config}})

    def finished(self, namespace: str, pipelines: list[str], count: int, config: dict[str, Any]) -> float:
        """`count` finished executions spread over `pipelines` (run numbers 1.. each); seconds taken."""
        started = time.monotonic()
        res = self.store.resource(G, "pipelineexecutions")
        for i in range(count):
            pipeline = pipelines[i % len(pipelines)]
            run = 1 + i // len(pipelines)
            body, status = finished_execution(f"{pipeline}-{run}", pipeline, run, config)
            made = self.store.create(res, namespace, body)
            made["status"] = status
            self.store.replace(res, namespace, made["metadata"]["name"], made, subresource="status")
        pres = self.store.resource(G, "pipelines")
        for p, pipeline in enumerate(pipelines):  # settled: what the controller's roll-up wrote when they ended
            last = (count - 1 - p) // len(pipelines) + 1
            if last < 1:
                continue
            _, status = finished_execution(f"{pipeline}-{last}", pipeline, last, config)
            current = self.store.get(pres, namespace, pipeline)
            current["status"] = {**(current.get("status") or {}), "nextRun": last + 1,
                                 "lastExecutionId": f"{pipeline}-{last}", "lastRunState": "Success",
                                 "lastStarted": status["started"]}
            self.store.replace(pres, namespace, pipeline, current, subresource="status")
        return time.monotonic() - started

    # ------------------------------------------------------------------ reading the outcome

    def progress(self) -> dict[str, int]:
        objects = self.store.objects
        with self.store.lock:
            executions = objects.of(G, "pipelineexecutions")
            done = sum(1 for k in executions
                       if (objects[k].get("status") or {}).get("executionState") in ("Success", "Failed", "Aborted"))
            workflows = len(objects.of("argoproj.io", "workflows"))
        return {"done": done, "executions": len(executions), "workflows": workflows}

    def workflow_exists(self, namespace: str, name: str) -> bool:
        with self.store.lock:
            return ("argoproj.io", "workflows", namespace, name) in self.store.objects

    def timeline(self, since: float) -> dict[str, Any]:
        """From the double's event history after `since`: when each execution was created, when its
        Workflow was, and each status-sync lag (a Workflow change -> the next write of its execution)."""
        with self.store.lock:
            history = [e for e in self.store.history if e.at >= since]
        created: dict[str, float] = {}
        submitted: dict[str, float] = {}
        lags: list[float] = []
        pending: dict[tuple[str, str], float] = {}
        for ev in history:
            key = (ev.obj["metadata"].get("namespace", ""), ev.obj["metadata"]["name"])
            if ev.resource.plural == "workflows":
                if ev.type == "ADDED":
                    submitted.setdefault(f"{key[0]}/{key[1]}", ev.at)
                elif ev.type == "MODIFIED":
                    pending.setdefault(key, ev.at)
            elif ev.resource.plural == "pipelineexecutions":
                if ev.type == "ADDED":
                    created.setdefault(f"{key[0]}/{key[1]}", ev.at)
                elif ev.type == "MODIFIED" and key in pending:
                    lags.append(ev.at - pending.pop(key))
        return {"created": created, "submitted": submitted, "lags": lags, "events": len(history),
                "unanswered": len(pending)}

    def lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return self.store.get(self.store.resource("coordination.k8s.io", "leases"), namespace, name)
        except Exception:
            return None


def serve(conn: Connection, options: dict[str, Any]) -> None:
    # the simulator's thread is busy in bursts; with the default 5 ms switch interval each HTTP
    # handler would wait up to 5 ms for the GIL at every socket read (a convoy), and the double
    # would answer slowly at low CPU: the world, not the controller, would set the pace
    sys.setswitchinterval(0.0005)
    world = World(**options)
    while True:
        try:
            name, kwargs = conn.recv()
        except EOFError:
            return
        if name == "stop":
            world.sim.stop()
            world.kube.stop()
            conn.send(("ok", None))
            return
        try:
            conn.send(("ok", getattr(world, name)(**kwargs)))
        except Exception as exc:  # reported to the driver, which stops
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


class WorldProcess:
    """The driver's handle: `call("runs", namespace=..., ...)`, `pid`, `stop()`."""

    def __init__(self, *, history_size: int = 400_000, step_seconds: float = 5.0, tick: float = 0.05) -> None:
        self._dir = tempfile.TemporaryDirectory()
        address = str(Path(self._dir.name) / "world.sock")
        key = secrets.token_bytes(16)
        listener = Listener(address, family="AF_UNIX", authkey=key)
        self.process = subprocess.Popen(
            [sys.executable, __file__, address, str(history_size), str(step_seconds), str(tick)],
            stdin=subprocess.PIPE)
        assert self.process.stdin is not None
        self.process.stdin.write(key.hex().encode() + b"\n")
        self.process.stdin.close()
        self._conn = listener.accept()
        listener.close()
        self.pid = self.process.pid
        self.profiler: subprocess.Popen[bytes] | None = None
        if os.environ.get("BENCH_PROFILE"):  # py-spy beside the interpreter, as the driver's controllers get
            out = Path(os.environ["BENCH_PROFILE"]) / f"world-{self.pid}.txt"
            self.profiler = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "--pid",
                                              str(self.pid), "-r", "50", "--gil", "-f", "raw", "-o", str(out)],
                                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def call(self, command: str, /, **kwargs: Any) -> Any:
        self._conn.send((command, kwargs))
        outcome, value = self._conn.recv()
        if outcome != "ok":
            raise RuntimeError(f"the world failed at {command}: {value}")
        return value

    def stop(self) -> None:
        try:
            self.call("stop")
        except (OSError, EOFError, RuntimeError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.profiler is not None:
            self.profiler.wait(timeout=60)
        self._dir.cleanup()


if __name__ == "__main__":
    address, history, step, tick = sys.argv[1:5]
    secret = bytes.fromhex(sys.stdin.readline().strip())
    serve(Client(address, family="AF_UNIX", authkey=secret),
          {"history_size": int(history), "step_seconds": float(step), "tick": float(tick)})
