"""SourceCodeCredential reconciler: the credential's repositories as SourceCodeRepository
objects (owned by it), resynced every `repository_resync_seconds`. `provider_for` is the one
way to a git host's API, also used by the pipeline reconciler for webhooks.

Stored format: those objects are labelled `devops.cubepaas.io/credential: label_value(<credential>)`
(a label value is at most 63 characters; a credential name may have 253)."""

from __future__ import annotations

import logging
from typing import Any

from kubernetes import client

from translator.api.resources_types import API_VERSION
from translator.compiler.names import dns_label, label_value
from translator.controller import providers
from translator.controller.context import Shared
from translator.kubeclient import GROUP, VERSION

log = logging.getLogger("translator.controller")
CREDENTIAL_LABEL = "devops.cubepaas.io/credential"


def provider_for(shared: Shared, ns: str, credential: dict[str, Any]) -> Any:
    """The credential's provider client (None for a kind without an API we use)."""
    spec = credential.get("spec") or {}
    kind = spec.get("sourceCodeType", "")
    if kind not in ("github", "gitlab"):
        return None
    data = shared.kube.secret_data(ns, spec.get("secretName", ""))
    token = data.get("token") or data.get("password") or ""
    configs = [c for c in shared.kube.list("sourcecodeproviderconfigs", ns)["items"]
               if (c.get("spec") or {}).get("type") == kind and (c.get("spec") or {}).get("enabled", True)]
    cspec = (configs[0].get("spec") or {}) if configs else {}
    return providers.client_for(kind, token, cspec.get("hostname", ""), cspec.get("apiUrl", ""))


class CredentialReconciler:
    def __init__(self, shared: Shared, credentials: Any) -> None:
        self.shared = shared
        self.credentials = credentials  # the Informer of SourceCodeCredentials

    def reconcile(self, ns: str, name: str) -> None:
        shared, kube = self.shared, self.shared.kube
        credential = self.credentials.get(ns, name)
        if credential is None:
            return
        key = ("credential", ns, name)
        try:
            provider = provider_for(shared, ns, credential)
            if provider is None:
                return
            repos = provider.list_repos()
        except (providers.ProviderError, client.ApiException) as exc:
            log.warning("repositories not listed: %s", getattr(exc, "message", exc),
                        extra={"namespace": ns, "credential": name})
            shared.queue.add_after(key, 60.0)
            return
        labels = {CREDENTIAL_LABEL: label_value(name)}
        existing = {o["metadata"]["name"]: o for o in kube.list(
            "sourcecoderepositories", ns, label_selector=f"{CREDENTIAL_LABEL}={labels[CREDENTIAL_LABEL]}")["items"]}
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
                kube.create("sourcecoderepositories", ns, {
                    "apiVersion": API_VERSION, "kind": "SourceCodeRepository",
                    "metadata": {"name": rname, "labels": labels, "ownerReferences": [owner]},
                    "spec": spec})
            elif current.get("spec") != spec:
                kube.replace("sourcecoderepositories", ns, rname, {**current, "spec": spec})
        for stale in set(existing) - wanted:
            try:
                kube.call(kube.custom.delete_namespaced_custom_object, GROUP, VERSION, ns,
                          "sourcecoderepositories", stale)
            except client.ApiException as exc:
                if exc.status != 404:
                    raise
        shared.queue.add_after(key, shared.config.repository_resync_seconds)
