"""The Argo engine: a Plan becomes a Workflow (plus its scripts ConfigMap) in the cluster.

Both objects have deterministic names (`compiler.argo.workflow_name`: the execution's name,
shortened with a hash past 63 characters; `<workflow>-scripts`), so a retry after a crash finds
them instead of making a second run. In the execution's namespace both carry an
ownerReference to the PipelineExecution, so deleting the execution deletes them; in another
Workflow namespace (`spec.argo.namespace`) they carry owner annotations instead, and `release`
deletes them (engines/argo_namespace.py says why and records the formats).

Before a Workflow is created, the engine makes sure it can run: the Workflow namespace is
usable and prepared, the Secrets it names are there (copied into another Workflow namespace),
and the log bucket exists (Argo's S3 driver writes only into an existing bucket).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from kubernetes import client

from translator.api.resources_types import EngineRef, PipelineExecution
from translator.api.setting_types import PipelineSettingSpec
from translator.api.states import Engine as EngineName
from translator.compiler.argo import render, scripts_config_map_name
from translator.compiler.plan import Plan
from translator.engines import argo_namespace as wns
from translator.engines.base import EngineError, RunObservation
from translator.kubeclient import ARGO_GROUP, ARGO_VERSION, Kube
from translator.logs.archive import BucketGate, LogStoreError, store_from_secret
from translator.status.argo import observe

PREPARED_TTL = 60.0  # seconds a usable, prepared Workflow namespace is not checked again


class ArgoEngine:
    name = EngineName.ARGO.value

    def __init__(self, kube: Kube, workflows: Callable[[str, str], dict[str, Any] | None] | None = None,
                 listing: Callable[[], list[dict[str, Any]]] | None = None) -> None:
        self.kube = kube
        self._cached = workflows  # the controller's informer cache, when it has one
        self._listing = listing  # every Workflow in that cache
        self.buckets = BucketGate()
        self._prepared: dict[tuple[str, str, str], float] = {}  # (pipeline ns, workflow ns, account) -> checked
        self._lock = threading.Lock()

    def prepare(self, namespace: str, setting: PipelineSettingSpec) -> None:
        """The log bucket (service account, RBAC and artifact repository are the settings reconciler's)."""
        self._log_bucket(namespace, setting)

    def _log_bucket(self, namespace: str, setting: PipelineSettingSpec) -> None:
        logs = setting.logs
        if not logs.endpoint or not setting.argo.archive_logs:
            return
        key = (namespace, logs.credentials_secret, logs.endpoint, logs.bucket)
        if self.buckets.ready(key):
            return
        where = f"s3://{logs.bucket} at {logs.endpoint}"
        try:
            creds = self.kube.secret_data(namespace, logs.credentials_secret) if logs.credentials_secret else {}
        except client.ApiException as exc:
            raise EngineError("LogBucketNotReady", f"the log bucket {where} cannot be made: the credentials Secret "
                              f"{namespace}/{logs.credentials_secret} cannot be read ({exc.status})") from exc
        try:
            self.buckets.ensure(key, store_from_secret(logs.endpoint, logs.bucket, creds, insecure=logs.insecure))
        except LogStoreError as exc:
            raise EngineError("LogBucketNotReady", f"step logs cannot be archived: {exc.message}") from exc

    def _workflow_namespace_ready(self, namespace: str, target: str, setting: PipelineSettingSpec,
                                  account: str = "") -> None:
        """The Workflow namespace may be used and holds the pods' service account (checked once); the
        account is the plan's (a pull request's pods run as the untrusted one, docs/security.md)."""
        account = account or setting.argo.service_account or "pipeline"
        key = (namespace, target, account)
        with self._lock:
            if time.monotonic() - self._prepared.get(key, -PREPARED_TTL - 1.0) < PREPARED_TTL:
                return
        try:
            refused = wns.usable(namespace, target, wns.read_namespace(self.kube, target)) if target != namespace \
                else None
        except client.ApiException as exc:
            if exc.status != 403:  # the controller may not read namespaces: the creates below will say
                raise
            refused = None
        if refused is not None:
            raise refused
        try:
            self.kube.call(self.kube.core.read_namespaced_service_account, account, target)
        except client.ApiException as exc:
            if exc.status != 404:
                raise
            raise EngineError("ServiceAccountNotFound",
                              f"the step pods' service account {target}/{account} does not exist yet (the "
                              "PipelineSetting's namespace preparation makes it)") from exc
        with self._lock:
            self._prepared[key] = time.monotonic()

    def submit(self, execution: PipelineExecution, plan: Plan) -> EngineRef:
        out = render(plan)
        namespace, name = out.workflow["metadata"]["namespace"], out.workflow["metadata"]["name"]
        self._workflow_namespace_ready(execution.metadata.namespace, namespace, plan.setting,
                                       plan.trust.service_account)
        self._log_bucket(execution.metadata.namespace, plan.setting)
        remote = namespace != execution.metadata.namespace
        if remote:
            try:
                wns.copy_secrets(self.kube, execution.metadata.namespace, namespace, wns.secrets_of(out.workflow))
            except client.ApiException as exc:
                raise EngineError("SecretsNotCopied", f"cannot copy the run's Secrets into {namespace}: "
                                  f"{exc.reason}") from exc
        for obj in (out.config_map, out.workflow):
            wns.own(obj, execution)
        try:
            self.kube.create("configmaps", namespace, out.config_map, group="", version="v1")  # the lean path
        except client.ApiException as exc:
            if exc.status != 409:
                raise EngineError("ConfigMapNotCreated", f"cannot create the scripts ConfigMap: {exc.reason}") from exc
            try:  # a conflict that left nothing behind must not leave the pods without their scripts
                self.kube.get("configmaps", namespace, out.config_map["metadata"]["name"], group="", version="v1")
            except client.ApiException as again:
                raise EngineError("ConfigMapNotCreated", "the scripts ConfigMap was not created "
                                  f"({exc.status}, then {again.status})") from again
        try:
            created = self.kube.create("workflows", namespace, out.workflow, group=ARGO_GROUP, version=ARGO_VERSION)
        except client.ApiException as exc:
            if exc.status != 409:
                raise EngineError("WorkflowNotCreated", f"cannot create the Workflow: {exc.reason}") from exc
            created = self.kube.get("workflows", namespace, name, group=ARGO_GROUP, version=ARGO_VERSION)
            uid = execution.metadata.uid or ""
            if uid and wns.owner_uid(created) != uid:
                raise EngineError("WorkflowNameTaken",
                                  f"a Workflow named {name} exists and belongs to something else",
                                  retryable=False) from exc
        if remote:  # in the Workflow's namespace, the scripts go with the Workflow (its TTL included)
            self._owned_by_workflow(namespace, out.config_map["metadata"]["name"], created)
        return EngineRef(engine=self.name, workflow_name=name, workflow_namespace=namespace)

    def _owned_by_workflow(self, namespace: str, config_map: str, workflow: dict[str, Any]) -> None:
        meta = workflow["metadata"]
        owner = {"apiVersion": f"{ARGO_GROUP}/{ARGO_VERSION}", "kind": "Workflow", "name": meta["name"],
                 "uid": meta.get("uid", "")}
        try:
            self.kube.call(self.kube.core.patch_namespaced_config_map, config_map, namespace,
                           {"metadata": {"ownerReferences": [owner]}})
        except client.ApiException as exc:
            if exc.status != 404:
                raise

    def release(self, namespace: str, name: str) -> None:
        """The execution is gone: delete what it owned in another namespace (no garbage collector will)."""
        owner = f"{namespace}/{name}"
        for wf in self._listing() if self._listing is not None else []:
            meta = wf["metadata"]
            if (meta.get("annotations") or {}).get(wns.OWNER_ANNOTATION) != owner:
                continue
            for delete, args in (
                (self.kube.custom.delete_namespaced_custom_object,
                 (ARGO_GROUP, ARGO_VERSION, meta["namespace"], "workflows", meta["name"])),
                (self.kube.core.delete_namespaced_config_map,
                 (scripts_config_map_name(meta["name"]), meta["namespace"])),
            ):
                try:
                    self.kube.call(delete, *args)
                except client.ApiException as exc:
                    if exc.status != 404:
                        raise


    def _workflow(self, namespace: str, name: str) -> dict[str, Any] | None:
        if self._cached is not None:
            found = self._cached(namespace, name)
            if found is not None:
                return found
        try:
            return self.kube.get("workflows", namespace, name, group=ARGO_GROUP, version=ARGO_VERSION)
        except client.ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def observe(self, execution: PipelineExecution, plan: Plan) -> RunObservation | None:
        ref = execution.status.engine_ref
        if ref is None:
            return None
        wf = self._workflow(ref.workflow_namespace, ref.workflow_name)
        if wf is None:
            return None
        seen = observe(wf, [s.id for s in plan.steps])
        status = wf.get("status") or {}
        # argo-workflows v3.7 workflow/hydrator/hydrator.go: Dehydrate leaves only the version when offloaded
        if status.get("offloadNodeStatusVersion") and not status.get("nodes") and not status.get("compressedNodes"):
            seen = dataclasses.replace(seen, offloaded=str(status["offloadNodeStatusVersion"]))
        return seen

    def stop(self, execution: PipelineExecution, plan: Plan, reason: str) -> None:
        ref = execution.status.engine_ref
        if ref is None:
            return
        try:
            self.kube.patch("workflows", ref.workflow_namespace, ref.workflow_name,
                            {"spec": {"shutdown": "Terminate"},
                             "metadata": {"annotations": {"devops.cubepaas.io/stop-reason": reason}}},
                            group=ARGO_GROUP, version=ARGO_VERSION)
        except client.ApiException as exc:
            if exc.status != 404:
                raise

    def withdraw(self, execution: PipelineExecution, plan: Plan) -> None:
        ref = execution.status.engine_ref
        if ref is None or not ref.workflow_name:
            return
        try:
            self.kube.call(self.kube.custom.delete_namespaced_custom_object, ARGO_GROUP, ARGO_VERSION,
                           ref.workflow_namespace, "workflows", ref.workflow_name)
        except client.ApiException as exc:
            if exc.status != 404:
                raise

    def step_log(self, execution: PipelineExecution, plan: Plan, stage: int, step: int) -> Iterator[str]:
        obs = self.observe(execution, plan)
        target = next((s for s in plan.steps if s.stage_index == stage and s.step_index == step), None)
        if obs is None or target is None or target.id not in obs.steps or not obs.steps[target.id].pod_name:
            raise EngineError("LogNotFound", f"no pod ran stage {stage} step {step}", retryable=False)
        namespace = execution.status.engine_ref.workflow_namespace if execution.status.engine_ref else ""
        try:
            text = self.kube.call(self.kube.core.read_namespaced_pod_log, obs.steps[target.id].pod_name,
                                  namespace, container=obs.steps[target.id].container)
        except client.ApiException as exc:
            raise EngineError("LogNotFound", f"the pod's log is gone ({exc.status})", retryable=False) from exc
        yield from str(text).splitlines(keepends=True)
