"""Long names and inline pipeline files through the controller and an API double that refuses
what a real API server refuses (label syntax, CRD schema), end to end."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import yaml
from click.testing import CliRunner

from tests.compiler.views import containers
from tests.controller.harness import System
from tests.helpers import EXAMPLES
from translator.cli import main
from translator.compiler.names import label_value
from translator.controller import runs, triggers
from translator.controller.triggers import GitEvent


def test_the_long_names_example_runs_end_to_end(system: System) -> None:
    """Its pipeline and branch names are longer than a label value may be (63): runs made by
    `translator run`, the run annotation, a webhook and a schedule are all accepted (their
    pipeline label is `label_value(name)`) and go through to Success."""
    case = EXAMPLES / "long-names"
    context = yaml.safe_load((case / "context.yaml").read_text())
    name, branch = context["pipeline"], context["branch"]
    assert len(name) > 63 and len(branch) > 63  # the example exists for this
    pipeline = system.apply_pipeline(name, yaml.safe_load((case / ".rancher-pipeline.yml").read_text()),
                                     defaultBranch=branch)
    result = CliRunner().invoke(main, ["run", name, "--kubeconfig", system.double.kubeconfig, "-n", "team"])
    assert result.exit_code == 0, result.output
    made = [result.output.split()[0].removeprefix("pipelineexecution/"),
            runs.create_run(system.kube, "team", name)["metadata"]["name"],  # the run annotation's path
            system.kube.create("pipelineexecutions", "team", triggers.execution_for_schedule(
                "team", pipeline, datetime(2026, 1, 1, tzinfo=UTC)))["metadata"]["name"],
            system.kube.create("pipelineexecutions", "team", triggers.execution_for_event("team", pipeline, GitEvent(
                event="push", repository_urls=(pipeline["spec"]["repositoryUrl"],), branch=branch,
                ref=f"refs/heads/{branch}", commit="c0ffee", delivery="d-1")))["metadata"]["name"]]
    for execution in made:
        ex = system.wait_state(execution, "Success", timeout=90)  # runs in turn, a loaded 2-core CI machine
        assert ex["metadata"]["labels"]["devops.cubepaas.io/pipeline"] == label_value(name)
        assert ex["spec"]["pipelineName"] == name and ex["spec"]["branch"] == branch
    assert sorted(system.execution(e)["spec"]["run"] for e in made) == [1, 2, 3, 4]


def _inline(env: dict[str, Any]) -> dict[str, Any]:
    return {"stages": [{"name": "Build", "steps": [{
        "runScriptConfig": {"image": "alpine", "shellScript": "env"}, "env": env,
        "notAKey": "misplaced: Rancher ignored it, the validator warns"}]}]}


def test_an_inline_config_is_stored_whole_and_judged_by_our_validator(system: System) -> None:
    """`env` values Rancher accepted (numbers, booleans) are not refused by the CRD, and nothing
    is pruned from the user's file; the validator normalises the run's snapshot."""
    stored = system.apply_pipeline("db", _inline({"PGCONNECT_TIMEOUT": 10, "VERBOSE": True}))
    assert stored["spec"]["config"] == _inline({"PGCONNECT_TIMEOUT": 10, "VERBOSE": True})
    runs.create_run(system.kube, "team", "db")
    ex = system.wait_state("db-1", "Success")
    step = ex["spec"]["pipelineConfig"]["stages"][0]["steps"][0]
    assert step["env"] == {"PGCONNECT_TIMEOUT": "10", "VERBOSE": "true"} and "notAKey" not in step
    envs = [c.get("env", []) for c in containers(system.workflows()[0]).values()]  # either form
    assert any({"name": "PGCONNECT_TIMEOUT", "value": "10"} in env for env in envs)


def test_an_invalid_inline_config_is_refused_by_our_validator_with_its_path(system: System) -> None:
    system.apply_pipeline("bad", {"stages": [{"name": "B", "steps": [{"runScriptConfig": {"shellScript": "x"}}]}]})
    created = CliRunner().invoke(main, ["run", "bad", "--kubeconfig", system.double.kubeconfig, "-n", "team"])
    assert created.exit_code == 1
    assert "Pipeline.spec.config" in created.output
    assert "stages[0].steps[0].runScriptConfig.image: required" in created.output
