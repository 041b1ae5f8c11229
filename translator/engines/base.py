"""The engine seam: every engine (Argo, Jenkins) implements `Engine`; a registry maps the
PipelineSetting's `engine:` value to an implementation.

An engine turns a Plan into running work and reports what happened in engine-neutral terms
(`RunObservation`: per step id a state, times, message, node and log handle). It never
writes a PipelineExecution: the controller derives and writes status, the same for every
engine, so a user sees the same status whichever engine ran the pipeline.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol, runtime_checkable

from translator.api.resources_types import EngineRef, PipelineExecution
from translator.api.setting_types import PipelineSettingSpec
from translator.compiler.plan import Plan
from translator.status.argo import WorkflowObservation

RunObservation = WorkflowObservation  # engine-neutral: phases already mapped to our states


class EngineError(Exception):
    """The engine could not do what was asked; `reason` is a CamelCase word for conditions."""

    def __init__(self, reason: str, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.reason, self.message, self.retryable = reason, message, retryable


@runtime_checkable
class Engine(Protocol):
    name: str

    def prepare(self, namespace: str, setting: PipelineSettingSpec) -> None:
        """Make the namespace ready for runs (idempotent)."""

    def submit(self, execution: PipelineExecution, plan: Plan) -> EngineRef:
        """Start the run; calling it again for the same execution finds the first one."""

    def observe(self, execution: PipelineExecution, plan: Plan) -> RunObservation | None:
        """What the run is doing; None when its engine object no longer exists."""

    def stop(self, execution: PipelineExecution, plan: Plan, reason: str) -> None:
        """Stop the run; steps still running end Aborted."""

    def withdraw(self, execution: PipelineExecution, plan: Plan) -> None:
        """Remove a run none of whose steps started (the bounded cache wait gave up on it)."""

    def step_log(self, execution: PipelineExecution, plan: Plan, stage: int, step: int) -> Iterator[str]:
        """The step's log, as it is now."""


EngineFactory = Callable[[], Engine]


class EngineRegistry:
    def __init__(self) -> None:
        self._engines: dict[str, Engine] = {}

    def register(self, engine: Engine) -> None:
        self._engines[engine.name] = engine

    def get(self, name: str) -> Engine:
        try:
            return self._engines[name]
        except KeyError:
            known = ", ".join(sorted(self._engines)) or "none"
            raise EngineError("UnknownEngine", f"engine {name!r} is not available (available: {known})",
                              retryable=False) from None

    def names(self) -> list[str]:
        return sorted(self._engines)
