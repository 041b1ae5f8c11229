"""The CustomResourceDefinitions the double serves: ours (`crds/*.yaml`) and Argo's Workflow.

Which Workflow CRD a real cluster has depends on the Argo release that installed it:
argo-workflows v3.6 and v3.7 `manifests/cluster-install` apply `base/crds/minimal` (`spec` and
`status` are `x-kubernetes-preserve-unknown-fields`: nothing is pruned or checked), while v4.0
and v4.1 apply `base/crds/full` ("switch to full CRDs by default", #15003), whose schema types
every field: the API server prunes what that release does not know and validates the rest
(enums, patterns, required fields, list-map keys; its CEL rules are not evaluated here). The
double serves the v4.1 full CRD from `../shared/argo` — what a current install has, and the
stricter of the two — by default; `KubeDouble(argo_crd=...)` takes an Argo version (the CRD its
install applies), "full" or "minimal". Without `../shared` beside the checkout it serves the
minimal one.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]

_OPEN = {"type": "object", "x-kubernetes-map-type": "atomic", "x-kubernetes-preserve-unknown-fields": True}

# argo-workflows manifests/base/crds/minimal/argoproj.io_workflows.yaml (v3.6.19, v3.7.18), descriptions left out
ARGO_MINIMAL: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "workflows.argoproj.io"},
    "spec": {
        "group": "argoproj.io", "scope": "Namespaced",
        "names": {"kind": "Workflow", "listKind": "WorkflowList", "plural": "workflows", "singular": "workflow",
                  "shortNames": ["wf"]},
        "versions": [{
            "name": "v1alpha1", "served": True, "storage": True, "subresources": {},
            "schema": {"openAPIV3Schema": {
                "type": "object", "required": ["metadata", "spec"],
                "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                               "metadata": {"type": "object"}, "spec": _OPEN, "status": _OPEN},
            }},
        }],
    },
}


@lru_cache(maxsize=4)
def _load(path: Path) -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # ~3 MB: parsed once per process
    with path.open() as f:
        loaded: dict[str, Any] = yaml.load(f, Loader=loader)  # a safe loader either way
    return loaded


def _full(version: str) -> Path:
    shared = ROOT.parent / "shared" / "argo"
    return shared / "argoproj.io_workflows.full-crd.yaml" if version == "v4.1" else \
        shared / "versions" / version / "argoproj.io_workflows.full-crd.yaml"


def argo_workflow_crd(kind: str = "v4.1") -> dict[str, Any]:
    """The Workflow CRD an install of Argo `kind` applies (v3.6 and v3.7: minimal; v4.0 and v4.1:
    that release's full one), or "full" (v4.1's) or "minimal" as asked."""
    version = {"full": "v4.1"}.get(kind, kind)
    if version in ("v4.0", "v4.1"):
        path = _full(version)
        return _load(path) if path.exists() else ARGO_MINIMAL
    if version in ("minimal", "v3.6", "v3.7"):
        return ARGO_MINIMAL
    raise ValueError(f"argo_crd must be full, minimal or an Argo version v3.6 to v4.1, not {kind!r}")
def our_crds() -> list[dict[str, Any]]:
    return [yaml.safe_load(p.read_text()) for p in sorted((ROOT / "crds").glob("*.yaml"))]
