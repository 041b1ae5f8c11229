"""The fixed status vocabulary: Rancher's state names, so its consumers keep reading them."""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    WAITING = "Waiting"
    QUEUEING = "Queueing"
    BUILDING = "Building"
    SUCCESS = "Success"
    FAILED = "Failed"
    SKIPPED = "Skipped"
    ABORTED = "Aborted"

    @property
    def finished(self) -> bool:
        return self in (State.SUCCESS, State.FAILED, State.SKIPPED, State.ABORTED)


class ConditionType(StrEnum):
    INITIALIZED = "Initialized"
    PROVISIONED = "Provisioned"
    BUILT = "Built"
    NOTIFIED = "Notified"
    CACHED = "Cached"
    REPORTED = "Reported"  # the run's state on its commit at the git provider (controller/commit_status.py)


class Engine(StrEnum):
    ARGO = "argo"
    JENKINS = "jenkins"


class TriggerType(StrEnum):
    USER = "user"
    WEBHOOK = "webhook"
    CRON = "cron"


class Event(StrEnum):
    PUSH = "push"
    PULL_REQUEST = "pull_request"
    TAG = "tag"
