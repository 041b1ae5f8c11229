"""The status a user sees is the same under Argo and Jenkins, for every example and a set of
step outcomes: all succeed, one fails (siblings still running), a stop mid-run, and the
examples' own skipped steps. Engine outputs are written as each engine reports them (an Argo
node tree; Jenkins' wfapi/describe) and mapped by each engine's table, then by the shared rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.helpers import example_dirs, load_context, pipeline_file
from translator.api.resources_types import PipelineExecutionStatus
from translator.api.states import State
from translator.compiler.compile import compile_text
from translator.compiler.plan import Plan
from translator.status import argo as argo_status
from translator.status import jenkins as jenkins_status
from translator.status.execution import StageLayout, StepLayout, derive

CASES = [c for c in example_dirs() if not c.name.startswith("invalid-") and c.name != "branch-excluded"]
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z in ms


def _plan(case: Path) -> Plan:
    ctx, setting = load_context(case)
    result = compile_text(pipeline_file(case).read_text(encoding="utf-8"), ctx, setting)
    assert result.plan is not None
    return result.plan


def _outcomes(plan: Plan, scenario: str) -> dict[str, str]:
    """step id -> done | failed | running | not-started | skipped, by scenario."""
    out: dict[str, str] = {}
    runnable = [s for s in plan.steps if not s.skipped]
    target = runnable[1] if len(runnable) > 1 else runnable[0]
    halted = False
    for stage in plan.stages:
        for step in stage.steps:
            if step.skipped:
                out[step.id] = "skipped" if not halted else "not-started"
            elif halted:
                out[step.id] = "not-started"
            elif scenario == "fail" and step.stage_index == target.stage_index:
                out[step.id] = "failed" if step is target else "running"
            elif scenario == "stop" and step.stage_index == target.stage_index:
                out[step.id] = "running"
            else:
                out[step.id] = "done"
        if scenario in ("fail", "stop") and stage.index == target.stage_index:
            halted = True
    return out


def _argo(plan: Plan, outcomes: dict[str, str], scenario: str) -> dict[str, Any]:
    wf = plan.execution
    phase_of = {"done": "Succeeded", "failed": "Failed", "running": "Running", "skipped": "Skipped"}
    nodes: dict[str, Any] = {wf: {"id": wf, "name": wf, "displayName": wf, "type": "DAG", "phase": "Running"}}
    for i, (task, outcome) in enumerate(outcomes.items()):
        if outcome == "not-started":
            continue
        phase = phase_of[outcome]
        message = ""
        if scenario == "stop" and outcome == "running":
            phase, message = "Failed", "Stopped with strategy 'Terminate'"
        node = {"id": f"{wf}-{i}", "name": f"{wf}.{task}", "displayName": task, "templateName": task,
                "type": "Skipped" if outcome == "skipped" else "Pod", "phase": phase, "boundaryID": wf,
                "startedAt": "2026-01-01T00:00:00Z", "message": message}
        if phase != "Running":
            node["finishedAt"] = "2026-01-01T00:00:05Z"
        nodes[node["id"]] = node
    wf_phase = {"all": "Succeeded", "fail": "Running", "stop": "Failed"}[scenario]
    return {"metadata": {"name": wf}, "spec": {"shutdown": "Terminate"} if scenario == "stop" else {},
            "status": {"phase": wf_phase, "startedAt": "2026-01-01T00:00:00Z", "nodes": nodes}}


def _jenkins(plan: Plan, outcomes: dict[str, str], scenario: str) -> dict[str, Any]:
    status_of = {"done": "SUCCESS", "failed": "FAILED", "running": "IN_PROGRESS", "skipped": "NOT_EXECUTED"}
    stages = []
    for task, outcome in outcomes.items():
        if outcome == "not-started":
            continue
        status = status_of[outcome]
        if scenario == "stop" and outcome == "running":
            status = "ABORTED"
        stages.append({"name": task, "status": status, "startTimeMillis": T0,
                       "durationMillis": 0 if outcome == "skipped" else 5000,
                       **({"error": {"message": "script returned exit code 1"}} if outcome == "failed" else {})})
    build = {"all": "SUCCESS", "fail": "IN_PROGRESS", "stop": "ABORTED"}[scenario]
    return {"name": "#1", "status": build, "startTimeMillis": T0, "endTimeMillis": T0 + 9000, "stages": stages}


def _layout(plan: Plan) -> list[StageLayout]:
    return [StageLayout(s.name, tuple(StepLayout(x.id, x.skipped, x.skip_reason) for x in s.steps))
            for s in plan.stages]


def _view(status: PipelineExecutionStatus) -> tuple[State, list[tuple[State, list[State]]]]:
    return status.execution_state, [(st.state, [s.state for s in st.steps]) for st in status.stages]


@pytest.mark.parametrize("scenario", ["all", "fail", "stop"])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_same_status_under_argo_and_jenkins(case: Path, scenario: str) -> None:
    plan = _plan(case)
    outcomes = _outcomes(plan, scenario)
    tasks = [s.id for s in plan.steps]
    stopped_by = "alice" if scenario == "stop" else ""
    via_argo = derive(_layout(plan), argo_status.observe(_argo(plan, outcomes, scenario), tasks),
                      PipelineExecutionStatus(), now="t", stopped_by=stopped_by)
    via_jenkins = derive(_layout(plan), jenkins_status.observe(_jenkins(plan, outcomes, scenario), tasks),
                         PipelineExecutionStatus(), now="t", stopped_by=stopped_by)
    assert _view(via_argo) == _view(via_jenkins)
    expected = {"all": State.SUCCESS, "fail": State.FAILED, "stop": State.ABORTED}[scenario]
    assert via_argo.execution_state is expected
    skipped = {s.id for s in plan.steps if s.skipped}
    for stage, plan_stage in zip(via_jenkins.stages, plan.stages, strict=True):
        for step, plan_step in zip(stage.steps, plan_stage.steps, strict=True):
            if plan_step.id in skipped and outcomes[plan_step.id] == "skipped":
                assert step.state is State.SKIPPED


def test_a_success_reported_at_once_is_not_final_while_the_build_runs() -> None:
    describe = {"status": "IN_PROGRESS", "stages": [{"name": "a", "status": "SUCCESS", "startTimeMillis": T0,
                                                     "durationMillis": 3}]}
    assert jenkins_status.observe(describe, ["a"]).steps["a"].state is State.BUILDING
    describe["status"] = "SUCCESS"
    assert jenkins_status.observe(describe, ["a"]).steps["a"].state is State.SUCCESS


def test_jenkins_times_convert_exactly() -> None:
    from datetime import UTC, datetime

    from translator.status.jenkins import _stamp

    for millis in (0, 1, T0, 951_782_400_000, 4_107_542_399_999, 1_709_164_800_123):  # leap days, far ends
        want = datetime.fromtimestamp(millis // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if millis else ""
        assert _stamp(millis) == want
