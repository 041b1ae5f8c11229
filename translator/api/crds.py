"""Generate the CustomResourceDefinitions in `crds/` from the pydantic models.

Pydantic's JSON schema is turned into a Kubernetes *structural* schema: references inlined,
`null` alternatives dropped (nulls are never stored), no defaults (the controller fills them,
so stored objects hold only what their authors wrote), descriptions kept for `kubectl explain`.
Fields that accept Rancher's shorthand (a string or a list where an object is meant) are
`x-kubernetes-preserve-unknown-fields`, and our own validator checks them.

A pipeline file pasted inline (`Pipeline.spec.config`) is an open object in the model, so its
schema here is one too, kept whole: typed, the API server would refuse what Rancher accepted
(`env: {TIMEOUT: 10}`) and prune, without a word, the misplaced keys our validator warns about;
open, `translator validate`'s rules (paths, lines, warnings) judge it when a run is made. The
execution's snapshot (`pipelineConfig`) is the validator's normalised output and stays typed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import BaseModel

from translator.api import resources_types as rt
from translator.api import setting_types

_DROP = {"title", "default", "additionalProperties", "$defs", "examples"}


@dataclass(frozen=True)
class CRDInfo:
    model: type[BaseModel]
    kind: str
    plural: str
    short_names: tuple[str, ...]
    columns: tuple[tuple[str, str, str], ...]  # (name, type, jsonPath)
    scope: str = "Namespaced"


CRDS: tuple[CRDInfo, ...] = (
    CRDInfo(setting_types.PipelineSetting, "PipelineSetting", "pipelinesettings", ("pset",), (
        ("Engine", "string", ".spec.engine"),
        ("Quota", "integer", ".spec.executorQuota"),
        ("Age", "date", ".metadata.creationTimestamp"),
    )),
    CRDInfo(rt.Pipeline, "Pipeline", "pipelines", ("pl",), (
        ("Repository", "string", ".spec.repositoryUrl"),
        ("Last-Run", "string", ".status.lastExecutionId"),
        ("Last-State", "string", ".status.lastRunState"),
        ("Last-Started", "date", ".status.lastStarted"),
    )),
    CRDInfo(rt.PipelineExecution, "PipelineExecution", "pipelineexecutions", ("pe", "pex"), (
        ("State", "string", ".status.executionState"),
        ("Pipeline", "string", ".spec.pipelineName"),
        ("Run", "integer", ".spec.run"),
        ("Branch", "string", ".spec.branch"),
        ("Started", "date", ".status.started"),
        ("Duration", "string", ".status.duration"),
    )),
    CRDInfo(rt.SourceCodeProviderConfig, "SourceCodeProviderConfig", "sourcecodeproviderconfigs", ("scpc",), (
        ("Type", "string", ".spec.type"),
        ("Host", "string", ".spec.hostname"),
    )),
    CRDInfo(rt.SourceCodeCredential, "SourceCodeCredential", "sourcecodecredentials", ("scc",), (
        ("Type", "string", ".spec.sourceCodeType"),
        ("User", "string", ".spec.userName"),
    )),
    CRDInfo(rt.SourceCodeRepository, "SourceCodeRepository", "sourcecoderepositories", ("scr",), (
        ("Type", "string", ".spec.sourceCodeType"),
        ("URL", "string", ".spec.url"),
    )),
    CRDInfo(rt.CacheInventory, "CacheInventory", "cacheinventories", ("cinv",), (
        ("Used", "integer", ".status.usedBytes"),
        ("Budget", "integer", ".status.budgetBytes"),
        ("Free", "integer", ".status.freeBytes"),
        ("Evictions", "integer", ".status.evictions"),
        ("Updated", "date", ".status.updated"),
    ), scope="Cluster"),
)


def structural_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's openAPIV3Schema: structural, inlined, with descriptions."""
    raw = model.model_json_schema(by_alias=True)
    defs = raw.get("$defs", {})
    schema: dict[str, Any] = _convert(raw, defs)
    props = schema.setdefault("properties", {})
    props["metadata"] = {"type": "object"}
    props["apiVersion"] = {"type": "string", "description": "devops.cubepaas.io/v1alpha1"}
    props["kind"] = {"type": "string"}
    schema["required"] = [r for r in schema.get("required", []) if r not in ("metadata", "apiVersion", "kind")]
    if not schema["required"]:
        del schema["required"]
    return schema


def _convert(node: Any, defs: dict[str, Any]) -> Any:
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = defs[node["$ref"].split("/")[-1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _convert(merged, defs)
    if "anyOf" in node:
        options = [o for o in node["anyOf"] if o.get("type") != "null"]
        rest = {k: v for k, v in node.items() if k != "anyOf"}
        if len(options) == 1:
            return _convert({**options[0], **rest}, defs)
        return {**{k: v for k, v in _convert(rest, defs).items()}, "x-kubernetes-preserve-unknown-fields": True}
    out: dict[str, Any] = {}
    if node.get("x-kubernetes-preserve-unknown-fields"):
        out["x-kubernetes-preserve-unknown-fields"] = True
        if "description" in node:
            out["description"] = node["description"]
        return out
    for key, value in node.items():
        if key in _DROP:
            continue
        if key == "properties":
            out[key] = {name: _convert(v, defs) for name, v in value.items()}
        elif key == "items":
            out[key] = _convert(value, defs)
        elif key == "const":
            out["enum"] = [value]
        else:
            out[key] = value
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    if node.get("type") == "object" and isinstance(node.get("additionalProperties"), dict):
        out["additionalProperties"] = _convert(node["additionalProperties"], defs)
    if out.get("type") == "object" and "properties" not in out and "additionalProperties" not in out:
        out["x-kubernetes-preserve-unknown-fields"] = True
    return out


def crd(info: CRDInfo) -> dict[str, Any]:
    """One CustomResourceDefinition object."""
    singular = info.kind.lower()
    doc = (info.model.__doc__ or "").strip().splitlines()[0]
    schema = structural_schema(info.model)
    schema["description"] = doc
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{info.plural}.{rt.GROUP}"},
        "spec": {
            "group": rt.GROUP,
            "scope": info.scope,
            "names": {
                "kind": info.kind,
                "listKind": f"{info.kind}List",
                "plural": info.plural,
                "singular": singular,
                "shortNames": list(info.short_names),
                "categories": ["devops"],
            },
            "versions": [{
                "name": rt.VERSION,
                "served": True,
                "storage": True,
                "schema": {"openAPIV3Schema": schema},
                "subresources": {"status": {}} if "status" in info.model.model_fields else {},
                "additionalPrinterColumns": [
                    {"name": n, "type": t, "jsonPath": p} for n, t, p in info.columns
                ],
            }],
        },
    }


def file_name(info: CRDInfo) -> str:
    return f"{rt.GROUP}_{info.plural}.yaml"


def render(info: CRDInfo) -> str:
    return yaml.safe_dump(crd(info), sort_keys=False, width=100)


def render_all() -> dict[str, str]:
    """File name -> YAML text, for `crds/` and the chart."""
    return {file_name(info): render(info) for info in CRDS}
