"""Notifications when runs end: a local HTTP receiver (Slack-compatible JSON) and a local SMTP
server (aiosmtpd), through the real controller."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller as SMTPController

from tests.controller.harness import SIMPLE, System, wait_for
from tests.kube_double.server import KubeDouble
from translator.controller import runs


class Receiver:
    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.fail = 0  # answer 500 this many times
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if receiver.fail:
                    receiver.fail -= 1
                    self.send_response(500)
                else:
                    receiver.posts.append(body)
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content.decode()))
        return "250 OK"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    import socket

    box = Mailbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    smtp = SMTPController(box, hostname="127.0.0.1", port=port)
    smtp.start()
    yield box, port
    smtp.stop()


def _config(condition: list[str], recipients: list[dict[str, str]]) -> dict[str, Any]:
    return {**SIMPLE, "notification": {"recipients": recipients, "condition": condition}}


def _system(kube: KubeDouble, notifiers: dict[str, Any], **sim: Any) -> System:
    system = System(kube, **sim)
    system.secret("pipeline-notifiers", {k: json.dumps(v) for k, v in notifiers.items()})
    system.start_controller()
    return system


def _notified(system: System, name: str) -> dict[str, Any]:
    return wait_for(lambda: next((c for c in system.execution(name)["status"].get("conditions") or []
                                  if c["type"] == "Notified" and c["status"] != "Unknown"), None),
                    what=f"{name} Notified")


def test_success_goes_to_the_webhook_once(receiver: Receiver) -> None:
    with KubeDouble() as kube:
        system = _system(kube, {"slack": {"type": "webhook", "url": receiver.url}})
        try:
            system.apply_pipeline("web", _config(["Success"], [{"recipient": "#ci", "notifier": "slack"}]))
            runs.create_run(system.kube, "team", "web", branch="master")
            system.wait_state("web-1", "Success")
            cond = _notified(system, "web-1")
            assert cond["status"] == "True" and cond["reason"] == "Sent"
            assert len(receiver.posts) == 1
            post = receiver.posts[0]
            assert post["channel"] == "#ci" and post["text"].startswith("Pipeline team/web run #1 Success")
            # a restarted controller (a new leader) does not send it again
            system.stop_controller()
            system.start_controller()
            time.sleep(1.0)
            assert len(receiver.posts) == 1
        finally:
            system.close()


def test_failure_is_mailed(mailbox: tuple[Mailbox, int]) -> None:
    box, port = mailbox
    with KubeDouble() as kube:
        system = _system(kube, {"mail": {"type": "smtp", "host": "127.0.0.1", "port": port,
                                         "from": "ci@example.com"}},
                         outcome=lambda _wf, task: "Failed" if task == "ship" else "Succeeded")
        try:
            system.apply_pipeline("web", _config(["Failed"], [{"recipient": "ops@example.com", "notifier": "mail"}]))
            runs.create_run(system.kube, "team", "web")
            system.wait_state("web-1", "Failed")
            assert _notified(system, "web-1")["status"] == "True"
            wait_for(lambda: box.messages)
            sender, rcpts, content = box.messages[0]
            assert sender == "ci@example.com" and rcpts == ["ops@example.com"]
            import email

            mail = email.message_from_string(content)
            body = mail.get_payload(decode=True).decode()  # type: ignore[union-attr]
            assert mail["Subject"] == "[Failed] team/web #1" and "stage 'Ship' step 1 failed" in body
        finally:
            system.close()


def test_changed_compares_with_the_previous_run(receiver: Receiver) -> None:
    outcome = {"ship": "Succeeded"}
    with KubeDouble() as kube:
        system = _system(kube, {"hook": {"type": "webhook", "url": receiver.url}},
                         outcome=lambda _wf, task: outcome.get(task, "Succeeded"))
        try:
            system.apply_pipeline("web", _config(["Changed"], [{"recipient": "", "notifier": "hook"}]))
            states = []
            for i, result in enumerate(("Succeeded", "Failed", "Failed", "Succeeded"), start=1):
                outcome["ship"] = result
                runs.create_run(system.kube, "team", "web")
                states.append(system.wait_state(f"web-{i}", "Success", "Failed")["status"]["executionState"])
                time.sleep(0.3)
            assert states == ["Success", "Failed", "Failed", "Success"]
            wait_for(lambda: len(receiver.posts) == 2)
            time.sleep(0.5)
            assert [" ".join(p["text"].split()[3:5]) for p in receiver.posts] == ["#2 Failed", "#4 Success"]
            assert not any(c["type"] == "Notified" for c in system.execution("web-3")["status"]["conditions"])
        finally:
            system.close()


def test_a_failing_receiver_is_retried_then_recorded_without_blocking_the_run(receiver: Receiver) -> None:
    receiver.fail = 100
    with KubeDouble() as kube:
        system = _system(kube, {"slack": {"type": "webhook", "url": receiver.url}, "bad": "not json"})
        try:
            system.apply_pipeline("web", _config(["Success"], [
                {"recipient": "#ci", "notifier": "slack"}, {"recipient": "x", "notifier": "bad"},
                {"recipient": "y", "notifier": "missing"}]))
            runs.create_run(system.kube, "team", "web")
            ex = system.wait_state("web-1", "Success")
            assert ex["status"]["executionState"] == "Success"
            cond = _notified(system, "web-1")
            assert cond["status"] == "False" and cond["reason"] == "DeliveryFailed"
            assert "HTTP 500" in cond["message"] and "'bad' is not a JSON object" in cond["message"]
            assert "no notifier 'missing'" in cond["message"]
            assert receiver.fail == 97  # three attempts
        finally:
            system.close()
