"""What the kubelet adds around a step container the simulator runs (`ArgoSimulator(execute=...)`,
tests/argo_sim_rules.run_container): the Secrets it reads.

# kubernetes pkg/kubelet/kubelet_pods.go makeEnvironmentVariables: a `secretKeyRef` becomes the
#   variable's value; a missing Secret or key fails the container (CreateContainerConfigError)
# kubernetes pkg/volume/secret: a Secret volume is a directory of its keys (or `items`), with `defaultMode`
Both are handed to run_container in the shape it already runs: the value as a plain env value,
the Secret volume as a ConfigMap-like volume whose data are the Secret's decoded keys.
"""

from __future__ import annotations

import base64
import copy
from typing import Any

from tests.kube_double.store import Store


def _secret(store: Store, namespace: str, name: str) -> dict[str, str] | None:
    found = store.objects.get(("", "secrets", namespace, name))
    if found is None:
        return None
    return {k: base64.b64decode(v).decode() for k, v in (found.get("data") or {}).items()}


def with_secrets(store: Store, wf: dict[str, Any], template: dict[str, Any],
                 config_maps: dict[str, dict[str, str] | None]) -> tuple[dict[str, Any], dict[str, Any],
                                                                         tuple[int, str] | None]:
    """(workflow, template) with the Secrets resolved, and the kubelet's refusal when one is missing."""
    ns = wf["metadata"]["namespace"]
    wf, template = copy.deepcopy(wf), copy.deepcopy(template)
    container = template["container"]
    for var in container.get("env") or []:
        ref = (var.get("valueFrom") or {}).get("secretKeyRef")
        if ref is None:
            continue
        data = _secret(store, ns, ref["name"])
        if data is None or ref["key"] not in data:
            what = f'secret "{ref["name"]}" not found' if data is None else f"couldn't find key {ref['key']}"
            return wf, template, (1, f"CreateContainerConfigError: {what}\n")
        var.pop("valueFrom")
        var["value"] = data[ref["key"]]
    for volume in [*(wf["spec"].get("volumes") or []), *(template.get("volumes") or [])]:
        source = volume.get("secret")
        if source is None:
            continue
        data = _secret(store, ns, source["secretName"])
        if data is not None and source.get("items"):
            data = {item["path"]: data.get(item["key"], "") for item in source["items"]}
        key = f"secret/{source['secretName']}"
        config_maps[key] = data
        volume.pop("secret")
        volume["configMap"] = {"name": key, "defaultMode": source.get("defaultMode", 0o644)}
    return wf, template, None
