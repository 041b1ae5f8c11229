"""The Argo engine: a Plan becomes a Workflow (plus its scripts ConfigMap) in the cluster.

Both objects carry an ownerReference to the PipelineExecution, so deleting the execution
deletes them, and both have deterministic names (`compiler.argo.workflow_name`: the
execution's name, shortened with a hash past 63 characters; `<workflow>-scripts`), so a
retry after a crash finds them instead of making a second run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from kubernetes import client

from translator.api.resources_types import API_VERSION, EngineRef, PipelineExecution, PipelineSettingSpec
from translator.api.states import Engine as EngineName
from translator.compiler.argo import render
from translator.compiler.plan import Plan
from translator.engines.base import EngineError, RunObservation
from translator.kubeclient import ARGO_GROUP, ARGO_VERSION, Kube
from translator.status.argo import observe


def owner_reference(execution: PipelineExecution) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": "PipelineExecution", "name": execution.metadata.name,
            "uid": execution.metadata.uid or "", "controller": True, "blockOwnerDeletion": True}


class ArgoEngine:
    name = EngineName.ARGO.value

    def __init__(self, kube: Kube, workflows: Callable[[str, str], dict[str, Any] | None] | None = None) -> None:
        self.kube = kube
        self._cached = workflows  # the controller's informer cache, when it has one

    def prepare(self, namespace: str, setting: PipelineSettingSpec) -> None:
        return None  # service account, RBAC and artifact repository are the settings reconciler's

    def submit(self, execution: PipelineExecution, plan: Plan) -> EngineRef:
        out = render(plan)
        owner = owner_reference(execution)
        namespace, name = out.workflow["metadata"]["namespace"], out.workflow["metadata"]["name"]
        for obj in (out.config_map, out.workflow):
            obj["metadata"]["ownerReferences"] = [owner]
        try:
            self.kube.call(self.kube.core.create_namespaced_config_map, namespace, out.config_map)
        except client.ApiException as exc:
            if exc.status != 409:
                raise EngineError("ConfigMapNotCreated", f"cannot create the scripts ConfigMap: {exc.reason}") from exc
        try:
            self.kube.create("workflows", namespace, out.workflow, group=ARGO_GROUP, version=ARGO_VERSION)
        except client.ApiException as exc:
            if exc.status != 409:
                raise EngineError("WorkflowNotCreated", f"cannot create the Workflow: {exc.reason}") from exc
            existing = self.kube.get("workflows", namespace, name, group=ARGO_GROUP, version=ARGO_VERSION)
            owners = existing["metadata"].get("ownerReferences") or []
            if owner["uid"] and not any(o.get("uid") == owner["uid"] for o in owners):
                raise EngineError("WorkflowNameTaken",
                                  f"a Workflow named {name} exists and belongs to something else",
                                  retryable=False) from exc
        return EngineRef(engine=self.name, workflow_name=name, workflow_namespace=namespace)

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
        return observe(wf, [s.id for s in plan.steps])

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
                                  namespace, container="main")
        except client.ApiException as exc:
            raise EngineError("LogNotFound", f"the pod's log is gone ({exc.status})", retryable=False) from exc
        yield from str(text).splitlines(keepends=True)
