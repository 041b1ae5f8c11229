"""The controller against an API server that is down: backoff with jitter, capped, and a few log
lines — a state change once, then a summary at most every interval — instead of thousands."""

from __future__ import annotations

import itertools
import logging
import socket
import threading
import time

import pytest
from kubernetes import client

from translator.controller.backoff import Backoff, FailureLog
from translator.controller.informer import Informer
from translator.controller.leader import LeaderElector
from translator.controller.manager import Controller, ControllerConfig
from translator.controller.workqueue import WorkQueue
from translator.kubeclient import Kube

_BOUND: list[socket.socket] = []  # bound, never listening: connections are refused; kept so no one reuses the port


def _dead_server() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    _BOUND.append(s)
    return f"https://127.0.0.1:{s.getsockname()[1]}"


def _dead_kube(retry_seconds: float = 0.2) -> tuple[Kube, list[str]]:
    cfg = client.Configuration()
    cfg.host = _dead_server()
    cfg.verify_ssl = False
    attempts: list[str] = []
    kube = Kube(client.ApiClient(cfg), on_error=attempts.append, retry_seconds=retry_seconds)
    return kube, attempts


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def by(self, prefix: str, level: int = logging.INFO) -> list[str]:
        return [r.getMessage() for r in self.records if r.name.startswith(prefix) and r.levelno >= level]


@pytest.fixture
def lines() -> Lines:
    handler = Lines()
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler  # type: ignore[misc]
    root.removeHandler(handler)
    root.setLevel(old)


def test_backoff_doubles_with_full_jitter_up_to_the_cap() -> None:
    highs = Backoff(base=0.1, cap=2.0, rand=lambda: 1.0)
    assert [round(highs.next(), 3) for _ in range(7)] == [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]
    draws = itertools.cycle([0.0, 0.5])
    jittered = Backoff(base=0.1, cap=2.0, rand=lambda: next(draws))
    assert [jittered.next() for _ in range(2)] == [0.0, 0.1]
    highs.reset()
    assert highs.next() == 0.1


def test_failure_log_says_a_state_change_once_then_a_summary_per_interval(lines: Lines) -> None:
    now = [0.0]
    failures = FailureLog(logging.getLogger("translator.test"), "watch of pipelines", interval=60,
                          clock=lambda: now[0])
    for _ in range(1000):  # 1000 failures in 100 s
        now[0] += 0.1
        failures.failed("connection refused")
    failures.recovered()
    failures.recovered()
    said = lines.by("translator.test")
    assert len(said) == 3, said
    assert said[0].startswith("watch of pipelines failing: connection refused")
    assert said[1].startswith("watch of pipelines still failing: 600 attempts in the last 60s")
    assert said[2] == "watch of pipelines recovered after 100s"


def test_work_queue_retries_a_failing_key_later_and_later() -> None:
    queue = WorkQueue(retry_base=1.0, retry_cap=8.0, rand=lambda: 1.0)
    assert [queue.add_rate_limited("k") for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    queue.forget("k")
    assert queue.add_rate_limited("k") == 1.0
    low = WorkQueue(retry_base=1.0, rand=lambda: 0.0)
    assert low.add_rate_limited("k") == 0.5  # never less than half the step: no hot loop


def test_informer_against_a_dead_api_server_backs_off_and_logs_a_few_lines(lines: Lines) -> None:
    kube, attempts = _dead_kube()
    informer = Informer(kube, plural="pipelines", group="devops.cubepaas.io", version="v1alpha1",
                        backoff=lambda: Backoff(base=0.01, cap=0.05), log_interval=1.0).start()
    time.sleep(3.2)
    informer.stop()
    said = lines.by("translator.informer")
    assert len(attempts) >= 20, attempts  # it kept trying...
    assert 1 <= len(said) <= 5, said  # ...and said so once, then at most once a second
    assert said[0].startswith("watch of pipelines failing: cannot reach the API server at https://127.0.0.1:")
    assert said[0].split(": ", 2)[2].startswith("connection refused")
    assert not lines.by("urllib3", logging.WARNING), lines.by("urllib3", logging.WARNING)[:3]


def test_leader_election_against_a_dead_api_server_logs_a_few_lines(lines: Lines) -> None:
    kube, _ = _dead_kube()
    elector = LeaderElector(kube, namespace="translator-system", name="lease", identity="me", renew_seconds=0.02,
                            log_interval=1.0)
    thread = threading.Thread(target=elector.run, args=(lambda: None, lambda: None), daemon=True)
    thread.start()
    time.sleep(2.5)
    elector.stop()
    thread.join(timeout=5)
    said = lines.by("translator.leader")
    assert 1 <= len(said) <= 4, said
    assert said[0].startswith("lease translator-system/lease failing: cannot reach the API server")


def test_the_whole_controller_against_a_dead_api_server_is_quiet(lines: Lines) -> None:
    """The issue's measure: 6,783 warning lines in 40 s before. Now a line per loop, then silence."""
    kube, _ = _dead_kube(retry_seconds=0.3)
    ctrl = Controller(kube, ControllerConfig(workers=2))  # counts every failed request in its metrics
    threading.Thread(target=ctrl.start, daemon=True).start()  # start() waits for caches that never fill
    elector = LeaderElector(kube, namespace="translator-system", name="lease", identity="me", renew_seconds=0.05)
    thread = threading.Thread(target=elector.run, args=(lambda: None, lambda: None), daemon=True)
    thread.start()
    time.sleep(6)
    elector.stop()
    ctrl.stop()
    thread.join(timeout=5)
    said = [r for r in lines.records if r.levelno >= logging.WARNING]
    loops = len(ctrl.informers()) + 1  # every informer and the leader election
    attempts = sum(sample.value for metric in ctrl.metrics.api_errors.collect() for sample in metric.samples
                   if sample.name.endswith("_total"))
    assert attempts > 3 * loops, attempts
    assert len(said) <= loops, [r.getMessage() for r in said]
    assert not lines.by("urllib3", logging.WARNING)
