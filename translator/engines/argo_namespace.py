"""Where a pipeline's Workflows run, and what must be there for them: the Workflow namespace.

A PipelineSetting in namespace N runs its Workflows in N, or in `spec.argo.namespace` (W). W
must exist and belong to N's project (labelled `devops.cubepaas.io/project=N`, the label that
already gives N's steps `edit` there): a namespace of one team is never filled with another
team's service account, Secrets or runs. Anything else fails the run at once with a
`Provisioned` condition that says what to do.

In W, what the pods need: the service account with the executor Role (ensure_executor), the
artifact repository ConfigMap (controller/settings.py), and copies of the Secrets the Workflow
names (envFrom, log store, registry and git credentials, pull secrets), refreshed at every
submit and never written over a Secret of the same name that someone else put there.

Ownership. In N the Workflow and its scripts ConfigMap are owned by the PipelineExecution
(an ownerReference: the garbage collector deletes them with it). An ownerReference cannot
cross namespaces: the garbage collector looks the owner up in the dependent's namespace, treats it
as absent and deletes the dependent (kubernetes.io docs/concepts/architecture/garbage-collection,
the note on cross-namespace owner references). So in W they
carry, instead, these stored formats, and the controller deletes them when the execution goes:

- annotation `devops.cubepaas.io/owner`: `<namespace>/<execution>`;
- annotation `devops.cubepaas.io/owner-uid`: the execution's uid;
- label `devops.cubepaas.io/owner-namespace`: the execution's namespace (label-safe).

Wherever they run, both carry label `devops.cubepaas.io/shard-bucket` (shard_bucket.py), so a
controller shard watches only the Workflows of its namespaces.

Copied Secrets carry label `devops.cubepaas.io/copied-from` (label-safe N) and annotation of
the same name, `<namespace>/<secret>`; they stay while the setting points at W.
"""

from __future__ import annotations

from typing import Any

from kubernetes import client

from translator.api.resources_types import API_VERSION, PipelineExecution
from translator.api.setting_types import PipelineSettingSpec
from translator.compiler.names import label_value
from translator.engines.base import EngineError
from translator.engines.shard_bucket import BUCKET_LABEL, bucket_of
from translator.kubeclient import Kube

MANAGED_LABEL = "app.kubernetes.io/managed-by"
PROJECT_LABEL = "devops.cubepaas.io/project"
EXECUTOR_ROLE = "translator-pipeline-executor"
OWNER_ANNOTATION = "devops.cubepaas.io/owner"
OWNER_UID_ANNOTATION = "devops.cubepaas.io/owner-uid"
OWNER_NAMESPACE_LABEL = "devops.cubepaas.io/owner-namespace"
COPIED_FROM = "devops.cubepaas.io/copied-from"

# what Argo's executor does with the pod's service account (argo-workflows docs, "Workflow RBAC")
EXECUTOR_RULES: list[dict[str, Any]] = [
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "watch", "patch"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get", "watch"]},
    {"apiGroups": ["argoproj.io"], "resources": ["workflowtaskresults"], "verbs": ["create", "patch"]},
]


def workflow_namespace(namespace: str, setting: PipelineSettingSpec) -> str:
    """Where the Workflows of a setting in `namespace` run."""
    return setting.argo.namespace or namespace


def usable(namespace: str, target: str, found: dict[str, Any] | None) -> EngineError | None:
    """Why runs of `namespace` may not go to the namespace object `found` (named `target`); None: they may."""
    if target == namespace:
        return None
    if found is None:
        return EngineError("WorkflowNamespaceNotFound",
                           f"the PipelineSetting's spec.argo.namespace {target!r} does not exist: create it and label "
                           f"it {PROJECT_LABEL}={namespace}, or leave spec.argo.namespace empty to run in {namespace}",
                           retryable=False)
    labels = (found.get("metadata") or {}).get("labels") or {}
    if labels.get(PROJECT_LABEL) != namespace:
        return EngineError("WorkflowNamespaceNotInProject",
                           f"the PipelineSetting's spec.argo.namespace {target!r} is not a namespace of {namespace}'s "
                           f"project: label it {PROJECT_LABEL}={namespace} to run {namespace}'s Workflows there",
                           retryable=False)
    return None


def read_namespace(kube: Kube, name: str) -> dict[str, Any] | None:
    """The Namespace as plain data, None when it does not exist."""
    try:
        found = kube.call(kube.core.read_namespace, name)
    except client.ApiException as exc:
        if exc.status == 404:
            return None
        raise
    meta = found.metadata
    return {"metadata": {"name": name, "labels": dict((meta.labels if meta else None) or {})}}


