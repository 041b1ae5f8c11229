"""Every real pipeline file in ../shared/corpus/rancher-pipelines compiles to a Workflow that
every supported Argo version (3.6 to 4.1) accepts, or is refused with a clear message naming
the problem; none raises.

Reads ../shared in place; skips (saying so) where it is absent.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests.argo_pod import workflow_pod_spec
from tests.argo_sim_rules import refusal
from tests.compiler.views import is_one_pod
from tests.helpers import ARGO_VERSIONS, SHARED, argo_schema_errors, shared_path
from tests.kube_double.strategy import pod_volume_errors
from translator.api.setting_types import ArgoSetting
from translator.compiler.compile import compile_text
from translator.compiler.context import ExecutionContext
from translator.compiler.forms import RunForm, run_form, running_stages
from translator.compiler.plan import Plan

CORPUS = SHARED / "corpus" / "rancher-pipelines" / "files"
FILES = sorted(CORPUS.glob("*")) if CORPUS.exists() else [CORPUS]  # absent: one case that skips, saying why


MAX_STEPS = ArgoSetting().max_steps_per_pod


def _steps(plan: Plan) -> int:
    return sum(len(stage) for stage in running_stages(plan))


def _read(path: Path) -> str:
    return path.read_bytes().decode("utf-8", errors="replace")


def test_corpus_is_there() -> None:
    files = sorted(shared_path("corpus", "rancher-pipelines", "files").glob("*"))
    assert len(files) == 216


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_corpus_file_compiles_or_is_refused_cleanly(path: Path) -> None:
    if path == CORPUS:
        shared_path("corpus", "rancher-pipelines", "files")
    ctx = ExecutionContext(pipeline="corpus", repository_url="https://example.com/r.git",
                           commit="0" * 40, cache_nodes=("node-a", "node-b"))
    result = compile_text(_read(path), ctx)
    if result.ok:
        wf = result.objects[0]
        assert argo_schema_errors(wf) == []  # v3.6, v3.7, v4.0 and v4.1
        assert [refusal(wf, v) for v in ARGO_VERSIONS] == [""] * len(ARGO_VERSIONS)
        # one pod per run, or (past the step threshold) pod-per-step pinned to one node
        assert result.plan is not None
        assert run_form(result.plan) is (RunForm.PINNED if _steps(result.plan) > MAX_STEPS else RunForm.POD)
        assert is_one_pod(wf) is (run_form(result.plan) is RunForm.POD)
        assert "volumeClaimTemplates" not in wf["spec"]
        for template in wf["spec"]["templates"]:  # each pod Argo makes of it has every volume it mounts
            if "container" in template or "containerSet" in template:
                pod, error = workflow_pod_spec(wf, template["name"], "default", {})
                assert error == "" and [str(e) for e in pod_volume_errors(pod)] == [], template["name"]
        return
    assert result.findings, "refused without a reason"
    for finding in result.findings:
        assert finding.path and finding.message
    errors = [f for f in result.findings if f.severity.value == "error"]
    assert errors and all(len(str(e)) < 600 for e in errors)


def test_unknown_keys_in_the_manifest_are_warned_about_by_path() -> None:
    """The manifest lists the unknown keys people wrote; each is reported, never dropped silently."""
    manifest = shared_path("corpus", "rancher-pipelines", "manifest.tsv")
    rows = list(csv.DictReader(manifest.open(), delimiter="\t"))
    checked = 0
    for row in rows:
        unknown = [f.split(":", 1)[1] for f in row["features"].split(",") if f.startswith("unknown:")]
        if not unknown or row["parses"] != "yes":
            continue
        result = compile_text(_read(CORPUS / row["file"]), ExecutionContext())
        reported = " ".join(str(f) for f in result.findings)
        for key in unknown:
            leaf = key.rsplit(".", 1)[-1]
            named = f"unknown key `{leaf}`" in reported or ("not a pipeline" in reported and leaf in reported)
            assert named, (row["file"], key)
            checked += 1
    assert checked >= 20


def test_most_of_the_corpus_compiles() -> None:
    """Files Rancher ran must compile: the refusals are the broken files, and few."""
    shared_path("corpus", "rancher-pipelines", "files")
    refused = [p.name for p in FILES if p != CORPUS and not compile_text(_read(p), ExecutionContext()).ok]
    assert len(refused) <= 21, refused  # 21: two name a URL (https://hub.docker.com/...) as the registry
