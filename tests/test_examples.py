"""Golden tests: every examples/<case>/ is discovered, compiled and compared.

A case holds its pipeline file, `context.yaml` (the run and, optionally, a setting), and
`expected/`: `findings.txt` always (errors and warnings, one a line), `argo.yaml` when the
file compiles. UPDATE_GOLDEN=1 rewrites them (never under CI).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.argo_sim_rules import refusal
from tests.helpers import ARGO_VERSIONS, argo_schema_errors, check_golden, example_dirs, load_context, pipeline_file
from translator.compiler.compile import compile_text

CASES = example_dirs()


def _compile(case: Path):  # type: ignore[no-untyped-def]
    ctx, setting = load_context(case)
    return compile_text(pipeline_file(case).read_text(encoding="utf-8"), ctx, setting)


def test_there_are_enough_examples() -> None:
    assert len(CASES) >= 10
    invalid = [c for c in CASES if c.name.startswith("invalid-")]
    assert invalid, "invalid inputs need golden files too"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_example(case: Path) -> None:
    result = _compile(case)
    findings = "".join(f"{f.severity.value}: {f}\n" for f in result.findings)
    check_golden(case / "expected" / "findings.txt", findings)
    if case.name.startswith("invalid-") or case.name == "branch-excluded":
        assert not result.ok
        assert not (case / "expected" / "argo.yaml").exists()
        return
    assert result.ok, findings
    text = yaml.safe_dump_all(result.objects, sort_keys=False, width=1000)
    check_golden(case / "expected" / "argo.yaml", text)
    again = yaml.safe_dump_all(_compile(case).objects, sort_keys=False, width=1000)
    assert again == text, "the compiler is not deterministic"


@pytest.mark.parametrize("case", [c for c in CASES if (c / "expected" / "argo.yaml").exists()],
                         ids=lambda c: c.name)
def test_example_passes_argo_schemas(case: Path) -> None:
    workflow = next(yaml.safe_load_all((case / "expected" / "argo.yaml").read_text()))
    assert argo_schema_errors(workflow) == []  # v3.6, v3.7, v4.0 and v4.1, unknown keys forbidden
    assert [refusal(workflow, v) for v in ARGO_VERSIONS] == [""] * len(ARGO_VERSIONS)  # their controllers


@pytest.mark.parametrize("case", [c for c in CASES if (c / "expected" / "argo.yaml").exists()],
                         ids=lambda c: c.name)
def test_example_round_trips_through_heras_workflow_model(case: Path) -> None:
    """The compiler writes plain data (see translator/compiler/argo.py); hera's models must
    read every field of it and give back exactly the same object."""
    from hera.workflows.models import Workflow

    workflow = next(yaml.safe_load_all((case / "expected" / "argo.yaml").read_text()))
    again = Workflow.model_validate(workflow).model_dump(by_alias=True, exclude_none=True, mode="json")
    assert again == workflow
