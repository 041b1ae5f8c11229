"""What every reconciler shares: the injected clients and clock, the informer caches, the
indexes, and the two writes every kind makes the same way (an execution's status, a Pipeline
cached after its status write). The manager builds one `Shared`; reconcilers only read it.

Reconcilers read from the caches and write at most once per object; a write goes back into
the cache (and the index) at once, so the next reconcile sees it before its watch event.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from translator.api.resources_types import (
    Condition,
    PipelineExecution,
    PipelineExecutionSpec,
    PipelineExecutionStatus,
    PipelineSpec,
)
from translator.api.setting_types import PipelineSettingSpec, parse_setting, select_setting
from translator.api.states import ConditionType, State
from translator.compiler.context import ExecutionContext
from translator.compiler.plan import Plan, build_plan
from translator.controller import lifecycle, slim
from translator.controller.admission import AdmissionQueue, Placement
from translator.controller.cacheindex import CacheIndex
from translator.controller.config import ControllerConfig
from translator.controller.index import ExecutionIndex
from translator.controller.informer import Informer
from translator.controller.metrics import Metrics
from translator.controller.workqueue import WorkQueue
from translator.engines.base import EngineRegistry
from translator.kubeclient import Kube, update_with_retry
from translator.status.execution import StageLayout, StepLayout, set_condition

log = logging.getLogger("translator.controller")

Clock = Callable[[], datetime]
PLAN_CACHE_LIMIT = 5000
MODEL_CACHE_LIMIT = 20000


def key_of(obj: dict[str, Any]) -> tuple[str, str]:
    return obj["metadata"].get("namespace", ""), obj["metadata"]["name"]


def layout(plan: Plan) -> list[StageLayout]:
    return [StageLayout(stage.name, tuple(StepLayout(s.id, s.skipped, s.skip_reason) for s in stage.steps))
            for stage in plan.stages]


def context_of(ex: PipelineExecution, where: Placement) -> ExecutionContext:
    spec = ex.spec
    return ExecutionContext(
        namespace=ex.metadata.namespace, pipeline=spec.pipeline_name, run=spec.run, branch=spec.branch or "master",
        event=spec.event.value, commit=spec.commit, ref=spec.ref, repository_url=spec.repository_url,
        triggered_by=spec.triggered_by.value, trigger_user=spec.trigger_user_name, cache_nodes=where.recency,
        cache_holders=where.holders, cache_evicted=where.evicted, cache_wait=where.wait, run_suffix=where.suffix,
        execution=ex.metadata.name,
        reused=tuple((r.stage, r.step, r.from_run) for r in spec.reused_steps),
    )


@dataclass
class Shared:
    kube: Kube
    config: ControllerConfig
    clock: Clock
    metrics: Metrics
    queue: WorkQueue
    registry: EngineRegistry
    executions: Informer
    pipelines: Informer
    settings: Informer
    index: ExecutionIndex
    admission: AdmissionQueue
    cache_index: CacheIndex
    workflow_seen: dict[tuple[str, str], float] = field(default_factory=dict)  # for the status-sync lag
    plans: dict[tuple[str, str], tuple[str, Placement, Plan]] = field(default_factory=dict)  # by (ns, name): uid
    models: dict[tuple[str, str, str], tuple[Any, Any]] = field(default_factory=dict)  # parsed(): (version, model)
    lock: threading.Lock = field(default_factory=threading.Lock)
    on_final: Callable[[str, dict[str, Any]], None] | None = None  # an execution became final (its engine run)

    def now(self) -> str:
        return lifecycle.rfc3339(self.clock())

    # ---------------------------------------------------------------- reading

    def parsed(self, kind: str, obj: dict[str, Any], parse: Callable[[], Any]) -> Any:
        """`parse()` of a cached object, once per version of it: the models are shared, never changed.

        A spec is parsed again when its generation moves (a status write leaves it), a setting
        whenever it is written."""
        meta = obj.get("metadata") or {}
        key = (kind, meta.get("namespace", ""), meta.get("name", ""))
        version = (meta.get("uid"), meta.get("generation") if kind != "setting" else None,
                   meta.get("resourceVersion") if kind == "setting" or meta.get("generation") is None else None)
        with self.lock:
            found = self.models.get(key)
        if found is not None and found[0] == version:
            return found[1]
        value = parse()
        with self.lock:
            if len(self.models) > MODEL_CACHE_LIMIT:
                self.models.clear()
            self.models[key] = (version, value)
        return value

    def execution(self, obj: dict[str, Any]) -> PipelineExecution:
        """The cached execution as a model; its spec (with the config snapshot) parsed once per generation."""
        spec = self.parsed("execution", obj, lambda: PipelineExecutionSpec.model_validate(obj.get("spec")))
        return PipelineExecution.model_validate({**obj, "spec": spec})

    def pipeline_spec(self, pipeline: dict[str, Any]) -> PipelineSpec | None:
        if not pipeline.get("spec"):
            return None
        spec: PipelineSpec = self.parsed("pipeline", pipeline, lambda: PipelineSpec.model_validate(pipeline["spec"]))
        return spec

    def setting_for(self, namespace: str, pipeline: PipelineSpec | None) -> PipelineSettingSpec:
        settings = {s["metadata"]["name"]: s for s in self.settings.items(namespace)}
        wanted = pipeline.setting_name if pipeline and pipeline.setting_name else "default"
        chosen = settings.get(wanted)
        if chosen is None:
            spec, _ = select_setting(pipeline or PipelineSpec(repository_url=""), settings)  # says what is missing
            return spec
        parsed: PipelineSettingSpec = self.parsed("setting", chosen, lambda: parse_setting(chosen))
        return parsed

    def engine_name(self, namespace: str, pipeline: PipelineSpec | None) -> str:
        """The setting's `engine:` where it says one, else the operator's default engine."""
        settings = {s["metadata"]["name"]: s for s in self.settings.items(namespace)}
        name = pipeline.setting_name if pipeline and pipeline.setting_name else "default"
        chosen = ((settings.get(name) or {}).get("spec") or {}).get("engine")
        return str(chosen) if chosen else self.config.default_engine

    def pipeline_of(self, ex: PipelineExecution) -> tuple[dict[str, Any], PipelineSpec | None, PipelineSettingSpec]:
        """The execution's Pipeline (from the cache, {} when gone), its spec, and its setting."""
        ns = ex.metadata.namespace
        pipeline = self.pipelines.get(ns, ex.spec.pipeline_name) or {}
        pspec = self.pipeline_spec(pipeline)
        return pipeline, pspec, self.setting_for(ns, pspec)

    def plan(self, ex: PipelineExecution, setting: PipelineSettingSpec, where: Placement | None) -> Plan:
        """The execution's plan; `where=None` takes any cached plan (same stages and steps)."""
        key, uid = (ex.metadata.namespace, ex.metadata.name), ex.metadata.uid or ""
        with self.lock:
            cached = self.plans.get(key)
        if cached is not None and cached[0] == uid and (where is None or cached[1] == where):
            return cached[2]
        assert ex.spec.pipeline_config is not None
        plan = build_plan(ex.spec.pipeline_config, context_of(ex, where or Placement()), setting)
        with self.lock:
            if len(self.plans) > PLAN_CACHE_LIMIT:
                self.plans.clear()
            self.plans[key] = (uid, where or Placement(), plan)
        return plan

    def cached_plan(self, ex: PipelineExecution) -> Plan | None:
        with self.lock:
            cached = self.plans.get((ex.metadata.namespace, ex.metadata.name))
        return cached[2] if cached and cached[0] == (ex.metadata.uid or "") else None

    def forget_plans(self, namespace: str, name: str) -> None:
        with self.lock:
            self.plans.pop((namespace, name), None)
            for kind in ("execution",):
                self.models.pop((kind, namespace, name), None)

    # ---------------------------------------------------------------- the cache and its indexes

    def store_execution(self, obj: dict[str, Any]) -> None:
        """Our own write, into the cache and the index at once; a freed slot wakes the line.

        The index follows the cache, never older than it (a later watch event stays) and never
        bringing back an execution whose deletion was seen while we wrote.
        """
        ns, _ = key_of(obj)
        current = self.executions.store(obj)
        if current is not None:
            self.indexed(ns, current)

    def indexed(self, namespace: str, obj: dict[str, Any] | None, name: str = "") -> None:
        """Bring the index to `obj` (None: the execution is gone)."""
        name = obj["metadata"]["name"] if obj is not None else name
        change = self.index.update(namespace, obj) if obj is not None else self.index.remove(namespace, name)
        if change.finished_now:  # its finish step runs once, whoever wrote the final status
            self.queue.add(("execution", namespace, name))
            if self.on_final is not None and obj is not None:
                self.on_final(namespace, obj)
        if change.freed_a_slot:
            self.wake_waiting(namespace)

    def wake_waiting(self, namespace: str) -> None:
        """A slot freed: the executions first in line get another look."""
        try:
            quota = self.setting_for(namespace, None).executor_quota
        except Exception:  # a setting that cannot be used: every waiting one hears so itself
            quota = len(self.index.waiting(namespace))
        for name in self.admission.candidates(namespace, quota):
            self.queue.add(("execution", namespace, name))

    def store_pipeline(self, written: dict[str, Any] | None) -> None:
        if written is not None:
            self.pipelines.store(written)

    # ---------------------------------------------------------------- the one status write

    def write_status(self, obj: dict[str, Any], status: PipelineExecutionStatus) -> dict[str, Any]:
        ns, name = key_of(obj)
        wanted = lifecycle.final_wire(status)

        def change(current: dict[str, Any]) -> dict[str, Any] | None:
            if current.get("status") == wanted:
                return None
            current["status"] = wanted
            return current

        reads = iter([] if slim.is_compact(obj) else [{**obj}])  # a compact object is never written back
        written = update_with_retry(
            lambda: next(reads, None) or self.kube.get("pipelineexecutions", ns, name),
            change,
            lambda body: self.kube.replace_status("pipelineexecutions", ns, name, body),
        )
        seen = self.workflow_seen.pop((ns, name), None)
        if seen is not None:
            self.metrics.sync_lag_seconds.observe(time.perf_counter() - seen)
        if written is not None:
            self.store_execution(written)  # so the next reconcile sees what we wrote
        return written or obj

    def fail(self, obj: dict[str, Any], status: PipelineExecutionStatus, cond: ConditionType, reason: str,
             message: str, *, state: State = State.FAILED) -> dict[str, Any]:
        written = self.write_status(obj, lifecycle.ended(status, cond, reason, message, now=self.now(), state=state))
        log.info("execution %s: %s", state.value, message,
                 extra={"execution": obj["metadata"]["name"], "namespace": obj["metadata"]["namespace"]})
        return written

    def condition(self, status: PipelineExecutionStatus, cond: Condition) -> None:
        set_condition(status, cond, now=self.now())
