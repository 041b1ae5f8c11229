"""The operator's settings for `translator controller`, apart from the wiring that reads them,
so every reconciler can take them without importing the manager."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field

PROVISION_DEADLINE_SECONDS = 600
START_DEADLINE_SECONDS = 300


@dataclass
class ControllerConfig:
    """Operator settings (flags or environment of `translator controller`)."""

    namespaces: list[str] = field(default_factory=list)  # empty: every namespace
    default_engine: str = "argo"
    workers: int = 4
    metrics_port: int | None = None
    webhook_url: str = ""  # the receiver's external base URL: repository webhooks are created pointing there
    webhook_secret: str = ""
    repository_resync_seconds: float = 1800.0
    resync_seconds: float = 30.0  # every execution not yet final is looked at again (from the index: no request)
    provision_deadline_seconds: float = PROVISION_DEADLINE_SECONDS  # engine refusing to start a run
    engine_lost_seconds: float = PROVISION_DEADLINE_SECONDS  # engine unreachable while a run is Building
    start_deadline_seconds: float = START_DEADLINE_SECONDS  # a step's pod cannot start (bad image, no Secret)
    identity: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
