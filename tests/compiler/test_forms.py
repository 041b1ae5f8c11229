"""Which form a run takes (translator/compiler/forms.py) and what each form's Workflow holds."""

from __future__ import annotations

from typing import Any

import pytest

from tests.argo_sim_rules import refusal
from tests.compiler.views import containers, dependencies, is_one_pod, volumes
from tests.helpers import ARGO_VERSIONS, argo_schema_errors
from translator.api.setting_types import PipelineSettingSpec
from translator.compiler.compile import compile_text
from translator.compiler.context import ExecutionContext
from translator.compiler.forms import RunForm, run_form, step_log_key


def _text(steps: int, *, cpu: str = "") -> str:
    extra = f", cpuRequest: {cpu}" if cpu else ""
    lines = "\n".join(f"  - {{runScriptConfig: {{image: a, shellScript: s{i}}}{extra}}}" for i in range(steps))
    ship = "- name: Ship\n  steps:\n  - runScriptConfig: {image: a, shellScript: x}\n"
    return f"stages:\n- name: Build\n  steps:\n{lines}\n{ship}"


def _compile(text: str, argo: dict[str, Any] | None = None, **ctx: Any):  # type: ignore[no-untyped-def]
    setting = PipelineSettingSpec.model_validate({"argo": argo or {}, "logs": {"endpoint": "minio:9000"}})
    result = compile_text(text, ExecutionContext(**ctx), setting)
    assert result.ok, [str(f) for f in result.findings]
    return result


def test_a_run_is_one_pod_until_it_has_more_steps_than_the_threshold() -> None:
    assert run_form(_compile(_text(22)).plan) is RunForm.POD  # 22 + clone + ship = 24
    assert run_form(_compile(_text(23)).plan) is RunForm.PINNED
    assert run_form(_compile(_text(23), {"maxStepsPerPod": 30}).plan) is RunForm.POD


def test_a_run_whose_peak_exceeds_a_node_runs_pinned() -> None:
    text = _text(3, cpu="2")  # the Build stage needs 6 CPUs at once
    assert run_form(_compile(text, {"nodeCpu": "8"}).plan) is RunForm.POD
    assert run_form(_compile(text, {"nodeCpu": "4"}).plan) is RunForm.PINNED
    assert run_form(_compile(text, {"nodeMemory": "256Mi"}).plan) is RunForm.PINNED  # 3 x 128Mi


def test_a_node_size_that_is_not_a_quantity_is_refused_naming_the_field() -> None:
    setting = PipelineSettingSpec.model_validate({"argo": {"nodeCpu": "lots"}})
    result = compile_text(_text(1), ExecutionContext(), setting)
    assert not result.ok and "argo.nodeCpu" in str(result.findings[-1])


@pytest.mark.parametrize("form", ["pod", "pinned", "pvc"])
def test_the_setting_chooses_the_form_and_every_form_passes_every_argo(form: str) -> None:
    wf = _compile(_text(2), {"runForm": form}).objects[0]
    assert is_one_pod(wf) is (form == "pod")
    assert argo_schema_errors(wf) == []
    assert [refusal(wf, v) for v in ARGO_VERSIONS] == [""] * len(ARGO_VERSIONS)


def test_a_pinned_run_follows_its_first_pod_and_keeps_its_workspace_on_that_node() -> None:
    wf = _compile(_text(2), {"runForm": "pinned"}, namespace="team", pipeline="web", run=4).objects[0]
    templates = {t["name"]: t for t in wf["spec"]["templates"]}
    anchor = templates["clone"]
    assert anchor["outputs"]["parameters"][0]["valueFrom"] == {"path": "/tmp/translator-node"}
    assert {"name": "TRANSLATOR_NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}} in \
        anchor["container"]["env"]
    assert anchor["container"]["command"][:2] == ["sh", "-c"] and anchor["container"]["command"][-3:] == [
        "sh", "-xe", "/translator/scripts/clone.sh"]  # then the step's own launch, unchanged
    for name in ("build-1", "build-2", "ship"):
        term = templates[name]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert term["nodeSelectorTerms"][0]["matchFields"] == [
            {"key": "metadata.name", "operator": "In", "values": ["{{inputs.parameters.node}}"]}]
    tasks = {t["name"]: t for t in templates["pipeline"]["dag"]["tasks"]}
    assert tasks["ship"]["arguments"]["parameters"] == [
        {"name": "node", "value": "{{tasks.clone.outputs.parameters.node}}"}]
    workspace = next(v for v in wf["spec"]["volumes"] if v["name"] == "workspace")
    assert workspace == {"name": "workspace", "hostPath": {
        "path": "/var/lib/translator/cache/.workspaces/team/web-4", "type": "DirectoryOrCreate"}}
    assert "volumeClaimTemplates" not in wf["spec"]


def test_the_first_stage_mates_of_the_anchor_wait_for_it_so_they_can_be_pinned() -> None:
    text = ("stages:\n- name: Clone\n  steps:\n  - sourceCodeConfig: {}\n"
            "  - runScriptConfig: {image: a, shellScript: b}\n")
    deps = dependencies(_compile(text, {"runForm": "pinned"}).objects[0])
    assert deps == {"clone-1": [], "clone-2": ["clone-1"]}


def test_the_one_pod_holds_every_step_and_its_log_keys_name_them() -> None:
    result = _compile(_text(2), namespace="team", pipeline="web", run=4)
    wf = result.objects[0]
    assert list(containers(wf)) == ["clone", "build-1", "build-2", "ship"]
    assert volumes(wf)["workspace"] == {"name": "workspace", "emptyDir": {}}
    assert "volumes" not in wf["spec"]  # the pod's volumes are the containerSet template's own
    assert wf["spec"]["templates"][0]["archiveLocation"]["s3"]["key"] == "team/web/4"
    keys = [step_log_key(result.plan, s) for s in result.plan.steps]
    assert keys == ["team/web/4/clone.log", "team/web/4/build-1.log", "team/web/4/build-2.log", "team/web/4/ship.log"]
    pinned = _compile(_text(2), {"runForm": "pinned"}, namespace="team", pipeline="web", run=4)
    assert step_log_key(pinned.plan, pinned.plan.steps[1]) == "team/web/4/1/0/main.log"


def test_a_stage_named_like_argos_own_containers_gets_another_id() -> None:
    text = "stages:\n" + "".join(f"- name: {n}\n  steps:\n  - runScriptConfig: {{image: a, shellScript: b}}\n"
                                 for n in ("Wait", "Init", "Main", "Pipeline", "Seed cache"))
    names = list(containers(_compile(text).objects[0]))
    assert not {"wait", "init", "main", "pipeline", "seed-cache"} & set(names) and len(set(names)) == 6
