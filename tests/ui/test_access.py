"""What a live fragment knows of the user's rights: Kubernetes' last answer, asked again in the
background once it is old, without a live render waiting for the API server."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

from kubernetes import client

from tests.controller.harness import wait_for
from translator.ui import auth
from translator.ui.auth import Session


class Reviews:
    """Answers SelfSubjectAccessReviews as told, counting them (the `Kube.call` seam the session uses)."""

    def __init__(self, allowed: bool) -> None:
        self.allowed, self.asked = allowed, 0
        self.api_client = client.ApiClient()
        self.gate = threading.Event()
        self.gate.set()

    def call(self, fn: Any, body: dict[str, Any]) -> Any:
        assert body["spec"]["resourceAttributes"]["verb"] == "patch"
        self.gate.wait(5)
        self.asked += 1
        return SimpleNamespace(status=SimpleNamespace(allowed=self.allowed))


class Woken:
    def __init__(self) -> None:
        self.pokes = 0

    def poke(self) -> None:
        self.pokes += 1

    def stop(self) -> None:
        pass


def _session(reviews: Reviews) -> Session:
    return Session(key="k", user="alice", groups=(), kube=reviews)  # type: ignore[arg-type]


def test_an_answer_never_asked_is_unknown_and_asking_costs_no_request() -> None:
    reviews = Reviews(True)
    session = _session(reviews)
    assert session.remembered("patch", "pipelineexecutions", "team") is None
    assert reviews.asked == 0
    assert session.may("patch", "pipelineexecutions", "team") is True and reviews.asked == 1
    assert session.remembered("patch", "pipelineexecutions", "team") is True and reviews.asked == 1


def test_an_old_answer_is_given_at_once_and_asked_again_once_in_the_background(monkeypatch: Any) -> None:
    reviews = Reviews(True)
    session, woken = _session(reviews), Woken()
    session.watches = woken
    assert session.may("patch", "pipelineexecutions", "team") is True
    monkeypatch.setattr(auth, "ACCESS_TTL_SECONDS", 0.0)  # every answer is old now
    reviews.allowed = False  # the user's role was taken away meanwhile
    reviews.gate.clear()  # the API server is slow to say so
    answers = [session.remembered("patch", "pipelineexecutions", "team") for _ in range(5)]
    assert answers == [True] * 5  # the last answer, without waiting
    reviews.gate.set()
    wait_for(lambda: reviews.asked == 2, timeout=5)  # one review for the five
    wait_for(lambda: woken.pokes == 1, timeout=5)  # the pages are woken: the answer changed
    monkeypatch.setattr(auth, "ACCESS_TTL_SECONDS", 30.0)
    assert session.remembered("patch", "pipelineexecutions", "team") is False
