"""The manager: informers, the work queue and its workers, one reconciler per kind — wiring only.

Watch events put keys on the queue and keep the execution index current; each worker takes a
key and hands it to its kind's reconciler (reconcilers/): executions (initialize -> admit ->
submit -> sync -> finish), pipelines (roll-up, cron, webhooks, run requests), credentials
(repositories) and settings (namespace preparation). With no run in flight the controller
sends nothing but its watches: a finished execution whose finish actions are done is not even
queued when it is listed or resynced (`finish.pending`).
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

from translator.api.config_types import PipelineConfig
from translator.api.resources_types import API_VERSION, PipelineSpec
from translator.api.setting_types import PipelineSettingSpec
from translator.controller import commit_status, nodeloss, slim
from translator.controller.admission import AdmissionQueue, Placement
from translator.controller.backoff import FailureLog, transient_reason
from translator.controller.cacheindex import CacheIndex
from translator.controller.config import PROVISION_DEADLINE_SECONDS, ControllerConfig
from translator.controller.context import Clock, Shared, key_of
from translator.controller.finish import FinishActions, pending
from translator.controller.index import ExecutionIndex
from translator.controller.informer import Informer
from translator.controller.lifecycle import FINAL_STATES, rfc3339
from translator.controller.metrics import Metrics
from translator.controller.reconcilers import Reconciler
from translator.controller.reconcilers.credential import CredentialReconciler
from translator.controller.reconcilers.execution import ExecutionReconciler
from translator.controller.reconcilers.pipeline import PipelineReconciler
from translator.controller.reconcilers.setting import SettingReconciler
from translator.controller.resync import Resync
from translator.controller.settings import MANAGED_LABEL, SETTING_LABEL, SETTING_NS_LABEL, SettingsReconciler
from translator.controller.workqueue import WorkQueue
from translator.engines.argo import ArgoEngine
from translator.engines.argo_namespace import OWNER_ANNOTATION, execution_of
from translator.engines.base import EngineRegistry
from translator.engines.jenkins import JenkinsEngine
from translator.kubeclient import ARGO_GROUP, ARGO_VERSION, GROUP, VERSION, Kube

log = logging.getLogger("translator.controller")

SYNC_WAIT_SECONDS = 300  # large lists take a while; workers wait for whole caches


def utcnow() -> datetime:
    return datetime.now(UTC)


class Controller:
    def __init__(self, kube: Kube, config: ControllerConfig | None = None, *, clock: Clock = utcnow,
                 registry: EngineRegistry | None = None, metrics: Metrics | None = None) -> None:
        self.kube = kube
        self.config = config or ControllerConfig()
        self.clock = clock
        self.metrics = metrics or Metrics()
        kube.on_error = self.metrics.api_error
        ns = self.config.watched_namespaces()
        owned = None if self.config.shard.whole else self.config.shard.owns_object
        by_ns = None if self.config.shard.whole else self.config.shard.owns
        self.queue = WorkQueue()
        self.executions = Informer(kube, plural="pipelineexecutions", group=GROUP, version=VERSION,
                                   namespaces=ns, handler=self._on_execution, keep=owned, slim=slim.execution,
                                   owns_namespace=by_ns)
        self.workflows = Informer(kube, plural="workflows", group=ARGO_GROUP, version=ARGO_VERSION,
                                  namespaces=ns,
                                  # a shard's own buckets and the unlabelled, not every Workflow (shard_bucket.py)
                                  label_selectors=self.config.shard.selectors("devops.cubepaas.io/execution"),
                                  handler=self._on_workflow, keep=None if owned is None else self._owns_workflow,
                                  owns_namespace=by_ns, owner_key=OWNER_ANNOTATION.encode(),
                                  slim=self._slim_workflow)
        self.pipelines = Informer(kube, plural="pipelines", group=GROUP, version=VERSION, namespaces=ns, keep=owned,
                                  owns_namespace=by_ns,
                                  handler=lambda _k, o: self.queue.add(("pipeline", *key_of(o))))
        self.credentials = Informer(kube, plural="sourcecodecredentials", group=GROUP, version=VERSION,
                                    namespaces=ns, keep=owned,
                                    handler=lambda _k, o: self.queue.add(("credential", *key_of(o))))
        self.cache_index = CacheIndex()
        self.inventories = Informer(kube, plural="cacheinventories", group=GROUP, version=VERSION,
                                    handler=self._on_inventory)
        self.settings = Informer(kube, plural="pipelinesettings", group=GROUP, version=VERSION, namespaces=ns,
                                 keep=owned, handler=lambda _k, o: self.queue.add(("setting", *key_of(o))))
        managed = f"{MANAGED_LABEL}=translator"
        self.managed = [
            Informer(kube, plural=p, group=g, version="v1", core_kind=k, label_selector=managed,
                     handler=self._on_managed, keep=owned)
            for p, g, k in (("serviceaccounts", "", "service_account"), ("configmaps", "", "config_map"),
                            ("rolebindings", "rbac.authorization.k8s.io", "role_binding"))
        ]
        self.nodes = Informer(kube, plural="nodes", group="", version="v1", core_kind="node",
                              slim=nodeloss.slim_node, handler=lambda k, o: self.node_watch.on_event(k, o))
        self.node_watch = nodeloss.NodeWatch(lambda n: self.nodes.get("", n), self.nodes.synced.is_set,
                                             lambda key: self.queue.add(key, urgent=True))
        self.namespace_informer = Informer(kube, plural="namespaces", group="", version="v1", core_kind="namespace",
                                           handler=lambda _k, _o: self._enqueue_all_settings())
        self.registry = registry or EngineRegistry()
        if "argo" not in self.registry.names():
            self.registry.register(ArgoEngine(kube, workflows=self._whole_workflow, listing=self.workflows.items))
        if "jenkins" not in self.registry.names():
            self.registry.register(JenkinsEngine(kube))
        self.index = ExecutionIndex()
        self.shared = Shared(kube=kube, config=self.config, clock=clock, metrics=self.metrics, queue=self.queue,
                             registry=self.registry, executions=self.executions, pipelines=self.pipelines,
                             settings=self.settings, index=self.index, admission=AdmissionQueue(self.index),
                             cache_index=self.cache_index, on_final=self._on_final)
        self.finish = FinishActions(self.shared)
        self.resync = Resync(self.index, self.queue, self.config.resync_seconds)
        self.reporter = commit_status.Reporter(  # commit/PR statuses: decided here, sent off the workers
            kube, ui_url=self.config.ui_url, identity=self.config.identity, clock=clock, pipeline=self.pipelines.get,
            credential=self.credentials.get,
            requeue=lambda ns, n, delay: self.queue.add_after(("execution", ns, n), delay))
        self.deliverer = self.finish.deliverer
        self.settings_reconciler = SettingsReconciler(kube, self.namespace_informer, self.registry,
                                                      self.config.default_engine)
        self.reconcilers: dict[str, Reconciler] = {
            "execution": ExecutionReconciler(self.shared, self.finish, self.node_watch),
            "pipeline": PipelineReconciler(self.shared, self.finish),
            "credential": CredentialReconciler(self.shared, self.credentials),
            "setting": SettingReconciler(self.settings, self.settings_reconciler),
        }
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._api_failures = FailureLog(log, "reconciles (API server)")
        self.watched = threading.Event()  # the caches are whole (or the wait for them gave up)
        self.leading = False

    # ------------------------------------------------------------------ lifecycle

    def informers(self) -> list[Informer]:
        return [self.namespace_informer, self.settings, self.credentials, self.pipelines, self.inventories,
                self.nodes, self.workflows, self.executions, *self.managed]

    def watch(self) -> Controller:
        """Start the informers and wait until their caches are whole: a warm standby does only this."""
        if self.watched.is_set():
            return self
        for inf in self.informers():
            inf.start()
        deadline = time.monotonic() + SYNC_WAIT_SECONDS
        for inf in self.informers():
            while not inf.synced.wait(0.05) and not self._stop.is_set() and time.monotonic() < deadline:
                pass
        for key in list(self.workflows.cache):  # listed before their executions were indexed
            self.workflows.reslim(*key)
        if not self._stop.is_set():
            self.metrics.caches_synced.set(1 if all(inf.synced.is_set() for inf in self.informers()) else 0)
        self.watched.set()
        return self

    def lead(self) -> Controller:
        """Start the workers: from now on this controller acts on what its caches hold."""
        self.leading = True
        threading.Thread(target=self._catch_up_reports, daemon=True, name="catch-up-reports").start()
        for i in range(self.config.workers):
            t = threading.Thread(target=self._work, daemon=True, name=f"worker-{i}")
            t.start()
            self._threads.append(t)
        self.resync.start()
        self.metrics.ready = True
        return self

    def _catch_up_reports(self) -> None:
        """Commit statuses due from before a restart: only runs of pipelines that have a provider, each
        read from the cache on its own (50,000 finished executions expanded at once were 250 MB more)."""
        for namespace, pipeline in self.index.pipelines():
            if self._stop.is_set():
                return
            if self.reporter.reports_for(namespace, pipeline):
                for name, _run, _state, _ended in self.index.runs_of(namespace, pipeline):
                    self.reporter.consider(self.executions.get(namespace, name))

    def start(self) -> Controller:
        return self.watch().lead()

    def stop(self) -> None:
        self._stop.set()
        self.metrics.ready = False
        self.resync.stop()
        self.metrics.caches_synced.set(0)
        self.queue.shutdown()
        for inf in self.informers():
            inf.stop()
        self.finish.shutdown()
        self.reporter.stop()

    def states(self) -> dict[str, int]:
        """Executions by state, from the index (a metrics scrape reads no cached object)."""
        return self.index.states()

    def _work(self) -> None:
        while not self._stop.is_set():
            key = self.queue.get(timeout=0.5)
            if key is None:
                continue
            started = time.perf_counter()
            kind, ns, name = str(key[0]), str(key[1]), str(key[2])  # type: ignore[index]
            try:
                reconciler = self.reconcilers.get(kind)
                if reconciler is not None:
                    reconciler.reconcile(ns, name)
                if kind == "execution":
                    self.reporter.consider(self.executions.get(ns, name))
                self.queue.forget(key)
                self._api_failures.recovered()
            except Exception as exc:  # one bad object never stops the loop for the others
                self.queue.add_rate_limited(key)  # backoff per key, with jitter (workqueue.py)
                if (reason := transient_reason(exc, self.kube.server)) is not None:  # API down: said once
                    self._api_failures.failed(reason)
                    continue
                context: dict[str, str] = {"namespace": ns, kind if kind != "setting" else "key": name}
                if kind == "execution":
                    obj = self.executions.get(ns, name) or {}
                    context["pipeline"] = (obj.get("spec") or {}).get("pipelineName", "")
                log.exception("reconcile failed", extra=context)
            finally:
                self.metrics.reconcile_seconds.observe(time.perf_counter() - started)
                self.metrics.reconciles.labels(kind=kind).inc()
                self.metrics.queue_length.set(len(self.queue))
                self.queue.done(key)

    # ------------------------------------------------------------------ the reconcilers, by kind

    def reconcile_execution(self, namespace: str, name: str) -> None:
        self.reconcilers["execution"].reconcile(namespace, name)

    def reconcile_pipeline(self, namespace: str, name: str) -> None:
        self.reconcilers["pipeline"].reconcile(namespace, name)

    def reconcile_credential(self, namespace: str, name: str) -> None:
        self.reconcilers["credential"].reconcile(namespace, name)

    def reconcile_setting(self, namespace: str, name: str) -> None:
        self.reconcilers["setting"].reconcile(namespace, name)

    def setting_for(self, namespace: str, pipeline: PipelineSpec | None) -> PipelineSettingSpec:
        return self.shared.setting_for(namespace, pipeline)

    def engine_name(self, namespace: str, pipeline: PipelineSpec | None) -> str:
        return self.shared.engine_name(namespace, pipeline)

    # ------------------------------------------------------------------ event handlers

    def _on_execution(self, kind: str, obj: dict[str, Any]) -> None:
        ns, name = key_of(obj)
        current = None if kind == "DELETED" else self.executions.newest(obj)  # never older than what we wrote
        self.shared.indexed(ns, current, name)
        if current is None:
            self.queue.add(("execution", ns, name))
            return
        spec = current.get("spec") or {}
        try:
            run = int(spec.get("run") or 0)
        except (TypeError, ValueError):
            run = 0
        if pending(current, lambda: self.index.previous_finished(ns, str(spec.get("pipelineName") or ""), run)):
            self.queue.add(("execution", ns, name))  # finished is finished: a settled run is not even queued
        if self.leading:  # a standby says nothing: the leader reports (and lead() catches up on what was due)
            self.reporter.consider(current)  # a commit status due (decided from the caches) goes out off the workers

    def _on_workflow(self, kind: str, obj: dict[str, Any]) -> None:
        if kind == "ADDED" and not obj.get("status"):
            return  # a Workflow just made (its status is the Argo controller's first write): nothing to sync yet
        owner = execution_of(obj)  # an ownerReference, or the owner annotation in another namespace
        if owner is not None:
            if self.index.state(*owner) in FINAL_STATES:
                return  # its execution is over: nothing reads this Workflow again
            self.shared.workflow_seen.setdefault(owner, time.perf_counter())
            self.queue.add(("execution", *owner), urgent=True)

    def _slim_workflow(self, obj: dict[str, Any]) -> slim.Cached:
        """A Workflow whose execution is over is kept as its metadata: nothing reads the rest again."""
        owner = execution_of(obj)
        if owner is not None and self.index.state(*owner) in FINAL_STATES:
            return slim.metadata_only(obj)
        return slim.strip(obj)

    def _whole_workflow(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The cached Workflow, unless only its metadata is kept (its run is over): then the engine reads it."""
        found = self.workflows.get(namespace, name)
        return None if found is None or slim.is_compact(found) else found

    def _owns_workflow(self, obj: dict[str, Any]) -> bool:
        """A Workflow belongs to the shard of its execution (it may run in another namespace)."""
        owner = execution_of(obj)
        return self.config.shard.owns(owner[0] if owner else obj["metadata"].get("namespace", ""))

    def _on_final(self, namespace: str, obj: dict[str, Any]) -> None:
        """An execution became final: its Workflow shrinks to its metadata."""
        ref = (obj.get("status") or {}).get("engineRef") or {}
        if ref.get("workflowName"):
            self.workflows.reslim(ref.get("workflowNamespace") or namespace, ref["workflowName"])

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
            self.queue.add(("setting", *key_of(s)))


__all__ = ["API_VERSION", "PROVISION_DEADLINE_SECONDS", "Controller", "ControllerConfig", "PipelineConfig",
           "Placement", "rfc3339", "utcnow"]
