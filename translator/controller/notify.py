"""Notifications: the pipeline file's `notification` section, delivered once when a run ends.

`condition` (Rancher's): `Success`, `Failed` (a Failed or Aborted run), `Changed` (the
state differs from the pipeline's previous finished run's). Each recipient names a notifier —
a key of the PipelineSetting's `notifiersSecret` whose value is JSON:

- `{"type": "webhook", "url": "https://hooks.slack.com/..."}` — a Slack-compatible JSON POST
  (`text`, plus `channel` when the recipient names one);
- `{"type": "smtp", "host": "...", "port": 587, "from": "ci@example.com", "username": "...",
  "password": "...", "starttls": true}` — an e-mail to the recipient's address.

Once: the controller first records `Notified=Unknown (Sending)` with a resourceVersion-guarded
write — only the writer that wins sends — then delivers (each receiver tried 3 times with
backoff) and records `Notified=True (Sent)` or `False (DeliveryFailed)` naming what failed.
Delivery runs on its own small thread pool: a slow or failing receiver never holds a
reconcile worker or the run.
"""

from __future__ import annotations

import json
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import urllib3
from tenacity import retry, stop_after_attempt, wait_exponential

from translator.api.config_types import Notification
from translator.api.states import State


class DeliveryError(Exception):
    pass


@dataclass(frozen=True)
class RunSummary:
    namespace: str
    pipeline: str
    execution: str
    run: int
    state: str
    branch: str
    commit: str
    duration: str
    failed_step: str = ""


def wanted(notification: Notification | None, state: State, previous: State | None) -> bool:
    if notification is None or not notification.recipients:
        return False
    conditions = {c.lower() for c in notification.condition}
    if "success" in conditions and state is State.SUCCESS:
        return True
    if "failed" in conditions and state in (State.FAILED, State.ABORTED):
        return True
    return "changed" in conditions and previous is not None and previous is not state


def default_message(run: RunSummary) -> str:
    text = f"Pipeline {run.namespace}/{run.pipeline} run #{run.run} {run.state}"
    details = [d for d in (f"branch {run.branch}" if run.branch else "",
                           f"commit {run.commit[:7]}" if run.commit else "",
                           f"in {run.duration}" if run.duration else "") if d]
    if details:
        text += " (" + ", ".join(details) + ")"
    if run.failed_step:
        text += f": {run.failed_step}"
    return text


class Deliverer:
    def __init__(self, timeout: float = 10.0, attempts: int = 3) -> None:
        self.timeout, self.attempts = timeout, attempts
        self.http = urllib3.PoolManager(timeout=urllib3.Timeout(total=timeout), retries=False)

    def _retrying(self, fn: Any, *args: Any) -> None:
        retry(stop=stop_after_attempt(self.attempts), wait=wait_exponential(multiplier=0.2, max=5),
              reraise=True)(fn)(*args)

    def webhook(self, config: dict[str, Any], recipient: str, message: str, run: RunSummary) -> None:
        url = str(config.get("url") or "")
        if not url:
            raise DeliveryError("the webhook notifier has no url")
        payload: dict[str, Any] = {"text": message, "username": "translator",
                                   "attachments": [{"color": "good" if run.state == "Success" else "danger",
                                                    "fields": [{"title": "Execution", "value": run.execution},
                                                               {"title": "State", "value": run.state}]}]}
        if recipient:
            payload["channel"] = recipient

        def post() -> None:
            try:
                resp = self.http.request("POST", url, body=json.dumps(payload).encode(),
                                         headers={"Content-Type": "application/json"})
            except urllib3.exceptions.HTTPError as exc:
                raise DeliveryError(f"webhook did not answer: {type(exc).__name__}") from exc
            if resp.status >= 300:
                raise DeliveryError(f"webhook answered HTTP {resp.status}")

        self._retrying(post)

    def smtp(self, config: dict[str, Any], recipient: str, message: str, run: RunSummary) -> None:
        if not recipient or "@" not in recipient:
            raise DeliveryError(f"{recipient!r} is not an e-mail address")
        mail = EmailMessage()
        mail["From"] = str(config.get("from") or "translator@localhost")
        mail["To"] = recipient
        mail["Subject"] = f"[{run.state}] {run.namespace}/{run.pipeline} #{run.run}"
        mail.set_content(message + "\n")

        def send() -> None:
            try:
                with smtplib.SMTP(str(config.get("host") or "localhost"), int(config.get("port") or 25),
                                  timeout=self.timeout) as server:
                    if config.get("starttls"):
                        server.starttls(context=ssl.create_default_context())
                    if config.get("username"):
                        server.login(str(config["username"]), str(config.get("password") or ""))
                    server.send_message(mail)
            except (OSError, smtplib.SMTPException) as exc:
                raise DeliveryError(f"SMTP {type(exc).__name__}: {exc}") from exc

        self._retrying(send)

    def deliver(self, notification: Notification, notifiers: dict[str, str], run: RunSummary) -> list[str]:
        """Send to every recipient; the failures, one line each (empty: all delivered)."""
        message = notification.message or default_message(run)
        failures = []
        for r in notification.recipients:
            raw = notifiers.get(r.notifier)
            try:
                if raw is None:
                    raise DeliveryError(f"no notifier {r.notifier!r} in the notifiers Secret")
                try:
                    config = json.loads(raw)
                except ValueError:
                    config = None
                if not isinstance(config, dict):
                    raise DeliveryError(f"notifier {r.notifier!r} is not a JSON object")
                kind = config.get("type")
                if kind == "webhook":
                    self.webhook(config, r.recipient, message, run)
                elif kind == "smtp":
                    self.smtp(config, r.recipient, message, run)
                else:
                    raise DeliveryError(f"notifier {r.notifier!r} has type {kind!r} (webhook or smtp)")
            except DeliveryError as exc:
                failures.append(f"{r.notifier}/{r.recipient or '-'}: {exc}")
        return failures
