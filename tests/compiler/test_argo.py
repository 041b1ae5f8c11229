"""The Argo back end: structure, safety of user text, cache, limits."""

from __future__ import annotations

from typing import Any

import pytest

from tests.compiler.views import containers, dependencies, volumes
from tests.helpers import argo_schema_errors
from translator.api.config_validation import validate_text
from translator.api.setting_types import PipelineSettingSpec
from translator.compiler.compile import compile_text
from translator.compiler.context import ExecutionContext


def _compile(text: str, **ctx: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    result = compile_text(text, ExecutionContext(**ctx))
    assert result.ok, [str(f) for f in result.findings]
    workflow, config_map = result.objects
    return workflow, config_map


def _templates(wf: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in wf["spec"]["templates"]}


def _tasks(wf: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in _templates(wf)["pipeline"]["dag"]["tasks"]}


TWO_STAGES = """
stages:
- name: Build
  steps:
  - runScriptConfig: {image: alpine, shellScript: echo a}
  - runScriptConfig: {image: alpine, shellScript: echo b}
- name: Ship
  when: {branch: master}
  steps:
  - runScriptConfig: {image: alpine, shellScript: echo c}
timeout: 15
"""


@pytest.mark.parametrize("form", ["pod", "pinned", "pvc"])
def test_stages_in_order_steps_in_parallel_clone_first(form: str) -> None:
    setting = PipelineSettingSpec.model_validate({"argo": {"runForm": form}})
    wf = compile_text(TWO_STAGES, ExecutionContext(), setting).objects[0]
    deps = dependencies(wf)
    assert list(deps) == ["clone", "build-1", "build-2", "ship"]
    assert deps["clone"] == []
    assert deps["build-1"] == ["clone"] == deps["build-2"]
    assert deps["ship"] == ["build-1", "build-2"]
    assert wf["spec"]["activeDeadlineSeconds"] == 15 * 60
    assert wf["metadata"]["name"] == "pipeline-1"


def test_the_names_users_wrote_are_kept_beside_the_task_names() -> None:
    import json

    wf, _ = _compile(TWO_STAGES.replace("name: Ship", "name: 'Ship it: {{now}} 🚀'"))
    names = json.loads(wf["metadata"]["annotations"]["devops.cubepaas.io/display-names"])
    assert names["ship-it-now"] == {"stage": "Ship it: {{now}} 🚀", "step": "Run script (alpine)"}
    assert names["clone"] == {"stage": "Clone", "step": "Clone"}


def test_a_step_that_does_not_match_is_a_skipped_task() -> None:
    setting = PipelineSettingSpec.model_validate({"argo": {"runForm": "pinned"}})
    wf = compile_text(TWO_STAGES, ExecutionContext(branch="develop"), setting).objects[0]
    assert _tasks(wf)["ship"]["when"] == "false"
    assert "when" not in _tasks(wf)["build-1"]


def test_a_step_that_does_not_match_is_left_out_of_the_one_pod() -> None:
    after = "- name: After\n  steps:\n  - runScriptConfig: {image: a, shellScript: b}\ntimeout: 15"
    wf, _ = _compile(TWO_STAGES.replace("timeout: 15", after), branch="develop")
    assert "ship" not in containers(wf)
    assert dependencies(wf)["after"] == ["build-1", "build-2"]  # the stage before that runs


def test_every_step_is_one_pod_running_its_script_from_the_config_map() -> None:
    wf, cm = _compile(TWO_STAGES)
    for name in ("build-1", "build-2", "ship"):
        container = containers(wf)[name]
        assert container["command"] == ["sh", "-xe", f"/translator/scripts/{name}.sh"]
    assert cm["data"]["build-1.sh"] == "echo a"
    assert cm["metadata"]["name"] == "pipeline-1-scripts"


HOSTILE = [
    "echo {{workflow.name}}",
    "echo '{{=sprig.env(\"HOME\")}}'",
    "cat <<'EOF'\n'''\"\"\"${x}\\n\\\\ $HOME `id`\nEOF\n",
    "  leading and trailing whitespace  \n\n",
    "tab\there\r\nwindows line",
]


@pytest.mark.parametrize("script", HOSTILE)
def test_scripts_survive_byte_for_byte_and_never_reach_argo_templating(script: str) -> None:
    import yaml

    text = yaml.safe_dump({"stages": [{"name": "s", "steps": [
        {"runScriptConfig": {"image": "alpine", "shellScript": script}, "env": {"V": script}}]}]})
    wf, cm = _compile(text)
    assert cm["data"]["s.sh"] == script
    wf_text = yaml.safe_dump(wf)
    assert "{{" not in wf_text, "user text reached a place Argo templates"
    env = {e["name"]: e for e in containers(wf)["s"]["env"]}
    if "{{" in script:
        ref = env["V"]["valueFrom"]["configMapKeyRef"]
        assert cm["data"][ref["key"]] == script
    else:
        assert env["V"]["value"] == script


def test_cicd_variables_are_set_and_substituted_where_rancher_did() -> None:
    text = """
stages:
- name: s
  steps:
  - publishImageConfig: {tag: "me/app:${CICD_EXECUTION_SEQUENCE}-${CICD_GIT_COMMIT}", pushRemote: true, registry: r.io}
    env: {TAG: "v${CICD_EXECUTION_SEQUENCE}", KEEP: "${NOT_A_CICD_VAR}"}
"""
    wf, _ = _compile(text, run=42, commit="abcdef1234567", event="tag", ref="refs/tags/v2",
                     repository_url="https://git.example.com/team/app.git")
    env = {e["name"]: e.get("value") for e in containers(wf)["s"]["env"]}
    assert env["PLUGIN_IMAGE"] == "r.io/me/app:42-abcdef1"
    assert env["TAG"] == "v42" and env["KEEP"] == "${NOT_A_CICD_VAR}"
    assert env["CICD_GIT_TAG"] == "v2" and env["CICD_GIT_REPO_NAME"] == "app"
    assert env["CICD_EXECUTION_SEQUENCE"] == "42" and env["CICD_EVENT"] == "tag"


def test_env_from_secrets_and_withheld_on_pull_requests() -> None:
    text = """
stages:
- name: s
  steps:
  - runScriptConfig: {image: alpine, shellScript: env}
    envFrom: [{sourceName: creds, sourceKey: token, targetKey: TOKEN}]
"""
    wf, _ = _compile(text)
    env = {e["name"]: e for e in containers(wf)["s"]["env"]}
    assert env["TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "creds", "key": "token"}
    result = compile_text(text, ExecutionContext(event="pull_request"))
    names = [e["name"] for e in containers(result.objects[0])["s"]["env"]]
    assert "TOKEN" not in names
    assert any("withheld" in str(f) for f in result.findings)


def test_cache_paths_become_host_paths_and_the_run_prefers_cache_nodes() -> None:
    text = """
stages:
- name: s
  cache: {paths: [/root/.m2, node_modules]}
  steps:
  - runScriptConfig: {image: alpine, shellScript: ls}
  - runScriptConfig: {image: alpine, shellScript: ls}
    cache: {enabled: false}
"""
    wf, _ = _compile(text, namespace="ns", pipeline="app", cache_nodes=("n2", "n1", "n3", "n4"))
    vols = {n: v for n, v in volumes(wf).items() if "hostPath" in v}
    assert len(vols) == 2
    for v in vols.values():
        assert v["hostPath"]["path"].startswith("/var/lib/translator/cache/ns/app/")
        assert v["hostPath"]["type"] == "DirectoryOrCreate"
    mounts = {m["mountPath"] for m in containers(wf)["s-1"]["volumeMounts"]}
    assert {"/root/.m2", "/workspace/source/node_modules"} <= mounts
    assert not any(m["name"].startswith("cache-") for m in containers(wf)["s-2"]["volumeMounts"])
    terms = wf["spec"]["affinity"]["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert [(t["preference"]["matchExpressions"][0]["values"][0], t["weight"]) for t in terms] == [
        ("n2", 100), ("n1", 66), ("n3", 33)]
    assert "requiredDuringSchedulingIgnoredDuringExecution" not in wf["spec"]["affinity"]["nodeAffinity"]


def test_no_cache_no_affinity_and_disabled_setting_ignores_cache() -> None:
    wf, _ = _compile(TWO_STAGES, cache_nodes=("n1",))
    assert "affinity" not in wf["spec"]
    text = "stages:\n- name: s\n  cache: {paths: [/c]}\n  steps:\n  - runScriptConfig: {image: a, shellScript: b}\n"
    setting = PipelineSettingSpec.model_validate({"cache": {"enabled": False}})
    result = compile_text(text, ExecutionContext(cache_nodes=("n1",)), setting)
    assert "affinity" not in result.objects[0]["spec"]
    assert not any("hostPath" in v for v in volumes(result.objects[0]).values())


def test_more_steps_than_argo_holds_is_refused_not_emitted() -> None:
    steps = "\n".join("  - runScriptConfig: {image: a, shellScript: b}" for _ in range(199))
    result = compile_text(f"stages:\n- name: s\n  steps:\n{steps}\n", ExecutionContext())
    assert not result.ok and "at most 199" in str(result.findings[-1])
    steps = "\n".join("  - runScriptConfig: {image: a, shellScript: b}" for _ in range(198))
    ok = compile_text(f"stages:\n- name: s\n  steps:\n{steps}\n", ExecutionContext())
    assert ok.ok and argo_schema_errors(ok.objects[0]) == []


def test_names_are_made_valid_and_stay_distinct() -> None:
    text = "\n".join(["stages:"] + [
        f"- name: {name!r}\n  steps:\n  - runScriptConfig: {{image: a, shellScript: b}}"
        for name in ["Build", "build", "BUILD!", "日本", "中文", "x" * 200, "9lives"]
    ])
    wf, _ = _compile(text, pipeline="p" * 70, branch="feature/" + "y" * 80, run=99999)
    names = list(dependencies(wf))
    assert len(names) == len(set(names)) == 8
    assert argo_schema_errors(wf) == []


def test_setting_flows_into_the_workflow() -> None:
    setting = PipelineSettingSpec.model_validate({
        "nodeSelector": {"ci": "yes"}, "imagePullSecrets": ["pull"],
        "tolerations": [{"key": "ci", "operator": "Exists", "effect": "NoSchedule"}],
        "argo": {"serviceAccount": "runner", "namespace": "argo",
                 "artifactRepositoryRef": {"configMap": "repos", "key": "logs"}},
        "defaultResources": {"cpuRequest": "250m"},
    })
    result = compile_text(TWO_STAGES, ExecutionContext(namespace="team"), setting)
    spec = result.objects[0]["spec"]
    assert result.objects[0]["metadata"]["namespace"] == "argo"
    assert spec["serviceAccountName"] == "runner" and spec["nodeSelector"] == {"ci": "yes"}
    assert spec["imagePullSecrets"] == [{"name": "pull"}]
    assert spec["tolerations"] == [{"key": "ci", "operator": "Exists", "effect": "NoSchedule"}]
    assert spec["artifactRepositoryRef"] == {"configMap": "repos", "key": "logs"} and spec["archiveLogs"]
    steps = containers(result.objects[0])
    assert steps["ship"]["resources"]["limits"]["cpu"] == "1"  # limits as written
    # one pod: requests scaled so the pod asks for the peak stage (two steps of 250m), not the sum
    assert [s["resources"]["requests"]["cpu"] for s in steps.values()] == ["125m"] * 4


def test_branch_outside_the_top_level_condition_creates_no_run() -> None:
    text = "branch: {include: [master]}\nstages: []\n"
    assert validate_text(text).ok
    result = compile_text(text, ExecutionContext(branch="dev"))
    assert not result.ok and "no run is created" in str(result.findings[-1])
