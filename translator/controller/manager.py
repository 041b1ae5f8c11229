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
from translator.api.resources_types import API_VERSION, PipelineSettingSpec, PipelineSpec
from translator.controller.admission import AdmissionQueue, Placement
from translator.controller.backoff import FailureLog, transient_reason
from translator.controller.cacheindex import CacheIndex
from translator.controller.config import PROVISION_DEADLINE_SECONDS, ControllerConfig
from translator.controller.context import Clock, Shared, key_of
from translator.controller.finish import FinishActions, pending
from translator.controller.index import ExecutionIndex
from translator.controller.informer import Informer
from translator.controller.lifecycle import rfc3339
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
from translator.engines.argo_namespace import execution_of
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
        ns = self.config.namespaces or None
        self.queue = WorkQueue()
        self.executions = Informer(kube, plural="pipelineexecutions", group=GROUP, version=VERSION,
                                   namespaces=ns, handler=self._on_execution)
        self.workflows = Informer(kube, plural="workflows", group=ARGO_GROUP, version=ARGO_VERSION,
                                  namespaces=ns, label_selector="devops.cubepaas.io/execution",
                                  handler=self._on_workflow)
        self.pipelines = Informer(kube, plural="pipelines", group=GROUP, version=VERSION, namespaces=ns,
                                  handler=lambda _k, o: self.queue.add(("pipeline", *key_of(o))))
        self.credentials = Informer(kube, plural="sourcecodecredentials", group=GROUP, version=VERSION,
                                    namespaces=ns, handler=lambda _k, o: self.queue.add(("credential", *key_of(o))))
        self.cache_index = CacheIndex()
        self.inventories = Informer(kube, plural="cacheinventories", group=GROUP, version=VERSION,
                                    handler=self._on_inventory)
        self.settings = Informer(kube, plural="pipelinesettings", group=GROUP, version=VERSION, namespaces=ns,
                                 handler=lambda _k, o: self.queue.add(("setting", *key_of(o))))
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
            self.registry.register(ArgoEngine(kube, workflows=self.workflows.get, listing=self.workflows.items))
        if "jenkins" not in self.registry.names():
            self.registry.register(JenkinsEngine(kube))
        self.index = ExecutionIndex()
        self.shared = Shared(kube=kube, config=self.config, clock=clock, metrics=self.metrics, queue=self.queue,
                             registry=self.registry, executions=self.executions, pipelines=self.pipelines,
                             settings=self.settings, index=self.index, admission=AdmissionQueue(self.index),
                             cache_index=self.cache_index)
        self.finish = FinishActions(self.shared)
        self.resync = Resync(self.index, self.queue, self.config.resync_seconds)
        self.deliverer = self.finish.deliverer
        self.settings_reconciler = SettingsReconciler(kube, self.namespace_informer, self.registry,
                                                      self.config.default_engine)
        self.reconcilers: dict[str, Reconciler] = {
            "execution": ExecutionReconciler(self.shared, self.finish),
            "pipeline": PipelineReconciler(self.shared, self.finish),
            "credential": CredentialReconciler(self.shared, self.credentials),
            "setting": SettingReconciler(self.settings, self.settings_reconciler),
        }
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._api_failures = FailureLog(log, "reconciles (API server)")

    # ------------------------------------------------------------------ lifecycle

    def informers(self) -> list[Informer]:
        return [self.namespace_informer, self.settings, self.credentials, self.pipelines, self.inventories,
                self.workflows, self.executions, *self.managed]

    def start(self) -> Controller:
        for inf in self.informers():
            inf.start()
        deadline = time.monotonic() + SYNC_WAIT_SECONDS
        for inf in self.informers():
            inf.synced.wait(timeout=max(0.0, deadline - time.monotonic()))
        for i in range(self.config.workers):
            t = threading.Thread(target=self._work, daemon=True, name=f"worker-{i}")
            t.start()
            self._threads.append(t)
        self.resync.start()
        self.metrics.ready = True
        return self

    def stop(self) -> None:
        self._stop.set()
        self.metrics.ready = False
        self.resync.stop()
        self.queue.shutdown()
        for inf in self.informers():
            inf.stop()
        self.finish.shutdown()

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
        current = None if kind == "DELETED" else self.executions.get(ns, name)  # never older than what we wrote
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

    def _on_workflow(self, kind: str, obj: dict[str, Any]) -> None:
        owner = execution_of(obj)  # an ownerReference, or the owner annotation in another namespace
        if owner is not None:
            self.shared.workflow_seen.setdefault(owner, time.perf_counter())
            self.queue.add(("execution", *owner), urgent=True)

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
