"""The controller: thin reconcilers around pure decisions.

Each PipelineExecution goes Waiting -> (Queueing) -> Building -> Success / Failed / Aborted
(or Skipped when its branch gets no runs). Every reconcile reads from informer caches,
decides with pure functions (compiler, status.execution), and writes at most once per object.
Status follows the engine through a watch on Workflows: one write per observed change, none
when nothing changed, and no polling — with no run in flight the controller sends nothing but
its watches.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kubernetes import client
from pydantic import ValidationError

from translator.api.config_types import PipelineConfig
from translator.api.config_validation import validate_data, validate_text
from translator.api.resources_types import (
    API_VERSION,
    CacheNode,
    Condition,
    PipelineExecution,
    PipelineExecutionStatus,
    PipelineSettingSpec,
    PipelineSpec,
    RunCacheStatus,
    select_setting,
)
from translator.api.states import ConditionType, State
from translator.compiler.conditions import constraint_matches
from translator.compiler.context import ExecutionContext
from translator.compiler.names import dns_label
from translator.compiler.plan import CompileError, Plan, build_plan
from translator.controller import notify, providers, runs, triggers
from translator.controller.cacheindex import CacheIndex
from translator.controller.informer import Informer
from translator.controller.metrics import Metrics
from translator.controller.settings import MANAGED_LABEL, SETTING_LABEL, SETTING_NS_LABEL, SettingsReconciler
from translator.controller.source import GitCredentials, SourceError, read_pipeline_file
from translator.controller.workqueue import WorkQueue
from translator.engines.argo import ArgoEngine
from translator.engines.base import EngineError, EngineRegistry
from translator.engines.jenkins import JenkinsEngine
from translator.kubeclient import ARGO_GROUP, ARGO_VERSION, GROUP, VERSION, Kube, update_with_retry
from translator.status.execution import StageLayout, StepLayout, derive, initial_stages, set_condition

log = logging.getLogger("translator.controller")

Clock = Callable[[], datetime]
PROVISION_DEADLINE_SECONDS = 600


def utcnow() -> datetime:
    return datetime.now(UTC)


def rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


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
    provision_deadline_seconds: float = PROVISION_DEADLINE_SECONDS  # engine refusing to start a run
    engine_lost_seconds: float = PROVISION_DEADLINE_SECONDS  # engine unreachable while a run is Building
    identity: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")


def _layout(plan: Plan) -> list[StageLayout]:
    return [StageLayout(stage.name, tuple(StepLayout(s.id, s.skipped, s.skip_reason) for s in stage.steps))
            for stage in plan.stages]


@dataclass(frozen=True)
class Placement:
    """Where a run should go: the recency list, the inventory's holders, the bounded wait."""

    recency: tuple[str, ...] = ()
    holders: tuple[str, ...] = ()
    evicted: tuple[str, ...] = ()
    wait: bool = False
    suffix: str = ""


def _ctx_of(ex: PipelineExecution, where: Placement) -> ExecutionContext:
    spec = ex.spec
    return ExecutionContext(
        namespace=ex.metadata.namespace, pipeline=spec.pipeline_name, run=spec.run, branch=spec.branch or "master",
        event=spec.event.value, commit=spec.commit, ref=spec.ref, repository_url=spec.repository_url,
        triggered_by=spec.triggered_by.value, trigger_user=spec.trigger_user_name, cache_nodes=where.recency,
        cache_holders=where.holders, cache_evicted=where.evicted, cache_wait=where.wait, run_suffix=where.suffix,
        execution=ex.metadata.name,
        reused=tuple((r.stage, r.step, r.from_run) for r in spec.reused_steps),
    )