def ensure_executor(kube: Kube, target: str, account: str, labels: dict[str, str]) -> None:
    """The step pods' service account in `target`, with the Role Argo's executor needs (idempotent)."""
    core, rbac = kube.core, kube.rbac
    kube.ensure(core.create_namespaced_service_account, core.read_namespaced_service_account,
                {"metadata": {"name": account, "labels": labels}}, target)
    kube.ensure(rbac.create_namespaced_role, rbac.read_namespaced_role,
                {"metadata": {"name": EXECUTOR_ROLE, "labels": labels}, "rules": EXECUTOR_RULES}, target)
    kube.ensure(rbac.create_namespaced_role_binding, rbac.read_namespaced_role_binding, {
        "metadata": {"name": f"{EXECUTOR_ROLE}-{account}", "labels": labels},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": EXECUTOR_ROLE},
        "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": target}]}, target)


def secrets_of(workflow: dict[str, Any]) -> list[str]:
    """Every Secret the Workflow's pods name: env, volumes, archive locations, pull secrets."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for value in node:
                walk(value)
            return
        if not isinstance(node, dict):
            return
        named = [node.get("secretKeyRef"), node.get("accessKeySecret"), node.get("secretKeySecret")]
        found.update(str(ref["name"]) for ref in named if isinstance(ref, dict) and ref.get("name"))
        secret = node.get("secret")
        if isinstance(secret, dict) and secret.get("secretName"):
            found.add(str(secret["secretName"]))
        for value in node.values():
            walk(value)

    walk(workflow.get("spec") or {})
    found.update(p["name"] for p in (workflow.get("spec") or {}).get("imagePullSecrets") or [] if p.get("name"))
    return sorted(found)


def copy_secrets(kube: Kube, source: str, target: str, names: list[str]) -> None:
    """Copy each Secret from `source` to `target` (the Workflow namespace) where it is missing or ours.

    A Secret missing in `source` is skipped: the pod then says so (CreateContainerConfigError),
    as it would in `source` itself.
    """
    core = kube.core
    for name in names:
        try:
            original = kube.call(core.read_namespaced_secret, name, source)
        except client.ApiException as exc:
            if exc.status == 404:
                continue
            raise
        body: dict[str, Any] = {"metadata": {
            "name": name, "labels": {MANAGED_LABEL: "translator", COPIED_FROM: label_value(source)},
            "annotations": {COPIED_FROM: f"{source}/{name}"}},
            "type": original.type or "Opaque", "data": dict(original.data or {})}
        try:
            current = kube.call(core.read_namespaced_secret, name, target)
        except client.ApiException as exc:
            if exc.status != 404:
                raise
            try:
                kube.call(core.create_namespaced_secret, target, body)
            except client.ApiException as again:
                if again.status != 409:
                    raise
            continue
        annotations = (current.metadata.annotations if current.metadata else None) or {}
        if annotations.get(COPIED_FROM) != f"{source}/{name}":
            continue  # someone else's Secret of that name: theirs to keep
        if dict(current.data or {}) != body["data"] or (current.type or "Opaque") != body["type"]:
            body["metadata"]["resourceVersion"] = current.metadata.resource_version if current.metadata else None
            kube.call(core.replace_namespaced_secret, name, target, body)


def own(obj: dict[str, Any], execution: PipelineExecution) -> None:
    """Tie `obj` to the execution: an ownerReference in its namespace, the owner annotations
    elsewhere; and, either way, the shard bucket of the execution's namespace (shard_bucket.py)."""
    meta = obj["metadata"]
    meta.setdefault("labels", {})[BUCKET_LABEL] = str(bucket_of(execution.metadata.namespace))
    if meta.get("namespace", execution.metadata.namespace) == execution.metadata.namespace:
        meta["ownerReferences"] = [{
            "apiVersion": API_VERSION, "kind": "PipelineExecution", "name": execution.metadata.name,
            "uid": execution.metadata.uid or "", "controller": True, "blockOwnerDeletion": True}]
        return
    meta.setdefault("annotations", {}).update({
        OWNER_ANNOTATION: f"{execution.metadata.namespace}/{execution.metadata.name}",
        OWNER_UID_ANNOTATION: execution.metadata.uid or ""})
    meta.setdefault("labels", {})[OWNER_NAMESPACE_LABEL] = label_value(execution.metadata.namespace)


def execution_of(obj: dict[str, Any]) -> tuple[str, str] | None:
    """(namespace, name) of the PipelineExecution that owns `obj`, by either form of ownership."""
    meta = obj.get("metadata") or {}
    for ref in meta.get("ownerReferences") or []:
        if ref.get("kind") == "PipelineExecution":
            return meta.get("namespace", ""), ref["name"]
    owner = (meta.get("annotations") or {}).get(OWNER_ANNOTATION, "")
    if "/" in owner:
        namespace, name = owner.split("/", 1)
        return namespace, name
    return None


def owner_uid(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    for ref in meta.get("ownerReferences") or []:
        if ref.get("kind") == "PipelineExecution":
            return str(ref.get("uid") or "")
    return str((meta.get("annotations") or {}).get(OWNER_UID_ANNOTATION, ""))
