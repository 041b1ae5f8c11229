"""Shared test helpers: where ../shared is, and Argo's own schemas as strict validators.

`../shared` is read in place (never copied). Tests that need it skip, saying so, when it is
absent, as in a user's clone; CI always has it.
"""

from __future__ import annotations

import copy
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
EXAMPLES = ROOT / "examples"


def shared_path(*parts: str) -> Path:
    """A path under ../shared, or skip the test: the reference data is not in this checkout."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs ../shared/{'/'.join(parts)} (reference data beside the checkout; CI has it)")
    return path


def _forbid_unknown(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _forbid_unknown(v) for k, v in node.items()}
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [_forbid_unknown(v) for v in node]
    return node


ARGO_VERSIONS = ("v3.6", "v3.7", "v4.0", "v4.1")  # supported; v4.1 is ../shared/argo itself


def argo_version_dir(version: str) -> Path:
    """Where ../shared keeps one Argo version's schema and CRD (v4.1 at the root, the others under versions/)."""
    parts = ("argo",) if version == ARGO_VERSIONS[-1] else ("argo", "versions", version)
    return shared_path(*parts)


@lru_cache(maxsize=len(ARGO_VERSIONS))
def argo_json_schema_validator(version: str = ARGO_VERSIONS[-1]) -> jsonschema.protocols.Validator:
    """One Argo version's JSON schema for Workflow, with unknown keys forbidden everywhere."""
    schema = json.loads((argo_version_dir(version) / "workflow-schema.json").read_text())
    strict = _forbid_unknown(schema)
    strict.pop("oneOf", None)
    strict["$ref"] = "#/definitions/io.argoproj.workflow.v1alpha1.Workflow"
    strict.pop("type", None)
    return jsonschema.Draft202012Validator(strict)


def _openapi_to_jsonschema(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _openapi_to_jsonschema(v) for k, v in node.items() if not k.startswith("x-kubernetes")}
        if node.get("x-kubernetes-int-or-string"):
            out.pop("type", None)
            out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
        if node.get("nullable") and "type" in out:
            out["type"] = [out["type"], "null"]
        out.pop("nullable", None)
        if out.get("type") == "object" and "properties" in out and "additionalProperties" not in out \
                and not node.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [_openapi_to_jsonschema(v) for v in node]
    return node


@lru_cache(maxsize=len(ARGO_VERSIONS))
def argo_crd_validator(version: str = ARGO_VERSIONS[-1]) -> jsonschema.protocols.Validator:
    """One version's full Workflow CRD openAPIV3Schema (name patterns, 200-item limits) as JSON schema."""
    crd = yaml.safe_load((argo_version_dir(version) / "argoproj.io_workflows.full-crd.yaml").read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    converted = _openapi_to_jsonschema(copy.deepcopy(schema))
    converted["properties"]["metadata"] = {"type": "object"}
    return jsonschema.Draft7Validator(converted)


_DIGIT = re.compile(r"^[0-9]")


def cel_rule_errors(workflow: dict[str, Any]) -> list[str]:
    """The CRD's CEL rules that jsonschema cannot evaluate, for the parts we generate."""
    errors = []
    kinds = ("container", "script", "dag", "steps", "resource", "suspend", "containerSet", "data", "http", "plugin")
    for t in workflow["spec"]["templates"]:
        if sum(k in t for k in kinds) > 1:
            errors.append(f"template {t['name']}: more than one template type")
        if ("dag" in t or "steps" in t) and t.get("activeDeadlineSeconds"):
            errors.append(f"template {t['name']}: activeDeadlineSeconds on a dag")
        for task in t.get("dag", {}).get("tasks", []):
            if ("depends" in task or "dependencies" in task) and _DIGIT.match(task["name"]):
                errors.append(f"task {task['name']}: begins with a digit")
            if "depends" in task and "dependencies" in task:
                errors.append(f"task {task['name']}: both depends and dependencies")
    return errors


def argo_schema_errors(workflow: dict[str, Any], versions: tuple[str, ...] = ARGO_VERSIONS) -> list[str]:
    """Every reason the schemas of each supported Argo version refuse `workflow`; empty when valid."""
    out = []
    for version in versions:
        out += [f"{version} json-schema {'/'.join(map(str, e.absolute_path))}: {e.message[:300]}"
                for e in argo_json_schema_validator(version).iter_errors(workflow)]
        out += [f"{version} crd {'/'.join(map(str, e.absolute_path))}: {e.message[:300]}"
                for e in argo_crd_validator(version).iter_errors(workflow)]
    out += cel_rule_errors(workflow)
    name = workflow["metadata"].get("name", "")
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name) or len(name) > 63:
        out.append(f"metadata.name {name!r} is not a DNS label")
    for key, value in {**workflow["metadata"].get("labels", {}),
                       **workflow["spec"].get("podMetadata", {}).get("labels", {})}.items():
        if len(value) > 63 or not re.fullmatch(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?", value):
            out.append(f"label {key}={value!r} is not a valid label value")
    return out


def example_dirs() -> list[Path]:
    """Every example case: a folder under examples/ holding a context.yaml."""
    return sorted(p.parent for p in EXAMPLES.glob("*/context.yaml"))


def pipeline_file(case: Path) -> Path:
    from translator.api.config_validation import PIPELINE_FILE_NAMES

    for name in PIPELINE_FILE_NAMES:
        if (case / name).is_file():
            return case / name
    raise FileNotFoundError(f"{case}: no pipeline file")


def load_context(case: Path) -> tuple[Any, Any]:
    """(ExecutionContext, PipelineSettingSpec) from an example's context.yaml."""
    from translator.api.setting_types import parse_setting
    from translator.compiler.context import ExecutionContext

    raw = yaml.safe_load((case / "context.yaml").read_text()) or {}
    setting = parse_setting(raw.pop("setting", None))
    keys = {"repositoryUrl": "repository_url", "cacheNodes": "cache_nodes"}
    fields = {keys.get(k, k): v for k, v in raw.items()}
    if "cache_nodes" in fields:
        fields["cache_nodes"] = tuple(fields["cache_nodes"])
    return ExecutionContext(**fields), setting


def update_golden() -> bool:
    """UPDATE_GOLDEN=1 rewrites expected files, never under CI."""
    import os

    return os.environ.get("UPDATE_GOLDEN") == "1" and not os.environ.get("CI")


def check_golden(path: Path, actual: str) -> None:
    if update_golden():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual)
        return
    assert path.exists(), f"{path} is missing: run the tests once with UPDATE_GOLDEN=1"
    expected = path.read_text()
    assert actual == expected, f"{path} differs from the compiler's output (UPDATE_GOLDEN=1 rewrites it)"
