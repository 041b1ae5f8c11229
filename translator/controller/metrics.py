"""Prometheus metrics and the /metrics /healthz /readyz endpoints (prometheus_client)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.reconcile_seconds = Histogram("translator_reconcile_duration_seconds", "Time of one reconcile",
                                           registry=self.registry)
        self.reconciles = Counter("translator_reconciles_total", "Reconciles by kind", ["kind"], registry=self.registry)
        self.sync_lag_seconds = Histogram(
            "translator_status_sync_lag_seconds", "Workflow change seen -> execution status written",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10), registry=self.registry)
        self.api_errors = Counter("translator_api_errors_total", "Kubernetes API errors", ["code"],
                                  registry=self.registry)
        self.queue_length = Gauge("translator_queue_length", "Keys waiting in the work queue",
                                  registry=self.registry)
        self.admitted = Counter("translator_runs_admitted_total", "Executions handed to an engine",
                                registry=self.registry)
        self.cache_runs = Counter(
            "translator_cache_runs_total", "Finished runs with cached steps, by whether they ran on a node holding "
            "the cache (hit) or not (miss); hit rate = hit / (hit + miss), per pipeline or summed",
            ["namespace", "pipeline", "result"], registry=self.registry)
        self.cache_waits = Counter(
            "translator_cache_waits_total", "Runs that waited for a node holding their cache, by outcome "
            "(placed: a holder took it; gave_up: it ran cold after the wait)", ["result"], registry=self.registry)
        self.cache_node_bytes = Gauge("translator_cache_node_bytes", "Bytes of build caches per node (inventory)",
                                      ["node"], registry=self.registry)
        self.cache_node_evictions = Gauge("translator_cache_node_evictions", "Caches evicted per node (inventory)",
                                          ["node"], registry=self.registry)
        self.notifications = Counter("translator_notifications_total", "Runs whose notifications were delivered "
                                     "(sent) or not (failed)", ["result"], registry=self.registry)
        self.caches_synced = Gauge("translator_caches_synced", "1 once every informer cache is whole (also on a "
                                   "standby, which keeps its caches warm)", registry=self.registry)
        self.ready = False
        self._states: Callable[[], dict[str, int]] | None = None

    def api_error(self, code: str) -> None:
        self.api_errors.labels(code=code).inc()

    def watch_states(self, count: Callable[[], dict[str, int]]) -> None:
        """Executions by state, counted from the informer cache at scrape time."""
        self._states = count
        metrics = self

        class StateCollector:
            def collect(self) -> Iterable[Any]:
                family = GaugeMetricFamily("translator_executions", "PipelineExecutions by state",
                                           labels=["state"])
                for state, n in sorted((metrics._states or dict)().items()):
                    family.add_metric([state], n)
                yield family

        self.registry.register(StateCollector())

    def serve(self, port: int, host: str = "0.0.0.0") -> ThreadingHTTPServer:
        metrics = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                if self.path.startswith("/metrics"):
                    body, code, ctype = generate_latest(metrics.registry), 200, "text/plain; version=0.0.4"
                elif self.path.startswith("/healthz"):
                    body, code, ctype = b"ok\n", 200, "text/plain"
                elif self.path.startswith("/readyz"):
                    ok = metrics.ready
                    body, code, ctype = (b"ok\n" if ok else b"not ready\n"), (200 if ok else 503), "text/plain"
                else:
                    body, code, ctype = b"not found\n", 404, "text/plain"
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        server = ThreadingHTTPServer((host, port), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server
