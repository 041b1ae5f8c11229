"""The PipelineExecution reconciler: initialize -> admit -> submit -> sync -> finish.

`lifecycle.next_step` decides which step an execution is at; this shell does that step's I/O
(the engine, the one status write) and nothing else. Admission is the pure `AdmissionQueue`
over the execution index; cache placement and its bounded wait are `admission`'s pure rules,
followed here (reconcilers/cache.py); what happens once the run is over is `finish`.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from pydantic import ValidationError

from translator.api.resources_types import Condition, PipelineExecution, PipelineExecutionStatus
from translator.api.states import ConditionType, State
from translator.compiler.plan import Plan
from translator.controller import lifecycle, nodeloss, runs
from translator.controller.admission import submitted
from translator.controller.context import Shared, layout
from translator.controller.finish import FinishActions
from translator.controller.lifecycle import Step
from translator.controller.pending import StartWatch
from translator.controller.reconcilers.cache import follow_cache, placement_for
from translator.controller.reconcilers.initialize import initialize
from translator.engines.base import EngineError
from translator.status.execution import derive, set_condition

log = logging.getLogger("translator.controller")


class ExecutionReconciler:
    def __init__(self, shared: Shared, finish: FinishActions, nodes: nodeloss.NodeWatch) -> None:
        self.shared = shared
        self.finish = finish
        self._lock = threading.Lock()
        self._nodes = nodes  # the Node informer's view: a lost node wakes the runs on it
        self._provision_started: dict[tuple[str, str], float] = {}  # monotonic: the engine refusing a run
        self._unreachable_since: dict[tuple[str, str], float] = {}  # monotonic: the engine not answering
        self.start_watch = StartWatch(shared.clock, shared.config.start_deadline_seconds)  # pods that cannot start

    def reconcile(self, namespace: str, name: str) -> None:
        shared = self.shared
        obj = shared.executions.get(namespace, name)
        if obj is None:
            shared.forget_plans(namespace, name)
            self.start_watch.forget((namespace, name))
            self._nodes.forget(("execution", namespace, name))
            for engine_name in shared.registry.names():  # what no garbage collector deletes (another namespace)
                getattr(shared.registry.get(engine_name), "release", lambda _ns, _n: None)(namespace, name)
            return
        try:
            ex = shared.execution(obj)
        except Exception as exc:
            status = PipelineExecutionStatus.model_validate(obj.get("status") or {}) \
                if isinstance(obj.get("status"), dict) else PipelineExecutionStatus()
            if status.execution_state.finished:
                return
            shared.fail(obj, status, ConditionType.INITIALIZED, "InvalidSpec", f"the execution is malformed: {exc}")
            return
        try:
            self._step(obj, ex)
        except (ValidationError, LookupError) as exc:  # a PipelineSetting that cannot be used
            fresh = shared.executions.get(namespace, name) or obj
            status = PipelineExecution.model_validate(fresh).status
            if not status.execution_state.finished:
                detail = "; ".join(f"spec.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()) \
                    if isinstance(exc, ValidationError) else str(exc)
                shared.fail(fresh, status, ConditionType.PROVISIONED, "InvalidSetting",
                            f"the PipelineSetting cannot be used: {detail}"[:1000])

    def _step(self, obj: dict[str, Any], ex: PipelineExecution) -> None:
        stop_by = ex.metadata.annotations.get(runs.STOP_ANNOTATION, "")
        step = lifecycle.next_step(ex.status, stop_requested=bool(stop_by))
        if step is Step.INITIALIZE:
            obj, initialized = initialize(self.shared, self.finish, obj, ex)
            if initialized is None:
                return
            ex = initialized
            step = lifecycle.next_step(ex.status, stop_requested=bool(stop_by))
        if step is Step.FINISH:
            self.finish.finished(ex, None)
        elif step is Step.STOP:
            self.shared.write_status(obj, lifecycle.stopped_before_start(ex.status, stop_by, now=self.shared.now()))
        elif step is Step.ADMIT:
            self._admit(obj, ex)
        else:
            self._sync(obj, ex, stop_by)

    # ---------------------------------------------------------------- admit, then submit

    def _admit(self, obj: dict[str, Any], ex: PipelineExecution) -> None:
        shared = self.shared
        ns, name = ex.metadata.namespace, ex.metadata.name
        pipeline, pspec, setting = shared.pipeline_of(ex)
        if not shared.admission.try_admit(ns, name, setting.executor_quota):
            if ex.status.execution_state is not State.QUEUEING:
                shared.write_status(obj, ex.status.model_copy(update={"execution_state": State.QUEUEING}))
            # a freed slot wakes the first in line; a lost wake-up is found by the resync (controller/resync.py)
            return
        try:
            self._submit(obj, ex, pipeline, pspec, setting)
        except BaseException:  # not admitted after all: a slot held by a failed attempt would be held forever
            shared.admission.release(ns, name)
            raise

    def _submit(self, obj: dict[str, Any], ex: PipelineExecution, pipeline: dict[str, Any], pspec: Any,
                setting: Any) -> None:
        shared = self.shared
        ns, name = ex.metadata.namespace, ex.metadata.name
        key = (ns, name)
        now = shared.now()
        status = ex.status.model_copy(deep=True)
        try:
            engine = shared.registry.get(shared.engine_name(ns, pspec))
            where = placement_for(shared, ex, pipeline, setting)
            plan = shared.plan(ex, setting, where)
            ref = engine.submit(ex, plan)
        except EngineError as exc:
            with self._lock:
                started = self._provision_started.setdefault(key, time.monotonic())
            shared.admission.release(ns, name)
            if not exc.retryable or time.monotonic() - started > shared.config.provision_deadline_seconds:
                with self._lock:
                    self._provision_started.pop(key, None)
                shared.fail(obj, status, ConditionType.PROVISIONED, exc.reason, exc.message)
                return
            set_condition(status, Condition(type=ConditionType.PROVISIONED, status="False", reason=exc.reason,
                                            message=f"{exc.message}; retrying"), now=now)
            shared.write_status(obj, status)
            shared.queue.add_after(("execution", *key), min(30.0, 1.0 + time.monotonic() - started))
            return
        with self._lock:
            self._provision_started.pop(key, None)
        status.execution_state = State.BUILDING
        status.engine_ref = ref
        if plan.cached and status.cache is None:
            status.cache, cond = submitted(where, setting.cache.wait_seconds, now)
            set_condition(status, cond, now=now)
        set_condition(status, Condition(
            type=ConditionType.PROVISIONED, status="True", reason="Submitted",
            message=f"{ref.engine}: {ref.workflow_namespace}/{ref.workflow_name}"
            if ref.workflow_name else f"{ref.engine}: {ref.jenkins_job} #{ref.jenkins_build}"), now=now)
        shared.write_status(obj, status)
        self._poll_later(engine, ("execution", *key))
        shared.metrics.admitted.inc()
        log.info("execution Building", extra={"execution": name, "namespace": ns, "pipeline": ex.spec.pipeline_name})

    def _poll_later(self, engine: Any, key: tuple[str, str, str]) -> None:
        """Engines without a watch (Jenkins) are asked again after their poll interval."""
        interval = getattr(engine, "poll_seconds", None)
        if interval:
            self.shared.queue.add_after(key, float(interval))

    # ---------------------------------------------------------------- sync

    def _sync(self, obj: dict[str, Any], ex: PipelineExecution, stop_by: str) -> None:
        shared = self.shared
        ns = ex.metadata.namespace
        key = (ns, ex.metadata.name)
        _, pspec, setting = shared.pipeline_of(ex)
        plan = shared.plan(ex, setting, None)
        engine_name = ex.status.engine_ref.engine if ex.status.engine_ref else shared.engine_name(ns, pspec)
        engine = shared.registry.get(engine_name)
        now = shared.now()
        try:
            obs = engine.observe(ex, plan)
            gave_up, recheck = ({}, None) if stop_by else self.start_watch.follow(key, obs)
            if obs is not None and not obs.finished and not obs.shutdown:
                if stop_by:
                    engine.stop(ex, plan, f"stopped by {stop_by}")
                elif gave_up or any(s.state is State.FAILED for s in obs.steps.values()):
                    engine.stop(ex, plan, "a step failed: aborting the steps still running")
        except EngineError as exc:
            self._engine_unreachable(obj, ex, engine, plan, exc, now)
            return
        with self._lock:
            was_unreachable = self._unreachable_since.pop(key, None) is not None
        if was_unreachable:
            set_condition(ex.status, Condition(type=ConditionType.PROVISIONED, status="True", reason="Reachable",
                                               message=f"{engine_name} answers again"), now=now)
        lost = ""
        if obs is None:
            ref = ex.status.engine_ref
            lost = (f"the {engine_name} run {ref.workflow_namespace}/{ref.workflow_name or ref.jenkins_job} "
                    "was deleted or lost while the execution was Building") if ref else "no engine run recorded"
        status = derive(layout(plan), obs, ex.status, now=now, stopped_by=stop_by, lost_reason=lost,
                        gave_up=gave_up, start_deadline=int(self.start_watch.limit))
        node, why = self._nodes.check(obs) if engine_name == "argo" and not stop_by else ("", "")
        if node:  # the node the run is on is gone: fail now, not at the deadline
            engine.stop(ex, plan, why)
            status = nodeloss.failed(status, node, why, now=now)
        if engine_name == "argo":
            self._nodes.follow(("execution", *key), None if status.execution_state.finished else obs)
        if status.execution_state.finished:
            self.start_watch.forget(key)
        elif recheck is not None:
            shared.queue.add_after(("execution", *key), recheck)
        if obs is not None and obs.number and status.engine_ref and status.engine_ref.jenkins_build != obs.number:
            status.engine_ref = status.engine_ref.model_copy(update={"jenkins_build": obs.number})
        follow_cache(shared, ex, engine, plan, obs, status, setting, now)
        self.finish.archive(engine, ex, plan, status)
        if status != ex.status:
            obj = shared.write_status(obj, status)
        if status.execution_state.finished:
            self.finish.finished(shared.execution(obj), obs)
        else:
            self._poll_later(engine, ("execution", *key))

    def _engine_unreachable(self, obj: dict[str, Any], ex: PipelineExecution, engine: Any, plan: Plan,
                            exc: EngineError, now: str) -> None:
        """The engine cannot be asked: say so, ask again with backoff, fail after a bounded time."""
        shared = self.shared
        key = (ex.metadata.namespace, ex.metadata.name)
        with self._lock:
            since = self._unreachable_since.setdefault(key, time.monotonic())
        waited = time.monotonic() - since
        if not exc.retryable or waited > shared.config.engine_lost_seconds:
            with self._lock:
                self._unreachable_since.pop(key, None)
            try:
                engine.stop(ex, plan, "the engine was unreachable")
            except Exception:  # best effort: the engine is unreachable, which is why we are here
                log.info("could not stop the run on the unreachable engine", extra={"execution": key[1]})
            shared.write_status(obj, lifecycle.engine_lost(
                ex.status, exc.reason, f"{exc.message}; gave up after {int(waited)} s", step_message=exc.message,
                now=now))
            log.info("execution Failed: %s", exc.message, extra={"execution": key[1], "namespace": key[0]})
            self.finish.finished(ex, None)
            return
        status = ex.status.model_copy(deep=True)
        set_condition(status, Condition(type=ConditionType.PROVISIONED, status="False", reason=exc.reason,
                                        message=f"{exc.message}; asking again"), now=now)
        if status != ex.status:
            shared.write_status(obj, status)
        shared.queue.add_after(("execution", *key), min(30.0, 1.0 + waited))
