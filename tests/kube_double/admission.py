"""What the API server does to a Pod on create that the trust rules depend on: the ServiceAccount
admission plugin, and the account every namespace gets.

# kubernetes plugin/pkg/admission/serviceaccount/admission.go (1.22+): Admit, shouldAutomount, mountServiceAccountToken
- an empty `serviceAccountName` becomes `default`; an account that does not exist refuses the
  pod (403 Forbidden, "error looking up service account <ns>/<name>: ...");
- unless the pod's `automountServiceAccountToken` is false (the pod's preference wins), or else
  the account's is, a projected volume `kube-api-access-<5 random>` holding the account's token
  is added and mounted read-only at /var/run/secrets/kubernetes.io/serviceaccount in every init
  container and container that has no mount at that path already.

# kubernetes pkg/controller/serviceaccount/serviceaccounts_controller.go: every namespace gets `default`
The controller makes it shortly after the namespace; here it is made with the namespace.
"""

from __future__ import annotations

from typing import Any

TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
VOLUME_PREFIX = "kube-api-access-"
SUFFIX = "bcdfghjklmnpqrstvwxz2456789"  # apimachinery util/rand: the characters of generated names


def admit_pod(objects: dict[tuple[str, str, str, str], dict[str, Any]], namespace: str, pod: dict[str, Any],
              suffix: str) -> str:
    """Mutate `pod` as the plugin does; the refusal message, or "" when admitted."""
    spec = pod.setdefault("spec", {})
    name = spec.get("serviceAccountName") or "default"
    spec["serviceAccountName"] = name
    account = objects.get(("", "serviceaccounts", namespace, name))
    if account is None:
        return f'error looking up service account {namespace}/{name}: serviceaccount "{name}" not found'
    automount = spec.get("automountServiceAccountToken")
    if automount is None:
        automount = account.get("automountServiceAccountToken")
    if automount is False:
        return ""
    volumes = spec.setdefault("volumes", [])
    volume = next((v["name"] for v in volumes if v.get("name", "").startswith(VOLUME_PREFIX)), "")
    mount = {"name": volume or VOLUME_PREFIX + suffix, "readOnly": True, "mountPath": TOKEN_PATH}
    needed = False
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        mounts = container.setdefault("volumeMounts", [])
        if not any(m.get("mountPath") == TOKEN_PATH for m in mounts):
            mounts.append(dict(mount))
            needed = True
    if needed and not volume:
        volumes.append({"name": mount["name"], "projected": {"defaultMode": 0o644, "sources": [
            {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace",
                                        "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
        ]}})
    return ""
