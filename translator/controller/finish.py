"""What happens once a run is over, each action once: archive (step logs copied to the log
store, for engines that do not archive themselves), report (the Pipeline's `last*` and cache
nodes, the cache metrics) and notify (claimed with a guarded status write, sent from a thread
pool so a slow receiver never holds a worker).

`pending` is the pure rule the manager applies to every listed or resynced execution: a final
status whose notification is delivered, claimed or not wanted has nothing left to do, so it is
not even queued (finished is finished: no request, no write, no reconcile).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kubernetes import client

from translator.api.config_types import Notification
from translator.api.resources_types import Condition, PipelineExecution, PipelineExecutionStatus, PipelineSpec
from translator.api.states import ConditionType, State
from translator.compiler.plan import Plan
from translator.controller import notify
from translator.controller.context import Shared
from translator.controller.lifecycle import FINAL_STATES
from translator.engines.base import EngineError
from translator.kubeclient import update_with_retry
from translator.status.execution import set_condition

log = logging.getLogger("translator.controller")

PreviousState = Callable[[], str | None]
SKIPPED_LIMIT = 100_000


def needs_notify(obj: dict[str, Any], previous: PreviousState) -> bool:
    """From the cached object alone: the run is over, its notification wanted and not yet claimed."""
    status: dict[str, Any] = obj["status"] if isinstance(obj.get("status"), dict) else {}
    raw = ((obj.get("spec") or {}).get("pipelineConfig") or {}).get("notification")
    if not raw or not isinstance(raw, dict) or not raw.get("recipients"):
        return False
    if any(isinstance(c, dict) and c.get("type") == "Notified" for c in status.get("conditions") or []):
        return False
    try:
        notification = Notification.model_validate(raw)
        state = State(status.get("executionState") or "Waiting")
    except ValueError:
        return False  # the reconcile reports a malformed execution
    before = previous()
    return notify.wanted(notification, state, State(before) if before else None)


def pending(obj: dict[str, Any], previous: PreviousState) -> bool:
    """False when the execution needs nothing more: final, and its notification done or not wanted."""
    status: dict[str, Any] = obj["status"] if isinstance(obj.get("status"), dict) else {}
    if status.get("executionState") not in FINAL_STATES:
        return True
    return needs_notify(obj, previous)


class FinishActions:
    def __init__(self, shared: Shared) -> None:
        self.shared = shared
        self.deliverer = notify.Deliverer()
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="notify")
        self._notifying: set[tuple[str, str]] = set()
        self._skipped: set[tuple[str, str]] = set()
        self._pending_cache: dict[tuple[str, str], list[tuple[int, list[str], str]]] = {}

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False)

    # ---------------------------------------------------------------- archive (before the final write)

    def archive(self, engine: Any, ex: PipelineExecution, plan: Plan, status: PipelineExecutionStatus) -> None:
        """Engines that do not archive logs themselves copy each finished step's log, once."""
        archive = getattr(engine, "archive_log", None)
        if archive is None or status.engine_ref is None:
            return
        probe = ex.model_copy(update={"status": status})
        for si, stage in enumerate(status.stages):
            for ti, step in enumerate(stage.steps):
                if step.log or step.state not in (State.SUCCESS, State.FAILED, State.ABORTED) or not step.started:
                    continue
                try:
                    step.log = archive(probe, plan, si, ti)
                except EngineError as exc:  # the log stays in the engine; the next sync tries again
                    log.warning("step log not archived: %s", exc.message,
                                extra={"execution": ex.metadata.name, "namespace": ex.metadata.namespace})
                    return
                if not step.log:
                    return  # no log store configured

    # ---------------------------------------------------------------- after the final write

    def finished(self, ex: PipelineExecution, obs: Any) -> None:
        """The run is over: notify, report. `obs` is the observation that saw it end (None on a resync)."""
        ns = ex.metadata.namespace
        self.notify(ex)
        cache = ex.status.cache
        if obs is not None and cache is not None and cache.result:
            self.shared.metrics.cache_runs.labels(namespace=ns, pipeline=ex.spec.pipeline_name,
                                                  result=cache.result.lower()).inc()
        self.shared.admission.release(ns, ex.metadata.name)
        self.report(ns, ex.spec.pipeline_name, finished=ex, obs=obs)

    def report(self, ns: str, pipeline_name: str, *, finished: PipelineExecution | None = None,
               obs: Any = None) -> None:
        """Note what the Pipeline's status must learn, and let one pipeline reconcile write it.

        Many executions of one pipeline change at once; their updates to its status are
        coalesced by the work queue into one write instead of one conflicting write each.
        """
        if finished is not None and obs is not None:
            plan = self.shared.cached_plan(finished)
            hosts = [obs.steps[s.id].host_node for s in (plan.steps if plan else [])
                     if s.cached and s.id in obs.steps and obs.steps[s.id].host_node]
            if hosts:
                with self.shared.lock:
                    self._pending_cache.setdefault((ns, pipeline_name), []).append(
                        (finished.spec.run, hosts, finished.status.ended or self.shared.now()))
        self.shared.queue.add(("pipeline", ns, pipeline_name))

    def take_cache_nodes(self, ns: str, pipeline_name: str) -> list[tuple[int, list[str], str]]:
        with self.shared.lock:
            return self._pending_cache.pop((ns, pipeline_name), [])

    def keep_cache_nodes(self, ns: str, pipeline_name: str, pending: list[tuple[int, list[str], str]]) -> None:
        """Not written: kept for the retry."""
        with self.shared.lock:
            self._pending_cache.setdefault((ns, pipeline_name), []).extend(pending)

    # ---------------------------------------------------------------- notify

    def previous_state(self, ex: PipelineExecution) -> str | None:
        return self.shared.index.previous_finished(ex.metadata.namespace, ex.spec.pipeline_name, ex.spec.run)

    def notify(self, ex: PipelineExecution) -> None:
        config = ex.spec.pipeline_config
        if config is None or config.notification is None:
            return
        if any(c.type is ConditionType.NOTIFIED for c in ex.status.conditions):
            return
        key = (ex.metadata.namespace, ex.metadata.name)
        if key in self._skipped:
            return
        before = self.previous_state(ex)
        if not notify.wanted(config.notification, ex.status.execution_state, State(before) if before else None):
            with self.shared.lock:
                if len(self._skipped) > SKIPPED_LIMIT:
                    self._skipped.clear()
                self._skipped.add(key)
            return
        with self.shared.lock:
            if key in self._notifying:
                return
            self._notifying.add(key)
        self._pool.submit(self._send, key)

    def _send(self, key: tuple[str, str]) -> None:
        shared, kube = self.shared, self.shared.kube
        ns, name = key
        try:
            claimed = {"ok": False}
            now = shared.now()

            def claim(current: dict[str, Any]) -> dict[str, Any] | None:
                status = PipelineExecutionStatus.model_validate(current.get("status") or {})
                if any(c.type is ConditionType.NOTIFIED for c in status.conditions):
                    return None  # someone else (a previous leader) claimed it: at most once
                set_condition(status, Condition(type=ConditionType.NOTIFIED, status="Unknown", reason="Sending",
                                                message="delivering notifications"), now=now)
                claimed["ok"] = True
                return {**current, "status": status.to_wire()}

            update_with_retry(lambda: kube.get("pipelineexecutions", ns, name), claim,
                              lambda body: kube.replace_status("pipelineexecutions", ns, name, body))
            if not claimed["ok"]:
                return
            ex = PipelineExecution.model_validate(kube.get("pipelineexecutions", ns, name))
            assert ex.spec.pipeline_config is not None and ex.spec.pipeline_config.notification is not None
            pipeline = shared.pipelines.get(ns, ex.spec.pipeline_name) or {}
            pspec = PipelineSpec.model_validate(pipeline["spec"]) if pipeline.get("spec") else None
            setting = shared.setting_for(ns, pspec)
            notifiers: dict[str, str] = {}
            try:
                notifiers = kube.secret_data(ns, setting.notifiers_secret)
            except client.ApiException as exc:
                if exc.status != 404:
                    raise
            built = next((c for c in ex.status.conditions if c.type is ConditionType.BUILT), None)
            summary = notify.RunSummary(
                namespace=ns, pipeline=ex.spec.pipeline_name, execution=name, run=ex.spec.run,
                state=ex.status.execution_state.value, branch=ex.spec.branch, commit=ex.spec.commit,
                duration=ex.status.duration,
                failed_step=built.message if built is not None and built.status == "False" else "")
            failures = self.deliverer.deliver(ex.spec.pipeline_config.notification, notifiers, summary)
            done = Condition(type=ConditionType.NOTIFIED, status="False" if failures else "True",
                             reason="DeliveryFailed" if failures else "Sent",
                             message="; ".join(failures)[:1000] if failures else
                             f"{len(ex.spec.pipeline_config.notification.recipients)} recipient(s) notified")

            def record(current: dict[str, Any]) -> dict[str, Any]:
                status = PipelineExecutionStatus.model_validate(current.get("status") or {})
                set_condition(status, done, now=shared.now())
                return {**current, "status": status.to_wire()}

            update_with_retry(lambda: kube.get("pipelineexecutions", ns, name), record,
                              lambda body: kube.replace_status("pipelineexecutions", ns, name, body))
            shared.metrics.notifications.labels(result="failed" if failures else "sent").inc()
        except Exception:  # never the run's problem: logged, and the condition says Sending
            log.exception("notification failed", extra={"execution": name, "namespace": ns})
        finally:
            with shared.lock:
                self._notifying.discard(key)
