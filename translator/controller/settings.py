"""Namespace preparation, continuously reconciled per PipelineSetting.

For a setting in namespace N: the pipeline service account in N, a Role and RoleBinding that
let Argo's executor run its pods there, RoleBindings of that service account to the `edit`
ClusterRole in every namespace labelled `devops.cubepaas.io/project=N` (removed when the
label goes), and, when the setting names a log store, the artifact repository ConfigMap for
Argo's log archiving. Everything made carries `app.kubernetes.io/managed-by=translator` and
the setting's labels, so a deleted object is noticed and made again.
"""

from __future__ import annotations

from typing import Any

from kubernetes import client

from translator.api.resources_types import PipelineSettingSpec, parse_setting
from translator.engines.base import EngineError
from translator.kubeclient import Kube

MANAGED_LABEL = "app.kubernetes.io/managed-by"
SETTING_LABEL = "devops.cubepaas.io/setting"
SETTING_NS_LABEL = "devops.cubepaas.io/setting-namespace"
PROJECT_LABEL = "devops.cubepaas.io/project"
EXECUTOR_ROLE = "translator-pipeline-executor"


def artifact_repository(setting: PipelineSettingSpec, namespace: str) -> dict[str, Any]:
    """Argo's S3 artifact repository for archived logs; key layout documented in docs/logs.md."""
    logs = setting.logs
    repo: dict[str, Any] = {
        "archiveLogs": True,
        "s3": {
            "endpoint": logs.endpoint, "bucket": logs.bucket, "insecure": logs.insecure,
            "keyFormat": f"{namespace}/{{{{workflow.labels.devops.cubepaas.io/pipeline}}}}/"
                         "{{workflow.labels.devops.cubepaas.io/run}}/{{pod.name}}",
        },
    }
    if logs.credentials_secret:
        repo["s3"]["accessKeySecret"] = {"name": logs.credentials_secret, "key": "accesskey"}
        repo["s3"]["secretKeySecret"] = {"name": logs.credentials_secret, "key": "secretkey"}
    return repo


class SettingsReconciler:
    def __init__(self, kube: Kube, namespaces: Any, engines: Any = None, default_engine: str = "argo") -> None:
        self.kube = kube
        self.namespaces = namespaces  # an Informer of Namespaces
        self.engines = engines  # the controller's EngineRegistry: each engine prepares what it needs
        self.default_engine = default_engine

    def _labels(self, namespace: str, name: str) -> dict[str, str]:
        return {MANAGED_LABEL: "translator", SETTING_LABEL: name, SETTING_NS_LABEL: namespace}

    def _ensure(self, create: Any, read: Any, body: dict[str, Any], *args: Any) -> None:
        try:
            self.kube.call(read, body["metadata"]["name"], *args)
        except client.ApiException as exc:
            if exc.status != 404:
                raise
            try:
                self.kube.call(create, *args, body)
            except client.ApiException as again:
                if again.status != 409:
                    raise

    def reconcile(self, namespace: str, name: str, obj: dict[str, Any] | None) -> None:
        if obj is None:
            return  # what it made is left for the administrator; nothing runs without a setting anyway
        setting = parse_setting(obj)
        labels = self._labels(namespace, name)
        sa = setting.argo.service_account or "pipeline"
        core, rbac = self.kube.core, self.kube.rbac
        self._ensure(core.create_namespaced_service_account, core.read_namespaced_service_account,
                     {"metadata": {"name": sa, "labels": labels}}, namespace)
        self._ensure(rbac.create_namespaced_role, rbac.read_namespaced_role, {
            "metadata": {"name": EXECUTOR_ROLE, "labels": labels},
            "rules": [
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "watch", "patch"]},
                {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get", "watch"]},
                {"apiGroups": ["argoproj.io"], "resources": ["workflowtaskresults"], "verbs": ["create", "patch"]},
            ]}, namespace)
        self._ensure(rbac.create_namespaced_role_binding, rbac.read_namespaced_role_binding, {
            "metadata": {"name": f"{EXECUTOR_ROLE}-{sa}", "labels": labels},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": EXECUTOR_ROLE},
            "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": namespace}]}, namespace)
        project = {n["metadata"]["name"] for n in self.namespaces.items()
                   if (n["metadata"].get("labels") or {}).get(PROJECT_LABEL) == namespace}
        binding = f"translator-deploy-{namespace}-{sa}"
        for target in sorted(project):
            self._ensure(rbac.create_namespaced_role_binding, rbac.read_namespaced_role_binding, {
                "metadata": {"name": binding, "labels": labels},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
                "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": namespace}]}, target)
        selector = f"{SETTING_LABEL}={name},{SETTING_NS_LABEL}={namespace}"
        existing = self.kube.call(rbac.list_role_binding_for_all_namespaces, label_selector=selector)
        for rb in existing.items:
            if rb.metadata is not None and rb.metadata.name == binding and rb.metadata.namespace not in project \
                    and rb.metadata.namespace != namespace:
                try:
                    self.kube.call(rbac.delete_namespaced_role_binding, rb.metadata.name, rb.metadata.namespace)
                except client.ApiException as exc:
                    if exc.status != 404:
                        raise
        if self.engines is not None:
            try:
                engine = self.engines.get((obj.get("spec") or {}).get("engine") or self.default_engine)
                engine.prepare(namespace, setting)
            except EngineError:
                pass  # an unknown engine fails each run with a condition saying so
        if setting.logs.endpoint:
            import yaml

            ref = setting.argo.artifact_repository_ref
            cm_name, key = (ref.config_map, ref.key) if ref else ("artifact-repositories", "translator-logs")
            body: dict[str, Any] = {"metadata": {"name": cm_name, "labels": labels,
                                 "annotations": {"workflows.argoproj.io/default-artifact-repository": key}},
                    "data": {key: yaml.safe_dump(artifact_repository(setting, namespace), sort_keys=True)}}
            try:
                current = self.kube.call(core.read_namespaced_config_map, cm_name, namespace)
                if (current.data or {}).get(key) != body["data"][key]:
                    self.kube.call(core.patch_namespaced_config_map, cm_name, namespace, {"data": body["data"]})
            except client.ApiException as exc:
                if exc.status != 404:
                    raise
                self.kube.call(core.create_namespaced_config_map, namespace, body)
