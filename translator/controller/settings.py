"""Namespace preparation, continuously reconciled per PipelineSetting.

For a setting in namespace N whose Workflows run in W (N, or `spec.argo.namespace`, which
must be a namespace of N's project: engines/argo_namespace.py): in W the pipeline service
account, a Role and RoleBinding that let Argo's executor run its pods there, a RoleBinding of
that account to the `edit` ClusterRole (a step's `kubectl apply` with no namespace lands in
its own namespace), and, when the setting names a log store, the artifact repository ConfigMap
for Argo's log archiving; RoleBindings of the account to `edit` in every namespace labelled
`devops.cubepaas.io/project=N` (removed when the label goes); and the engine's own preparation
(the log bucket for Argo, the namespace's Jenkins). Everything made carries
`app.kubernetes.io/managed-by=translator` and the setting's labels, so a deleted object is
noticed and made again. What a step may touch with these rights is in docs/engines.md.

A preparation that fails (a log store refusing the bucket, a Workflow namespace outside the
project) is logged here and retried with the setting; each run it would break says why in its
`Provisioned` condition and waits or fails by the provisioning rules.
"""

from __future__ import annotations

import logging
from typing import Any

from kubernetes import client

from translator.api.setting_types import PipelineSettingSpec, parse_setting
from translator.controller import untrusted
from translator.engines import argo_namespace as wns
from translator.engines.base import EngineError
from translator.kubeclient import Kube

MANAGED_LABEL = wns.MANAGED_LABEL
SETTING_LABEL = "devops.cubepaas.io/setting"
SETTING_NS_LABEL = "devops.cubepaas.io/setting-namespace"
PROJECT_LABEL = wns.PROJECT_LABEL
EXECUTOR_ROLE = wns.EXECUTOR_ROLE

log = logging.getLogger("translator.settings")


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

    def _ensure_binding(self, target: str, name: str, subject: dict[str, str], labels: dict[str, str]) -> None:
        """A RoleBinding of `subject` to `edit` in `target`; remade when it binds someone else."""
        rbac = self.kube.rbac
        body = {"metadata": {"name": name, "labels": labels},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
                "subjects": [subject]}
        try:
            current = self.kube.call(rbac.read_namespaced_role_binding, name, target)
        except client.ApiException as exc:
            if exc.status != 404:
                raise
        else:
            subjects = [{"kind": s.kind, "name": s.name, "namespace": s.namespace} for s in current.subjects or []]
            if subjects == [subject] and current.role_ref.name == "edit":
                return
            self._delete_binding(name, target)  # roleRef cannot change; subjects are rewritten whole
        try:
            self.kube.call(rbac.create_namespaced_role_binding, target, body)
        except client.ApiException as again:
            if again.status != 409:
                raise
            self.kube.call(rbac.read_namespaced_role_binding, name, target)  # 404: nothing made, retried

    def _delete_binding(self, name: str, namespace: str) -> None:
        try:
            self.kube.call(self.kube.rbac.delete_namespaced_role_binding, name, namespace)
        except client.ApiException as exc:
            if exc.status != 404:
                raise

    def reconcile(self, namespace: str, name: str, obj: dict[str, Any] | None) -> None:
        if obj is None:
            return  # what it made is left for the administrator; nothing runs without a setting anyway
        setting = parse_setting(obj)
        labels = self._labels(namespace, name)
        sa = setting.argo.service_account or "pipeline"
        target = wns.workflow_namespace(namespace, setting)
        refused = wns.usable(namespace, target, self.namespaces.get("", target)) if target != namespace else None
        if refused is not None:
            log.warning("Workflow namespace not prepared: %s", refused.message,
                        extra={"namespace": namespace, "setting": name})
        else:
            wns.ensure_executor(self.kube, target, sa, labels)
        subject = {"kind": "ServiceAccount", "name": sa, "namespace": target}
        # pull requests' account where their pods run: the Workflows' namespace (Argo), the setting's (Jenkins)
        for where in sorted({namespace} | ({target} if refused is None else set())):
            untrusted.ensure(self.kube, where, setting, labels)
        project = {n["metadata"]["name"] for n in self.namespaces.items()
                   if (n["metadata"].get("labels") or {}).get(PROJECT_LABEL) == namespace}
        own = {target} if refused is None else set()
        binding = f"translator-deploy-{namespace}-{sa}"
        for where in sorted(project | own):
            self._ensure_binding(where, binding, subject, labels)
        selector = f"{SETTING_LABEL}={name},{SETTING_NS_LABEL}={namespace}"
        existing = self.kube.call(self.kube.rbac.list_role_binding_for_all_namespaces, label_selector=selector)
        for rb in existing.items:
            if rb.metadata is not None and rb.metadata.name == binding and rb.metadata.namespace not in project | own:
                self._delete_binding(rb.metadata.name, rb.metadata.namespace or "")
        if self.engines is not None:
            try:
                engine = self.engines.get((obj.get("spec") or {}).get("engine") or self.default_engine)
                engine.prepare(namespace, setting)
            except EngineError as exc:  # an unknown engine, a log store refusing: each run says so too
                log.warning("namespace preparation: %s", exc.message, extra={"namespace": namespace, "setting": name})
        if setting.logs.endpoint and refused is None:
            self._artifact_repository(namespace, target, setting, labels)

    def _artifact_repository(self, namespace: str, target: str, setting: PipelineSettingSpec,
                             labels: dict[str, str]) -> None:
        import yaml

        core = self.kube.core
        ref = setting.argo.artifact_repository_ref
        cm_name, key = (ref.config_map, ref.key) if ref else ("artifact-repositories", "translator-logs")
        body: dict[str, Any] = {"metadata": {"name": cm_name, "labels": labels,
                                             "annotations": {"workflows.argoproj.io/default-artifact-repository": key}},
                                "data": {key: yaml.safe_dump(artifact_repository(setting, namespace), sort_keys=True)}}
        try:
            current = self.kube.call(core.read_namespaced_config_map, cm_name, target)
            if (current.data or {}).get(key) != body["data"][key]:
                self.kube.call(core.patch_namespaced_config_map, cm_name, target, {"data": body["data"]})
        except client.ApiException as exc:
            if exc.status != 404:
                raise
            self.kube.call(core.create_namespaced_config_map, target, body)
