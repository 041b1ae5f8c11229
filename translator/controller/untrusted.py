"""The service account pull_request runs use (docs/security.md), made with the namespace's other
pipeline objects by the settings reconciler.

A pull request's pods run as `spec.pullRequests.serviceAccount` (default `translator-untrusted`)
with `automountServiceAccountToken: false`, so no step container holds a token. Argo's executor
(the wait and init containers) still needs one to report results: Argo mounts the token Secret
of `spec.executor.serviceAccountName` into those containers only, and finds it as
`<account>.service-account-token` (argo-workflows util/secrets TokenNameForServiceAccount), a
Secret of type `kubernetes.io/service-account-token` that Kubernetes fills in (since 1.24 it is
no longer made for every account). The account may do only what Argo's emissary executor needs:
create and patch `workflowtaskresults` (argo-workflows docs/workflow-rbac.md, "for >= v3.4").
Jenkins' agent pods need no token at all. The account's own `automountServiceAccountToken:
false` keeps the token out of any other pod that names it.

Stored format: ServiceAccount `<account>`, Role and RoleBinding `translator-untrusted-executor`
(binding `translator-untrusted-executor-<account>`), Secret `<account>.service-account-token`.
"""

from __future__ import annotations

from typing import Any

from translator.api.setting_types import PipelineSettingSpec
from translator.kubeclient import Kube

ROLE = "translator-untrusted-executor"


def objects(account: str, labels: dict[str, str]) -> list[dict[str, Any]]:
    """The account, its executor-only Role and binding, and the token Secret Argo mounts."""
    return [
        {"kind": "ServiceAccount", "metadata": {"name": account, "labels": labels},
         "automountServiceAccountToken": False},
        {"kind": "Role", "metadata": {"name": ROLE, "labels": labels},
         "rules": [{"apiGroups": ["argoproj.io"], "resources": ["workflowtaskresults"],
                    "verbs": ["create", "patch"]}]},
        {"kind": "RoleBinding", "metadata": {"name": f"{ROLE}-{account}", "labels": labels},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": ROLE},
         "subjects": [{"kind": "ServiceAccount", "name": account}]},
        {"kind": "Secret", "type": "kubernetes.io/service-account-token",
         "metadata": {"name": f"{account}.service-account-token", "labels": labels,
                      "annotations": {"kubernetes.io/service-account.name": account}}},
    ]


def ensure(kube: Kube, namespace: str, setting: PipelineSettingSpec, labels: dict[str, str]) -> None:
    """Create what is missing in `namespace` (never overwrites)."""
    core, rbac = kube.core, kube.rbac
    calls: dict[str, tuple[Any, Any]] = {
        "ServiceAccount": (core.create_namespaced_service_account, core.read_namespaced_service_account),
        "Role": (rbac.create_namespaced_role, rbac.read_namespaced_role),
        "RoleBinding": (rbac.create_namespaced_role_binding, rbac.read_namespaced_role_binding),
        "Secret": (core.create_namespaced_secret, core.read_namespaced_secret),
    }
    for body in objects(setting.pull_requests.service_account, labels):
        if body["kind"] == "RoleBinding":
            body["subjects"][0]["namespace"] = namespace
        create, read = calls[body["kind"]]
        kube.ensure(create, read, body, namespace)
