"""crds/ is generated from the models: regenerate and compare (fails on drift)."""

from __future__ import annotations

import yaml
from click.testing import CliRunner

from tests.helpers import ROOT, update_golden
from translator.api.crds import render_all
from translator.cli import main


def test_crds_match_the_models() -> None:
    rendered = render_all()
    on_disk = {p.name: p.read_text() for p in (ROOT / "crds").glob("*.yaml")}
    if update_golden():
        for name, text in rendered.items():
            (ROOT / "crds" / name).write_text(text)
        return
    assert set(on_disk) == set(rendered), "crds/ holds other files than the models generate"
    for name, text in rendered.items():
        assert on_disk[name] == text, f"crds/{name} drifted from the models (UPDATE_GOLDEN=1 regenerates)"


def _walk(schema: dict, path: str = "") -> list[str]:  # type: ignore[type-arg]
    """Structural-schema violations: a node without a type, $ref, or anyOf with types."""
    problems = []
    if "$ref" in schema:
        problems.append(f"{path}: $ref")
    if "type" not in schema and not schema.get("x-kubernetes-preserve-unknown-fields") \
            and not schema.get("x-kubernetes-int-or-string"):
        problems.append(f"{path}: no type")
    if schema.get("type") == "object" and "properties" in schema and "additionalProperties" in schema:
        problems.append(f"{path}: properties with additionalProperties")
    for name, sub in schema.get("properties", {}).items():
        problems += _walk(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        problems += _walk(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        problems += _walk(schema["additionalProperties"], f"{path}{{}}")
    return problems


def test_crds_are_structural_and_complete() -> None:
    kinds = {}
    for text in render_all().values():
        crd = yaml.safe_load(text)
        version = crd["spec"]["versions"][0]
        schema = version["schema"]["openAPIV3Schema"]
        assert _walk(schema) == [], crd["metadata"]["name"]
        assert crd["spec"]["group"] == "devops.cubepaas.io" and version["name"] == "v1alpha1"
        assert crd["spec"]["scope"] == ("Cluster" if crd["spec"]["names"]["kind"] == "CacheInventory" else "Namespaced")
        assert "devops" in crd["spec"]["names"]["categories"] and crd["spec"]["names"]["shortNames"]
        kinds[crd["spec"]["names"]["kind"]] = version
    assert set(kinds) == {"PipelineSetting", "Pipeline", "PipelineExecution", "SourceCodeProviderConfig",
                          "SourceCodeCredential", "SourceCodeRepository", "CacheInventory"}
    pe = kinds["PipelineExecution"]
    assert pe["subresources"] == {"status": {}}
    assert [c["name"] for c in pe["additionalPrinterColumns"]] == [
        "State", "Pipeline", "Run", "Branch", "Started", "Duration"]
    status = pe["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]
    assert status["executionState"]["enum"] == ["Waiting", "Queueing", "Building", "Success", "Failed",
                                                "Skipped", "Aborted"]
    assert "description" in status["stages"]  # kubectl explain has something to say
    # no secret material is a field of any resource: only references to Secrets
    for version in kinds.values():
        text = yaml.safe_dump(version["schema"])
        for word in ("password:", "token:", "clientSecret:"):
            assert word not in text


def test_translator_crds_prints_the_same() -> None:
    out = CliRunner().invoke(main, ["crds"])
    assert out.exit_code == 0
    docs = [d for d in yaml.safe_load_all(out.output) if d]
    assert len(docs) == 7 and all(d["kind"] == "CustomResourceDefinition" for d in docs)