class Controller:
    def __init__(self, kube: Kube, config: ControllerConfig | None = None, *, clock: Clock = utcnow,
                 registry: EngineRegistry | None = None, metrics: Metrics | None = None) -> None:
        self.kube = kube
        self.config = config or ControllerConfig()
        self.clock = clock
        self.metrics = metrics or Metrics()
        kube.on_error = self.metrics.api_error
        ns = self.config.namespaces or None
        self.queue = WorkQueue()
        self.executions = Informer(kube, plural="pipelineexecutions", group=GROUP, version=VERSION,
                                   namespaces=ns, handler=self._on_execution)
        self.workflows = Informer(kube, plural="workflows", group=ARGO_GROUP, version=ARGO_VERSION,
                                  namespaces=ns, label_selector="devops.cubepaas.io/execution",
                                  handler=self._on_workflow)
        self.pipelines = Informer(kube, plural="pipelines", group=GROUP, version=VERSION, namespaces=ns,
                                  handler=lambda _k, o: self.queue.add(("pipeline", *_key(o))))
        self.credentials = Informer(kube, plural="sourcecodecredentials", group=GROUP, version=VERSION,
                                    namespaces=ns, handler=lambda _k, o: self.queue.add(("credential", *_key(o))))
        self.cache_index = CacheIndex()
        self.inventories = Informer(kube, plural="cacheinventories", group=GROUP, version=VERSION,
                                    handler=self._on_inventory)
        self.settings = Informer(kube, plural="pipelinesettings", group=GROUP, version=VERSION, namespaces=ns,
                                 handler=lambda _k, o: self.queue.add(("setting", *_key(o))))
        managed = f"{MANAGED_LABEL}=translator"
        self.managed = [
            Informer(kube, plural=p, group=g, version="v1", core_kind=k, label_selector=managed,
                     handler=self._on_managed)
            for p, g, k in (("serviceaccounts", "", "service_account"), ("configmaps", "", "config_map"),
                            ("rolebindings", "rbac.authorization.k8s.io", "role_binding"))
        ]
        self.namespace_informer = Informer(kube, plural="namespaces", group="", version="v1", core_kind="namespace",
                                           handler=lambda _k, _o: self._enqueue_all_settings())
        self.registry = registry or EngineRegistry()
        if "argo" not in self.registry.names():
            self.registry.register(ArgoEngine(kube, workflows=self.workflows.get))
        if "jenkins" not in self.registry.names():
            self.registry.register(JenkinsEngine(kube))
        self.settings_reconciler = SettingsReconciler(kube, self.namespace_informer, self.registry,
                                                      self.config.default_engine)
        self._plans: dict[tuple[str, str, str], tuple[Placement, Plan]] = {}
        self._admitted: dict[str, set[str]] = {}
        self._ns_locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._workflow_seen: dict[tuple[str, str], float] = {}
        self._newest: dict[tuple[str, str], tuple[int, str]] = {}  # (ns, pipeline) -> newest (run, name)
        self._pending_cache: dict[tuple[str, str], list[tuple[int, list[str], str]]] = {}
        self._provision_started: dict[tuple[str, str], float] = {}
        self._unreachable_since: dict[tuple[str, str], float] = {}
        self._notifying: set[tuple[str, str]] = set()
        self._notify_skipped: set[tuple[str, str]] = set()
        self._notify_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="notify")
        self.deliverer = notify.Deliverer()
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()

    # ------------------------------------------------------------------ lifecycle

    def informers(self) -> list[Informer]:
        return [self.namespace_informer, self.settings, self.credentials, self.pipelines, self.inventories,
                self.workflows, self.executions, *self.managed]

    def start(self) -> Controller:
        for inf in self.informers():
            inf.start()
        deadline = time.monotonic() + 300  # large lists take a while; workers wait for whole caches
        for inf in self.informers():
            inf.synced.wait(timeout=max(0.0, deadline - time.monotonic()))
        for i in range(self.config.workers):
            t = threading.Thread(target=self._work, daemon=True, name=f"worker-{i}")
            t.start()
            self._threads.append(t)
        self.metrics.ready = True
        return self

    def stop(self) -> None:
        self._stop.set()
        self.metrics.ready = False
        self.queue.shutdown()
        for inf in self.informers():
            inf.stop()

    def _work(self) -> None:
        while not self._stop.is_set():
            key = self.queue.get(timeout=0.5)
            if key is None:
                continue
            started = time.perf_counter()
            kind, ns, name = str(key[0]), str(key[1]), str(key[2])  # type: ignore[index]
            try:
                if kind == "execution":
                    self.reconcile_execution(ns, name)
                elif kind == "pipeline":
                    self.reconcile_pipeline(ns, name)
                elif kind == "setting":
                    self.reconcile_setting(ns, name)
                elif kind == "credential":
                    self.reconcile_credential(ns, name)
            except Exception:  # one bad object never stops the loop for the others
                context: dict[str, str] = {"namespace": ns, kind if kind != "setting" else "key": name}
                if kind == "execution":
                    obj = self.executions.get(ns, name) or {}
                    context["pipeline"] = (obj.get("spec") or {}).get("pipelineName", "")
                log.exception("reconcile failed", extra=context)
                self.queue.add_after(key, 1.0)
            finally:
                self.metrics.reconcile_seconds.observe(time.perf_counter() - started)
                self.metrics.queue_length.set(len(self.queue))
                self.queue.done(key)

    # ------------------------------------------------------------------ event handlers

    def _on_execution(self, kind: str, obj: dict[str, Any]) -> None:
        ns, name = _key(obj)
        pipeline, run = obj.get("spec", {}).get("pipelineName", ""), int(obj.get("spec", {}).get("run") or 0)
        with self._locks_guard:
            newest = self._newest.get((ns, pipeline))
            if kind != "DELETED" and (newest is None or run >= newest[0]):
                self._newest[(ns, pipeline)] = (run, name)
        self.queue.add(("execution", ns, name))
        state = (obj.get("status") or {}).get("executionState")
        if kind == "DELETED" or state in ("Success", "Failed", "Aborted", "Skipped"):
            self._enqueue_waiting(ns)

    def _on_workflow(self, kind: str, obj: dict[str, Any]) -> None:
        for ref in obj["metadata"].get("ownerReferences") or []:
            if ref.get("kind") == "PipelineExecution":
                ns = obj["metadata"]["namespace"]
                self._workflow_seen.setdefault((ns, ref["name"]), time.perf_counter())
                self.queue.add(("execution", ns, ref["name"]), urgent=True)

    def _on_inventory(self, kind: str, obj: dict[str, Any]) -> None:
        self.cache_index.update(kind, obj)
        node, status = obj["metadata"]["name"], obj.get("status") or {}
        if kind == "DELETED":
            for gauge in (self.metrics.cache_node_bytes, self.metrics.cache_node_evictions):
                try:
                    gauge.remove(node)
                except KeyError:
                    pass
            return
        self.metrics.cache_node_bytes.labels(node=node).set(int(status.get("usedBytes") or 0))
        self.metrics.cache_node_evictions.labels(node=node).set(int(status.get("evictions") or 0))

    def _on_managed(self, kind: str, obj: dict[str, Any]) -> None:
        labels = obj["metadata"].get("labels") or {}
        if kind == "DELETED" and SETTING_LABEL in labels:
            self.queue.add(("setting", labels.get(SETTING_NS_LABEL, ""), labels[SETTING_LABEL]))

    def _enqueue_all_settings(self) -> None:
        for s in self.settings.items():
            self.queue.add(("setting", *_key(s)))

    def _enqueue_waiting(self, namespace: str) -> None:
        """A slot freed: the queued executions of the namespace get another look, oldest first."""
        queued = [o for o in self.executions.items(namespace)
                  if (o.get("status") or {}).get("executionState") == "Queueing"]
        queued.sort(key=lambda o: (o["metadata"].get("creationTimestamp", ""), int(o["spec"].get("run") or 0)))
        for o in queued:
            self.queue.add(("execution", *_key(o)))

    # ------------------------------------------------------------------ helpers

    def _ns_lock(self, namespace: str) -> threading.Lock:
        with self._locks_guard:
            return self._ns_locks.setdefault(namespace, threading.Lock())

    def setting_for(self, namespace: str, pipeline: PipelineSpec | None) -> PipelineSettingSpec:
        settings = {s["metadata"]["name"]: s for s in self.settings.items(namespace)}
        spec, _ = select_setting(pipeline or PipelineSpec(repository_url=""), settings)
        return spec

    def engine_name(self, namespace: str, pipeline: PipelineSpec | None) -> str:
        """The setting's `engine:` where it says one, else the operator's default engine."""
        settings = {s["metadata"]["name"]: s for s in self.settings.items(namespace)}
        name = pipeline.setting_name if pipeline and pipeline.setting_name else "default"
        chosen = ((settings.get(name) or {}).get("spec") or {}).get("engine")
        return str(chosen) if chosen else self.config.default_engine

    def _pipeline(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.pipelines.get(namespace, name)

    def _plan(self, ex: PipelineExecution, setting: PipelineSettingSpec, where: Placement | None) -> Plan:
        """The execution's plan; `where=None` takes any cached plan (same stages and steps)."""
        key = (ex.metadata.namespace, ex.metadata.name, ex.metadata.uid or "")
        cached = self._plans.get(key)
        if cached is not None and (where is None or cached[0] == where):
            return cached[1]
        assert ex.spec.pipeline_config is not None
        plan = build_plan(ex.spec.pipeline_config, _ctx_of(ex, where or Placement()), setting)
        if len(self._plans) > 5000:
            self._plans.clear()
        self._plans[key] = (where or Placement(), plan)
        return plan

    def _write_status(self, obj: dict[str, Any], status: PipelineExecutionStatus) -> dict[str, Any]:
        ns, name = _key(obj)
        wanted = status.to_wire()
        if wanted.get("executionState") in ("Success", "Failed", "Aborted", "Skipped") and wanted.get("started") \
                and wanted.get("ended"):
            wanted["duration"] = _duration(wanted["started"], wanted["ended"])

        def change(current: dict[str, Any]) -> dict[str, Any] | None:
            if current.get("status") == wanted:
                return None
            current["status"] = wanted
            return current

        first = {**obj}
        reads = iter([first])
        written = update_with_retry(
            lambda: next(reads, None) or self.kube.get("pipelineexecutions", ns, name),
            change,
            lambda body: self.kube.replace_status("pipelineexecutions", ns, name, body),
        )
        seen = self._workflow_seen.pop((ns, name), None)
        if seen is not None:
            self.metrics.sync_lag_seconds.observe(time.perf_counter() - seen)
        if written is not None:
            with self.executions.lock:  # so the next reconcile sees what we wrote
                self.executions.cache[(ns, name)] = written
        return written or obj

    def _fail(self, obj: dict[str, Any], status: PipelineExecutionStatus, cond: ConditionType, reason: str,
              message: str, *, state: State = State.FAILED) -> None:
        now = rfc3339(self.clock())
        status.execution_state = state
        status.started = status.started or now
        status.ended = now
        set_condition(status, Condition(type=cond, status="False", reason=reason, message=message), now=now)
        self._write_status(obj, status)
        log.info("execution %s: %s", state.value, message,
                 extra={"execution": obj["metadata"]["name"], "namespace": obj["metadata"]["namespace"]})

    # ------------------------------------------------------------------ executions

    def reconcile_execution(self, namespace: str, name: str) -> None:
        obj = self.executions.get(namespace, name)
        if obj is None:
            self._plans = {k: v for k, v in self._plans.items() if k[:2] != (namespace, name)}
            return
        try:
            ex = PipelineExecution.model_validate(obj)
        except Exception as exc:
            status = PipelineExecutionStatus.model_validate(obj.get("status") or {}) \
                if isinstance(obj.get("status"), dict) else PipelineExecutionStatus()
            if status.execution_state.finished:
                return
            self._fail(obj, status, ConditionType.INITIALIZED, "InvalidSpec", f"the execution is malformed: {exc}")
            return
        try:
            self._reconcile_execution(obj, ex)
        except (ValidationError, LookupError) as exc:  # a PipelineSetting that cannot be used
            fresh = self.executions.get(namespace, name) or obj
            status = PipelineExecution.model_validate(fresh).status
            if not status.execution_state.finished:
                detail = "; ".join(f"spec.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()) \
                    if isinstance(exc, ValidationError) else str(exc)
                self._fail(fresh, status, ConditionType.PROVISIONED, "InvalidSetting",
                           f"the PipelineSetting cannot be used: {detail}"[:1000])

    def _reconcile_execution(self, obj: dict[str, Any], ex: PipelineExecution) -> None:
        state = ex.status.execution_state
        if not ex.status.stages and not ex.status.conditions and state is State.WAITING:
            obj, initialized = self._initialize(obj, ex)
            if initialized is None:
                return
            ex = initialized
            state = ex.status.execution_state
        if state.finished:
            self._after_finish(obj, ex, None)
            return
        stop_by = ex.metadata.annotations.get(runs.STOP_ANNOTATION, "")
        if state in (State.WAITING, State.QUEUEING):
            if stop_by:
                status = ex.status.model_copy(deep=True)
                for stage in status.stages:
                    for step in stage.steps:
                        if step.state is State.WAITING:
                            step.state, step.message = State.ABORTED, f"stopped by {stop_by}"
                    stage.state = State.ABORTED if stage.state is State.WAITING else stage.state
                self._fail(obj, status, ConditionType.BUILT, "Stopped", f"stopped by {stop_by}", state=State.ABORTED)
                return
            self._admit(obj, ex)
            return
        self._sync(obj, ex, stop_by)

    def _initialize(self, obj: dict[str, Any], ex: PipelineExecution
                    ) -> tuple[dict[str, Any], PipelineExecution | None]:
        ns, name = ex.metadata.namespace, ex.metadata.name
        now = rfc3339(self.clock())
        status = PipelineExecutionStatus(started=now)
        pipeline = self._pipeline(ns, ex.spec.pipeline_name)
        if pipeline is None:
            try:
                pipeline = self.kube.get("pipelines", ns, ex.spec.pipeline_name)
            except client.ApiException as exc:
                if exc.status != 404:
                    raise
                self._fail(obj, status, ConditionType.INITIALIZED, "PipelineNotFound",
                           f"pipeline {ex.spec.pipeline_name!r} does not exist in {ns}")
                return obj, None
        spec_patch: dict[str, Any] = {}
        run = ex.spec.run
        next_run = int((pipeline.get("status") or {}).get("nextRun") or 1)
        if run == 0 or run >= next_run:
            run = runs.take_run_number(self.kube, ns, ex.spec.pipeline_name, at_least=run)
            if run != ex.spec.run:
                spec_patch["run"] = run
        config = ex.spec.pipeline_config
        if config is None:
            raw = (pipeline.get("spec") or {}).get("config")
            if raw is None:
                try:
                    # a pull request runs the target branch's pipeline file (on the PR's head commit)
                    at_commit = "" if ex.spec.event.value == "pull_request" else ex.spec.commit
                    file_name, text = read_pipeline_file(
                        pipeline["spec"].get("repositoryUrl", ""), branch=ex.spec.branch, commit=at_commit,
                        credentials=self._git_credentials(ns, pipeline))
                except SourceError as exc:
                    self._fail(obj, status, ConditionType.INITIALIZED, "ConfigNotFound",
                               f"no inline config, and the pipeline file could not be read: {exc}")
                    return obj, None
                result = validate_text(text)
                where = file_name
            else:
                result = validate_data(raw)
                where = "Pipeline.spec.config"
            if result.config is None:
                errors = "; ".join(str(f) for f in result.errors)
                self._fail(obj, status, ConditionType.INITIALIZED, "InvalidConfig", f"{where}: {errors}")
                return obj, None
            config = result.config
            spec_patch["pipelineConfig"] = config.to_wire()
        if not ex.spec.repository_url and pipeline["spec"].get("repositoryUrl"):
            spec_patch["repositoryUrl"] = pipeline["spec"]["repositoryUrl"]
        if spec_patch:
            obj = self.kube.patch("pipelineexecutions", ns, name, {"spec": spec_patch})
            ex = PipelineExecution.model_validate(obj)
        assert ex.spec.pipeline_config is not None
        if not constraint_matches(ex.spec.pipeline_config.branch, ex.spec.branch or "master"):
            self._fail(obj, status, ConditionType.INITIALIZED, "BranchNotMatched",
                       f"branch {ex.spec.branch!r} does not match the pipeline's `branch`", state=State.SKIPPED)
            return obj, None
        setting = self.setting_for(ns, PipelineSpec.model_validate(pipeline["spec"]))
        try:
            plan = self._plan(ex, setting, None)
        except CompileError as exc:
            self._fail(obj, status, ConditionType.INITIALIZED, "NotCompiled", str(exc))
            return obj, None
        status.stages = initial_stages(_layout(plan))
        set_condition(status, Condition(type=ConditionType.INITIALIZED, status="True", reason="Initialized",
                                        message=f"run {ex.spec.run} of {ex.spec.pipeline_name}"), now=now)
        obj = self._write_status(obj, status)
        self._update_pipeline_last(ns, ex.spec.pipeline_name)
        return obj, PipelineExecution.model_validate(obj)

    def _git_credentials(self, ns: str, pipeline: dict[str, Any]) -> GitCredentials | None:
        """The Pipeline's SourceCodeCredential's Secret, as git credentials (None: anonymous)."""
        name = (pipeline.get("spec") or {}).get("sourceCodeCredentialName") or ""
        if not name:
            return None
        try:
            credential = self.kube.get("sourcecodecredentials", ns, name)
            data = self.kube.secret_data(ns, credential["spec"].get("secretName", ""))
        except client.ApiException as exc:
            raise SourceError(f"the SourceCodeCredential {name!r} or its Secret cannot be read ({exc.status})") from exc
        return GitCredentials.from_secret(data, credential["spec"].get("userName", ""))

    def _admit(self, obj: dict[str, Any], ex: PipelineExecution) -> None:
        ns = ex.metadata.namespace
        pipeline = self._pipeline(ns, ex.spec.pipeline_name) or {}
        pspec = PipelineSpec.model_validate(pipeline["spec"]) if pipeline.get("spec") else None
        setting = self.setting_for(ns, pspec)
        with self._ns_lock(ns):
            admitted = self._admitted.setdefault(ns, set())
            cached = {o["metadata"]["name"]: o for o in self.executions.items(ns)}
            admitted -= {n for n in admitted
                         if (cached.get(n, {}).get("status") or {}).get("executionState") != "Waiting"
                         and (cached.get(n, {}).get("status") or {}).get("executionState") != "Queueing"}
            building = sum(1 for o in cached.values()
                           if (o.get("status") or {}).get("executionState") == "Building") + len(admitted)
            waiting = sorted(
                (o for o in cached.values()
                 if (o.get("status") or {}).get("executionState") in (None, "Waiting", "Queueing")
                 and o["metadata"]["name"] not in admitted),
                key=lambda o: (o["metadata"].get("creationTimestamp", ""), int(o["spec"].get("run") or 0),
                               o["metadata"]["name"]))
            position = next((i for i, o in enumerate(waiting) if o["metadata"]["name"] == ex.metadata.name), 0)
            if building + position >= setting.executor_quota:
                if ex.status.execution_state is not State.QUEUEING:
                    status = ex.status.model_copy(update={"execution_state": State.QUEUEING})
                    self._write_status(obj, status)
                return
            admitted.add(ex.metadata.name)
        key = (ns, ex.metadata.name)
        now = rfc3339(self.clock())
        status = ex.status.model_copy(deep=True)
        try:
            engine = self.registry.get(self.engine_name(ns, pspec))
            where = self._placement(ex, pipeline, setting)
            plan = self._plan(ex, setting, where)
            ref = engine.submit(ex, plan)
        except EngineError as exc:
            started = self._provision_started.setdefault(key, time.monotonic())
            self._admitted[ns].discard(ex.metadata.name)
            if not exc.retryable or time.monotonic() - started > self.config.provision_deadline_seconds:
                self._provision_started.pop(key, None)
                self._fail(obj, status, ConditionType.PROVISIONED, exc.reason, exc.message)
                return
            set_condition(status, Condition(type=ConditionType.PROVISIONED, status="False", reason=exc.reason,
                                            message=f"{exc.message}; retrying"), now=now)
            self._write_status(obj, status)
            self.queue.add_after(("execution", *key), min(30.0, 1.0 + time.monotonic() - started))
            return
        self._provision_started.pop(key, None)
        status.execution_state = State.BUILDING
        status.engine_ref = ref
        if plan.cached and status.cache is None:
            self._cache_submitted(status, where, setting, now)
        set_condition(status, Condition(
            type=ConditionType.PROVISIONED, status="True", reason="Submitted",
            message=f"{ref.engine}: {ref.workflow_namespace}/{ref.workflow_name}"
            if ref.workflow_name else f"{ref.engine}: {ref.jenkins_job} #{ref.jenkins_build}"), now=now)
        self._write_status(obj, status)
        self._poll_later(engine, ("execution", *key))
        self.metrics.admitted.inc()
        log.info("execution Building", extra={"execution": ex.metadata.name, "namespace": ns,
                                              "pipeline": ex.spec.pipeline_name})

    # ------------------------------------------------------------------ cache placement

    def _placement(self, ex: PipelineExecution, pipeline: dict[str, Any], setting: PipelineSettingSpec) -> Placement:
        recency = tuple(n.get("node", "") for n in (pipeline.get("status") or {}).get("cacheNodes") or [])
        holders, evicted = self.cache_index.lookup(ex.metadata.namespace, ex.spec.pipeline_name,
                                                   self.clock().timestamp())
        cold = ex.status.cache is not None and ex.status.cache.ran_cold
        wait = bool(holders) and setting.cache.wait_seconds > 0 and not cold
        return Placement(recency=recency, holders=holders, evicted=evicted, wait=wait, suffix="-cold" if cold else "")

    def _cache_submitted(self, status: PipelineExecutionStatus, where: Placement, setting: PipelineSettingSpec,
                         now: str) -> None:
        status.cache = RunCacheStatus(holders=list(where.holders), waiting_since=now if where.wait else "")
        if where.wait:
            cond = Condition(type=ConditionType.CACHED, status="Unknown", reason="WaitingForCache",
                             message=f"waiting up to {setting.cache.wait_seconds} s for a node holding the cache: "
                                     f"{', '.join(where.holders)}")
        elif where.holders:
            cond = Condition(type=ConditionType.CACHED, status="Unknown", reason="PreferringHolders",
                             message=f"preferring the nodes holding the cache: {', '.join(where.holders)}")
        else:
            cond = Condition(type=ConditionType.CACHED, status="Unknown", reason="NoHolder",
                             message="no node holds this pipeline's cache yet"
                                     + (f"; preferring recent nodes {', '.join(where.recency)}" if where.recency
                                        else ""))
        set_condition(status, cond, now=now)

    def _cache_follow(self, ex: PipelineExecution, engine: Any, plan: Plan, obs: Any,
                      status: PipelineExecutionStatus, setting: PipelineSettingSpec, now: str) -> None:
        """While waiting: placed on a holder, or give up after the wait and resubmit cold. Then: hit or miss."""
        cache = status.cache
        if cache is None or obs is None:
            return
        cached_ids = {s.id for s in plan.steps if s.cached}
        node = next((o.host_node for sid, o in obs.steps.items() if sid in cached_ids and o.host_node), "") or next(
            (o.host_node for o in obs.steps.values() if o.host_node), "")
        key = ("execution", ex.metadata.namespace, ex.metadata.name)
        placed = obs.placed if obs.placed is not None else bool(node)
        if cache.waiting_since and not placed:
            waited = (self.clock() - _parse_time(cache.waiting_since)).total_seconds()
            if waited < setting.cache.wait_seconds:
                self.queue.add_after(key, max(0.05, setting.cache.wait_seconds - waited))
                return
            # nobody holding the cache could take it: withdraw the waiting run, run cold anywhere
            engine.withdraw(ex, plan)
            cold = ex.model_copy(update={"status": status})
            cold.status.cache = cache.model_copy(update={"ran_cold": True})
            pipeline = self._pipeline(ex.metadata.namespace, ex.spec.pipeline_name) or {}
            where = self._placement(cold, pipeline, setting)
            status.engine_ref = engine.submit(cold, self._plan(cold, setting, where))
            status.cache = cache.model_copy(update={"ran_cold": True, "waiting_since": "",
                                                   "waited_seconds": int(waited)})
            set_condition(status, Condition(
                type=ConditionType.CACHED, status="False", reason="RanCold",
                message=f"no node holding the cache ({', '.join(cache.holders)}) could take the run within "
                        f"{setting.cache.wait_seconds} s: it runs cold on any node"), now=now)
            self.metrics.cache_waits.labels(result="gave_up").inc()
            return
        if placed and cache.waiting_since:
            self.metrics.cache_waits.labels(result="placed").inc()
            cache.waited_seconds = int((self.clock() - _parse_time(cache.waiting_since)).total_seconds())
            cache.waiting_since = ""
            if not node:  # placed by the required affinity: on a holder, whichever
                cache.result = "Hit"
                set_condition(status, Condition(type=ConditionType.CACHED, status="True", reason="CacheHit",
                                                message="ran on a node holding the cache"), now=now)
        if node and not cache.node:
            hit = node in cache.holders
            cache.node, cache.result = node, "Hit" if hit else "Miss"
            if hit:
                cond = Condition(type=ConditionType.CACHED, status="True", reason="CacheHit",
                                 message=f"ran on {node}, which holds the cache")
            elif cache.ran_cold:
                cond = Condition(type=ConditionType.CACHED, status="False", reason="RanCold",
                                 message=f"ran cold on {node}: no node holding the cache "
                                         f"({', '.join(cache.holders)}) could take it within "
                                         f"{setting.cache.wait_seconds} s")
            else:
                cond = Condition(type=ConditionType.CACHED, status="False", reason="CacheMiss",
                                 message=f"ran on {node}; " + (f"the cache was on {', '.join(cache.holders)}"
                                                              if cache.holders else "no node held the cache"))
            set_condition(status, cond, now=now)

    def _poll_later(self, engine: Any, key: tuple[str, str, str]) -> None:
        """Engines without a watch (Jenkins) are asked again after their poll interval."""
        interval = getattr(engine, "poll_seconds", None)
        if interval:
            self.queue.add_after(key, float(interval))

    def _sync(self, obj: dict[str, Any], ex: PipelineExecution, stop_by: str) -> None:
        ns = ex.metadata.namespace
        key = (ns, ex.metadata.name)
        pipeline = self._pipeline(ns, ex.spec.pipeline_name) or {}
        pspec = PipelineSpec.model_validate(pipeline["spec"]) if pipeline.get("spec") else None
        setting = self.setting_for(ns, pspec)
        plan = self._plan(ex, setting, None)
        engine_name = ex.status.engine_ref.engine if ex.status.engine_ref else self.engine_name(ns, pspec)
        engine = self.registry.get(engine_name)
        now = rfc3339(self.clock())
        try:
            obs = engine.observe(ex, plan)
            if obs is not None and not obs.finished and not obs.shutdown:
                if stop_by:
                    engine.stop(ex, plan, f"stopped by {stop_by}")
                elif any(s.state is State.FAILED for s in obs.steps.values()):
                    engine.stop(ex, plan, "a step failed: aborting the steps still running")
        except EngineError as exc:
            self._engine_unreachable(obj, ex, engine, plan, exc, now)
            return
        if self._unreachable_since.pop(key, None) is not None:
            set_condition(ex.status, Condition(type=ConditionType.PROVISIONED, status="True", reason="Reachable",
                                               message=f"{engine_name} answers again"), now=now)
        lost = ""
        if obs is None:
            ref = ex.status.engine_ref
            lost = (f"the {engine_name} run {ref.workflow_namespace}/{ref.workflow_name or ref.jenkins_job} "
                    "was deleted or lost while the execution was Building") if ref else "no engine run recorded"
        status = derive(_layout(plan), obs, ex.status, now=now, stopped_by=stop_by, lost_reason=lost)
        if obs is not None and obs.number and status.engine_ref and status.engine_ref.jenkins_build != obs.number:
            status.engine_ref = status.engine_ref.model_copy(update={"jenkins_build": obs.number})
        self._cache_follow(ex, engine, plan, obs, status, setting, now)
        self._archive_logs(engine, ex, plan, status)
        if status != ex.status:
            obj = self._write_status(obj, status)
        if status.execution_state.finished:
            self._after_finish(obj, PipelineExecution.model_validate(obj), obs)
        else:
            self._poll_later(engine, ("execution", *key))

    def _archive_logs(self, engine: Any, ex: PipelineExecution, plan: Plan, status: PipelineExecutionStatus) -> None:
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

    def _engine_unreachable(self, obj: dict[str, Any], ex: PipelineExecution, engine: Any, plan: Plan,
                            exc: EngineError, now: str) -> None:
        """The engine cannot be asked: say so, ask again with backoff, fail after a bounded time."""
        key = (ex.metadata.namespace, ex.metadata.name)
        since = self._unreachable_since.setdefault(key, time.monotonic())
        waited = time.monotonic() - since
        status = ex.status.model_copy(deep=True)
        if not exc.retryable or waited > self.config.engine_lost_seconds:
            self._unreachable_since.pop(key, None)
            for stage in status.stages:
                for step in stage.steps:
                    if not step.state.finished:
                        step.state, step.ended = State.FAILED if step.state is State.BUILDING else State.ABORTED, now
                        step.message = step.message or exc.message
                    stage.state = stage.state if stage.state.finished else State.FAILED \
                        if any(st.state is State.FAILED for st in stage.steps) else State.ABORTED
            try:
                engine.stop(ex, plan, "the engine was unreachable")
            except Exception:  # best effort: the engine is unreachable, which is why we are here
                log.info("could not stop the run on the unreachable engine", extra={"execution": key[1]})
            self._fail(obj, status, ConditionType.BUILT, exc.reason,
                       f"{exc.message}; gave up after {int(waited)} s")
            self._after_finish(self.executions.get(*key) or obj, ex, None)
            return
        set_condition(status, Condition(type=ConditionType.PROVISIONED, status="False", reason=exc.reason,
                                        message=f"{exc.message}; asking again"), now=now)
        if status != ex.status:
            self._write_status(obj, status)
        self.queue.add_after(("execution", *key), min(30.0, 1.0 + waited))

    def _after_finish(self, obj: dict[str, Any], ex: PipelineExecution, obs: Any) -> None:
        ns = ex.metadata.namespace
        self._maybe_notify(ex)
        cache = ex.status.cache
        if obs is not None and cache is not None and cache.result:
            self.metrics.cache_runs.labels(namespace=ns, pipeline=ex.spec.pipeline_name,
                                           result=cache.result.lower()).inc()
        with self._ns_lock(ns):
            self._admitted.get(ns, set()).discard(ex.metadata.name)
        self._update_pipeline_last(ns, ex.spec.pipeline_name, finished=ex, obs=obs)

    # ------------------------------------------------------------------ notifications

    def _previous_state(self, ex: PipelineExecution) -> State | None:
        best: tuple[int, str] | None = None
        for other in self.executions.items(ex.metadata.namespace):
            spec, status = other.get("spec") or {}, other.get("status") or {}
            run = int(spec.get("run") or 0)
            if spec.get("pipelineName") != ex.spec.pipeline_name or not 0 < run < ex.spec.run:
                continue
            if status.get("executionState") in ("Success", "Failed", "Aborted") and (best is None or run > best[0]):
                best = (run, status["executionState"])
        return State(best[1]) if best else None

    def _maybe_notify(self, ex: PipelineExecution) -> None:
        config = ex.spec.pipeline_config
        if config is None or config.notification is None:
            return
        if any(c.type is ConditionType.NOTIFIED for c in ex.status.conditions):
            return
        key = (ex.metadata.namespace, ex.metadata.name)
        if key in self._notify_skipped:
            return  # decided once: not every reconcile of a finished run scans its pipeline's runs again
        if not notify.wanted(config.notification, ex.status.execution_state, self._previous_state(ex)):
            with self._locks_guard:
                if len(self._notify_skipped) > 100_000:
                    self._notify_skipped.clear()
                self._notify_skipped.add(key)
            return
        with self._locks_guard:
            if key in self._notifying:
                return
            self._notifying.add(key)
        self._notify_pool.submit(self._notify, key)

    def _notify(self, key: tuple[str, str]) -> None:
        ns, name = key
        try:
            claimed = {"ok": False}
            now = rfc3339(self.clock())

            def claim(current: dict[str, Any]) -> dict[str, Any] | None:
                status = PipelineExecutionStatus.model_validate(current.get("status") or {})
                if any(c.type is ConditionType.NOTIFIED for c in status.conditions):
                    return None  # someone else (a previous leader) claimed it: at most once
                set_condition(status, Condition(type=ConditionType.NOTIFIED, status="Unknown", reason="Sending",
                                                message="delivering notifications"), now=now)
                claimed["ok"] = True
                return {**current, "status": status.to_wire()}

            update_with_retry(lambda: self.kube.get("pipelineexecutions", ns, name), claim,
                              lambda body: self.kube.replace_status("pipelineexecutions", ns, name, body))
            if not claimed["ok"]:
                return
            ex = PipelineExecution.model_validate(self.kube.get("pipelineexecutions", ns, name))
            assert ex.spec.pipeline_config is not None and ex.spec.pipeline_config.notification is not None
            pipeline = self._pipeline(ns, ex.spec.pipeline_name) or {}
            pspec = PipelineSpec.model_validate(pipeline["spec"]) if pipeline.get("spec") else None
            setting = self.setting_for(ns, pspec)
            notifiers: dict[str, str] = {}
            try:
                notifiers = self.kube.secret_data(ns, setting.notifiers_secret)
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
                set_condition(status, done, now=rfc3339(self.clock()))
                return {**current, "status": status.to_wire()}

            update_with_retry(lambda: self.kube.get("pipelineexecutions", ns, name), record,
                              lambda body: self.kube.replace_status("pipelineexecutions", ns, name, body))
            self.metrics.notifications.labels(result="failed" if failures else "sent").inc()
        except Exception:  # never the run's problem: logged, and the condition says Sending
            log.exception("notification failed", extra={"execution": name, "namespace": ns})
        finally:
            with self._locks_guard:
                self._notifying.discard(key)

    def _update_pipeline_last(self, ns: str, pipeline_name: str, *, finished: PipelineExecution | None = None,
                              obs: Any = None) -> None:
        """Note what the Pipeline's status must learn, and let one pipeline reconcile write it.

        Many executions of one pipeline change at once; their updates to its status are
        coalesced by the work queue into one write instead of one conflicting write each.
        """
        if finished is not None and obs is not None:
            cached = self._plans.get((ns, finished.metadata.name, finished.metadata.uid or ""))
            hosts = [obs.steps[s.id].host_node for s in (cached[1].steps if cached else [])
                     if s.cached and s.id in obs.steps and obs.steps[s.id].host_node]
            if hosts:
                with self._locks_guard:
                    self._pending_cache.setdefault((ns, pipeline_name), []).append(
                        (finished.spec.run, hosts, finished.status.ended or rfc3339(self.clock())))
        self.queue.add(("pipeline", ns, pipeline_name))

    def _sync_pipeline_status(self, ns: str, pipeline_name: str, pipeline: dict[str, Any]) -> None:
        """`last*` follow the pipeline's newest run; finished runs' cache nodes go to the front."""
        with self._locks_guard:
            newest_key = self._newest.get((ns, pipeline_name))
            pending = self._pending_cache.pop((ns, pipeline_name), [])
        newest = self.executions.get(ns, newest_key[1]) if newest_key else None
        setting = self.setting_for(ns, PipelineSpec.model_validate(pipeline["spec"]))

        def change(current: dict[str, Any]) -> dict[str, Any] | None:
            status = current.setdefault("status", {})
            before = {k: v for k, v in status.items()}
            if newest is not None:
                nstatus = newest.get("status") or {}
                status["lastExecutionId"] = newest["metadata"]["name"]
                if nstatus.get("executionState"):
                    status["lastRunState"] = nstatus["executionState"]
                if nstatus.get("started"):
                    status["lastStarted"] = nstatus["started"]
            for run, hosts, ended in sorted(pending, key=lambda p: p[0]):
                nodes = status.get("cacheNodes") or []
                if any(n.get("run") == run for n in nodes):
                    continue  # already recorded (a retry after a crash)
                fresh = [CacheNode(node=h, run=run, time=ended).to_wire() for h in dict.fromkeys(reversed(hosts))]
                merged = fresh + [n for n in nodes if n.get("node") not in set(hosts)]
                status["cacheNodes"] = merged[: setting.cache.max_nodes]
            return current if status != before else None

        cached_first = iter([pipeline])
        try:
            written = update_with_retry(
                lambda: next(cached_first, None) or self.kube.get("pipelines", ns, pipeline_name),
                change,
                lambda body: self.kube.replace_status("pipelines", ns, pipeline_name, body),
            )
        except Exception:
            with self._locks_guard:  # keep what was not written for the retry
                self._pending_cache.setdefault((ns, pipeline_name), []).extend(pending)
            raise
        if written is not None:
            with self.pipelines.lock:
                self.pipelines.cache[(ns, pipeline_name)] = written

    # ------------------------------------------------------------------ pipelines and settings

    def reconcile_pipeline(self, namespace: str, name: str) -> None:
        obj = self._pipeline(namespace, name)
        if obj is None:
            return
        self._sync_pipeline_status(namespace, name, obj)
        obj = self._pipeline(namespace, name) or obj
        self._schedule(namespace, name, obj)
        obj = self._pipeline(namespace, name) or obj
        self._sync_repository_hook(namespace, name, obj)
        obj = self._pipeline(namespace, name) or obj
        token = (obj["metadata"].get("annotations") or {}).get(runs.RUN_ANNOTATION)
        if not token or token == (obj.get("status") or {}).get("lastRunRequest"):
            return
        branch = (obj["metadata"].get("annotations") or {}).get(runs.RUN_BRANCH_ANNOTATION, "")
        try:
            runs.create_run(self.kube, namespace, name, branch=branch, triggered_by="user",
                            user="kubectl", request=token)
        except runs.RunRefused as exc:
            log.warning("run request refused: %s", exc, extra={"pipeline": name, "namespace": namespace})
            update_with_retry(
                lambda: self.kube.get("pipelines", namespace, name),
                lambda cur: None if (cur.get("status") or {}).get("lastRunRequest") == token
                else {**cur, "status": {**(cur.get("status") or {}), "lastRunRequest": token}},
                lambda body: self.kube.replace_status("pipelines", namespace, name, body),
            )

    def _schedule(self, namespace: str, name: str, obj: dict[str, Any]) -> None:
        """The Pipeline's cron: one run per scheduled time (a deterministic name), then wait for the next."""
        now = self.clock()
        due, following, problem = triggers.due_cron(obj, now)
        status = obj.get("status") or {}
        if problem or status.get("cronMessage"):
            if status.get("cronMessage", "") != problem:
                update_with_retry(
                    lambda: self.kube.get("pipelines", namespace, name),
                    lambda cur: {**cur, "status": {**(cur.get("status") or {}), "cronMessage": problem}}
                    if (cur.get("status") or {}).get("cronMessage", "") != problem else None,
                    lambda body: self.kube.replace_status("pipelines", namespace, name, body),
                )
            if problem:
                return
        if due is not None:
            body = triggers.execution_for_schedule(namespace, obj, due)
            if triggers.create_once(self.kube, namespace, body):
                log.info("scheduled run created", extra={"pipeline": name, "namespace": namespace,
                                                         "execution": body["metadata"]["name"]})
            stamp = body["metadata"]["annotations"][triggers.SCHEDULE_ANNOTATION]
            written = update_with_retry(
                lambda: self.kube.get("pipelines", namespace, name),
                lambda cur: {**cur, "status": {**(cur.get("status") or {}), "lastCronTime": stamp}}
                if (cur.get("status") or {}).get("lastCronTime", "") < stamp else None,
                lambda body_: self.kube.replace_status("pipelines", namespace, name, body_),
            )
            if written is not None:
                with self.pipelines.lock:
                    self.pipelines.cache[(namespace, name)] = written
            due, following, _ = triggers.due_cron(written or obj, now)
        if following is not None:
            wait = (following - self.clock()).total_seconds()
            self.queue.add_after(("pipeline", namespace, name), max(0.05, wait))

    # ------------------------------------------------------------------ providers

    def _provider(self, ns: str, credential: dict[str, Any]) -> Any:
        spec = credential.get("spec") or {}
        kind = spec.get("sourceCodeType", "")
        if kind not in ("github", "gitlab"):
            return None
        data = self.kube.secret_data(ns, spec.get("secretName", ""))
        token = data.get("token") or data.get("password") or ""
        configs = [c for c in self.kube.list("sourcecodeproviderconfigs", ns)["items"]
                   if (c.get("spec") or {}).get("type") == kind and (c.get("spec") or {}).get("enabled", True)]
        cspec = (configs[0].get("spec") or {}) if configs else {}
        return providers.client_for(kind, token, cspec.get("hostname", ""), cspec.get("apiUrl", ""))

    def reconcile_credential(self, ns: str, name: str) -> None:
        """The credential's repositories as SourceCodeRepository objects (owned by it), resynced."""
        credential = self.credentials.get(ns, name)
        if credential is None:
            return
        key = ("credential", ns, name)
        try:
            provider = self._provider(ns, credential)
            if provider is None:
                return
            repos = provider.list_repos()
        except (providers.ProviderError, client.ApiException) as exc:
            log.warning("repositories not listed: %s", getattr(exc, "message", exc),
                        extra={"namespace": ns, "credential": name})
            self.queue.add_after(key, 60.0)
            return
        label = "devops.cubepaas.io/credential"
        existing = {o["metadata"]["name"]: o for o in
                    self.kube.list("sourcecoderepositories", ns, label_selector=f"{label}={name}")["items"]}
        owner = {"apiVersion": API_VERSION, "kind": "SourceCodeCredential", "name": name,
                 "uid": credential["metadata"].get("uid", ""), "controller": True}
        wanted = set()
        for repo in repos:
            rname = dns_label(f"{name}-{repo.full_name.replace('/', '-').lower()}", max_length=253)
            wanted.add(rname)
            spec = {"sourceCodeType": credential["spec"]["sourceCodeType"], "url": repo.url,
                    "sourceCodeCredentialName": name, "defaultBranch": repo.default_branch,
                    "language": repo.language,
                    "permissions": {"pull": repo.pull, "push": repo.push, "admin": repo.admin}}
            current = existing.get(rname)
            if current is None:
                self.kube.create("sourcecoderepositories", ns, {
                    "apiVersion": API_VERSION, "kind": "SourceCodeRepository",
                    "metadata": {"name": rname, "labels": {label: name}, "ownerReferences": [owner]}, "spec": spec})
            elif current.get("spec") != spec:
                self.kube.replace("sourcecoderepositories", ns, rname, {**current, "spec": spec})
        for stale in set(existing) - wanted:
            try:
                self.kube.call(self.kube.custom.delete_namespaced_custom_object, GROUP, VERSION, ns,
                               "sourcecoderepositories", stale)
            except client.ApiException as exc:
                if exc.status != 404:
                    raise
        self.queue.add_after(key, self.config.repository_resync_seconds)

    def _sync_repository_hook(self, ns: str, name: str, pipeline: dict[str, Any]) -> None:
        """Create the repository's webhook when the Pipeline has webhook triggers, delete it when not."""
        spec, status = pipeline.get("spec") or {}, pipeline.get("status") or {}
        credential_name = spec.get("sourceCodeCredentialName") or ""
        if not credential_name or not self.config.webhook_url:
            return
        flags = [f for f, on in (("push", spec.get("triggerWebhookPush", True)),
                                 ("pr", spec.get("triggerWebhookPr", False)),
                                 ("tag", spec.get("triggerWebhookTag", False))) if on]
        wanted_events = ",".join(flags)
        if status.get("webhookId") and status.get("webhookEvents") == wanted_events:
            return
        if not status.get("webhookId") and not flags:
            return
        try:
            credential = self.kube.get("sourcecodecredentials", ns, credential_name)
            provider = self._provider(ns, credential)
            if provider is None:
                return
            repo_url = spec.get("repositoryUrl", "")
            if status.get("webhookId"):
                provider.delete_hook(repo_url, status["webhookId"])
            hook_id = ""
            if flags:
                kind = credential["spec"]["sourceCodeType"]
                url = f"{self.config.webhook_url.rstrip('/')}/hooks/{kind}?pipeline={ns}/{name}"
                hook_id = provider.create_hook(repo_url, url, self.config.webhook_secret, push="push" in flags,
                                               pr="pr" in flags, tag="tag" in flags)
        except (providers.ProviderError, client.ApiException) as exc:
            log.warning("repository webhook not synced: %s", getattr(exc, "message", exc),
                        extra={"namespace": ns, "pipeline": name})
            self.queue.add_after(("pipeline", ns, name), 60.0)
            return
        written = update_with_retry(
            lambda: self.kube.get("pipelines", ns, name),
            lambda cur: {**cur, "status": {**(cur.get("status") or {}), "webhookId": hook_id,
                                           "webhookEvents": wanted_events if hook_id else ""}},
            lambda body: self.kube.replace_status("pipelines", ns, name, body),
        )
        if written is not None:
            with self.pipelines.lock:
                self.pipelines.cache[(ns, name)] = written

    def reconcile_setting(self, namespace: str, name: str) -> None:
        obj = self.settings.get(namespace, name)
        self.settings_reconciler.reconcile(namespace, name, obj)


def _key(obj: dict[str, Any]) -> tuple[str, str]:
    return obj["metadata"].get("namespace", ""), obj["metadata"]["name"]


def _parse_time(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _duration(started: str, ended: str) -> str:
    try:
        seconds = int((datetime.fromisoformat(ended.replace("Z", "+00:00"))
                       - datetime.fromisoformat(started.replace("Z", "+00:00"))).total_seconds())
    except ValueError:
        return ""
    seconds = max(seconds, 0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes}m{secs}s" if hours else f"{minutes}m{secs}s" if minutes else f"{secs}s"


__all__ = ["API_VERSION", "Controller", "ControllerConfig", "PipelineConfig", "rfc3339", "utcnow"]
