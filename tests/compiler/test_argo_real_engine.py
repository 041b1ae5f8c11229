"""What a real Argo (3.6 to 4.1) needs from the compiled Workflow (issue 10, findings 2, 4, 5, 8, 9).

Each compiled Workflow is also given to the simulator's refusal rules (tests/argo_sim_rules.py,
which follow Argo's controller), so a test here fails when Argo would refuse the output.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.argo_sim_rules import refusal
from tests.compiler.views import containers, volumes
from tests.helpers import ARGO_VERSIONS, argo_schema_errors
from translator.api.config_validation import validate_text
from translator.api.setting_types import PipelineSettingSpec
from translator.compiler.argo import bounded_name
from translator.compiler.compile import compile_text
from translator.compiler.context import ExecutionContext

ONE_STEP = "stages:\n- name: Build\n  steps:\n  - runScriptConfig: {image: alpine, shellScript: make}\n"


def _compile(text: str = ONE_STEP, setting: dict[str, Any] | None = None, **ctx: Any) -> tuple[dict[str, Any], ...]:
    result = compile_text(text, ExecutionContext(**ctx), PipelineSettingSpec.model_validate(setting or {}))
    assert result.ok, [str(f) for f in result.findings]
    workflow, config_map = result.objects
    return workflow, config_map


def _templates(wf: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in wf["spec"]["templates"]}


# ---------------------------------------------------------------- 2: archiveLogs only with a store


def test_archive_logs_is_not_written_without_a_log_store() -> None:
    wf, _ = _compile()
    assert "archiveLogs" not in wf["spec"]
    assert not any("archiveLocation" in t for t in wf["spec"]["templates"])


def test_archive_logs_is_written_with_the_settings_log_store_or_a_named_repository() -> None:
    wf, _ = _compile(setting={"logs": {"endpoint": "minio.ci:9000", "bucket": "logs"}})
    assert wf["spec"]["archiveLogs"] is True
    location = _templates(wf)["pipeline"]["archiveLocation"]  # one pod: `<key>/<container>.log` per step
    assert location["archiveLogs"] is True and location["s3"]["key"] == "default/pipeline/1"
    wf, _ = _compile(setting={"logs": {"endpoint": "minio.ci:9000", "bucket": "logs"}, "argo": {"runForm": "pinned"}})
    location = _templates(wf)["build"]["archiveLocation"]
    assert location["archiveLogs"] is True and location["s3"]["key"] == "default/pipeline/1/1/0"
    wf, _ = _compile(setting={"argo": {"artifactRepositoryRef": {"configMap": "repos", "key": "logs"}}})
    assert wf["spec"]["archiveLogs"] is True and wf["spec"]["artifactRepositoryRef"]["configMap"] == "repos"
    wf, _ = _compile(setting={"logs": {"endpoint": "minio.ci:9000"}, "argo": {"archiveLogs": False}})
    assert "archiveLogs" not in wf["spec"] and "archiveLocation" not in _templates(wf)["pipeline"]


# ---------------------------------------------------------------- 4: Workflow names Argo accepts


@pytest.mark.parametrize("execution", [
    "a" * 64, "p" * 46 + "-cron-202501011200", "web-" + "x" * 240 + "-1", "dots.in.the.name-3", "w" * 59 + "-cold",
])
def test_a_long_execution_name_gives_a_workflow_name_argo_accepts(execution: str) -> None:
    wf, cm = _compile(execution=execution)
    name = wf["metadata"]["name"]
    assert len(name) <= 63 and len(cm["metadata"]["name"]) <= 63
    assert refusal(wf, "v4.1") == ""
    assert wf["metadata"]["annotations"]["devops.cubepaas.io/execution"] == execution
    assert cm["metadata"]["annotations"]["devops.cubepaas.io/execution"] == execution
    assert len(wf["metadata"]["labels"]["devops.cubepaas.io/execution"]) <= 63
    assert _compile(execution=execution)[0]["metadata"]["name"] == name, "not deterministic"


def test_names_that_fit_are_kept_and_long_ones_never_collide() -> None:
    assert bounded_name("web-12") == "web-12"
    assert bounded_name("x" * 63) == "x" * 63
    a, b = bounded_name("p" * 60 + "-cron-1"), bounded_name("p" * 60 + "-cron-2")
    assert a != b and a.startswith("p" * 54) and len(a) == len(b) == 63
    assert bounded_name("a.b") != bounded_name("a-b") == "a-b"


def test_a_cold_resubmit_of_a_long_name_is_its_own_workflow() -> None:
    long = "w" * 60 + "-1"
    first, _ = _compile(execution=long)
    cold, _ = _compile(execution=long, run_suffix="-cold")
    assert first["metadata"]["name"] != cold["metadata"]["name"]
    assert len(cold["metadata"]["name"]) <= 63 and refusal(cold, "v3.6") == ""


# ---------------------------------------------------------------- 5: cache paths and our own mounts


def test_cache_paths_are_normalised_before_they_are_de_duplicated() -> None:
    text = ("stages:\n- name: s\n  cache: {paths: [node_modules, ./node_modules, node_modules/, /root/.m2,"
            " /root/.m2/, //root//.m2]}\n  steps:\n  - runScriptConfig: {image: a, shellScript: b}\n")
    wf, _ = _compile(text)
    mounts = [m["mountPath"] for m in containers(wf)["s"]["volumeMounts"]]
    assert sorted(m for m in mounts if not m.startswith(("/workspace", "/translator"))) == ["/root/.m2"]
    assert mounts.count("/workspace/source/node_modules") == 1 and len(mounts) == len(set(mounts))
    assert len([v for v in volumes(wf).values() if "hostPath" in v]) == 2
    assert refusal(wf, "v4.1") == ""
    findings = [str(f) for f in validate_text(text).findings]
    assert any(f.startswith("stages[0].cache.paths[1]: './node_modules' is the same directory as paths[0]")
               for f in findings), findings


@pytest.mark.parametrize(("path", "says"), [
    (".", "is the checkout (/workspace/source)"),
    ("./", "is the checkout (/workspace/source)"),
    ("/workspace/source/", "is the checkout (/workspace/source)"),
    ("/workspace", "is the run's workspace volume (/workspace)"),
    ("/", "would hide the run's workspace volume (/workspace)"),
    ("/translator", "is translator's scripts and credentials (/translator)"),
    ("/translator/scripts", "is inside /translator"),
    ("/workspace/.translator", "is the step's generated files"),
])
def test_a_cache_on_a_mount_of_ours_is_refused_naming_the_path_and_line(path: str, says: str) -> None:
    text = f"stages:\n- name: s\n  steps:\n  - runScriptConfig: {{image: a, shellScript: b}}\n    cache:\n" \
           f"      paths:\n      - /ok\n      - '{path}'\n"
    result = validate_text(text)
    errors = [str(f) for f in result.errors]
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"stages[0].steps[0].cache.paths[1]: {path!r} (")
    assert says in errors[0] and errors[0].endswith("(line 8)")
    assert not compile_text(text, ExecutionContext()).ok


def test_caches_beside_our_mounts_are_fine() -> None:
    text = ("stages:\n- name: s\n  cache: {paths: [/workspace/cache, /translatorx, node_modules, /root/.cache]}\n"
            "  steps:\n  - runScriptConfig: {image: a, shellScript: b}\n")
    assert validate_text(text).ok
    wf, _ = _compile(text)
    assert refusal(wf, "v3.6") == "" and argo_schema_errors(wf) == []


# ---------------------------------------------------------------- 8: one mutex per cache directory


CACHED = """
stages:
- name: build
  steps:
  - runScriptConfig: {image: a, shellScript: b}
    cache: {paths: [/root/.m2, node_modules]}
  - runScriptConfig: {image: a, shellScript: c}
    cache: {paths: [/root/.gradle]}
  - runScriptConfig: {image: a, shellScript: d}
    cache: {paths: [/root/.m2]}
"""


def test_each_cache_directory_has_its_own_mutex_in_the_pipelines_namespace() -> None:
    pinned = {"argo": {"namespace": "argo", "runForm": "pinned"}}
    wf, _ = _compile(CACHED, namespace="team-a", pipeline="web", setting=pinned)
    t = _templates(wf)
    locks = {name: t[name]["synchronization"]["mutexes"] for name in ("build-1", "build-2", "build-3")}
    assert {m["namespace"] for ms in locks.values() for m in ms} == {"team-a"}
    names = {k: [m["name"] for m in v] for k, v in locks.items()}
    assert len(names["build-1"]) == 2 and names["build-3"] == [names["build-1"][0]]  # /root/.m2 is shared
    assert not set(names["build-2"]) & set(names["build-1"])  # different directories run in parallel
    other, _ = _compile(CACHED, namespace="team-b", pipeline="web", setting=pinned)
    assert {m["namespace"] for m in _templates(other)["build-1"]["synchronization"]["mutexes"]} == {"team-b"}
    assert argo_schema_errors(wf) == []  # `mutexes` with `namespace`: in every version's schema, v3.6 to v4.1
    pod, _ = _compile(CACHED, namespace="team-a", pipeline="web", setting={"argo": {"namespace": "argo"}})
    held = [m["name"] for m in _templates(pod)["pipeline"]["synchronization"]["mutexes"]]
    assert held == list(dict.fromkeys(n for ns in names.values() for n in ns))  # one pod holds every directory's


def test_the_supported_versions_schemas_really_differ() -> None:
    """The check runs four schemas: a field only v3.7+ has fails v3.6, one only v3.6 has fails v4.x."""
    wf, _ = _compile(CACHED, setting={"argo": {"runForm": "pinned"}})
    t = _templates(wf)["build-1"]
    t["synchronization"]["mutexes"][0]["database"] = False  # Mutex.database: v3.7 and later
    errors = argo_schema_errors(wf)
    assert errors and all(e.startswith("v3.6 ") for e in errors), errors
    t["synchronization"] = {"mutex": {"name": "x"}}  # the singular form: v3.6 and v3.7 only
    assert {e.split()[0] for e in argo_schema_errors(wf)} == {"v4.0", "v4.1"}
    assert ARGO_VERSIONS == ("v3.6", "v3.7", "v4.0", "v4.1")


# ---------------------------------------------------------------- 9: the workspace claim goes when the run ends


def test_the_workspace_claim_is_deleted_however_the_run_ends() -> None:
    wf, _ = _compile(setting={"argo": {"runForm": "pvc"}})
    assert wf["spec"]["volumeClaimGC"] == {"strategy": "OnWorkflowCompletion"}
    assert [t["metadata"]["name"] for t in wf["spec"]["volumeClaimTemplates"]] == ["workspace"]
    assert wf["spec"]["volumeClaimTemplates"][0]["spec"]["accessModes"] == ["ReadWriteMany"]
    for form in ("pod", "pinned"):  # no claim at all: an emptyDir, or a hostPath on the run's node
        wf, _ = _compile(setting={"argo": {"runForm": form}})
        assert "volumeClaimTemplates" not in wf["spec"] and "volumeClaimGC" not in wf["spec"]


def test_compiled_workflows_pass_the_simulated_controllers_of_every_version() -> None:
    wf, _ = _compile(CACHED, execution="e" * 100, setting={"logs": {"endpoint": "m:9000"}})
    for version in ARGO_VERSIONS:
        assert refusal(wf, version) == "", version
    assert yaml.safe_dump(wf)


def test_the_compiler_refuses_a_reserved_cache_path_the_validator_did_not_see() -> None:
    """compile_config takes models built elsewhere too (the controller's snapshot): its own guard."""
    from translator.api.config_types import PipelineConfig
    from translator.compiler.compile import compile_config

    config = PipelineConfig.model_validate({"stages": [{"name": "s", "cache": {"paths": ["./"]}, "steps": [
        {"runScriptConfig": {"image": "a", "shellScript": "b"}}]}]})
    result = compile_config(config, ExecutionContext(), PipelineSettingSpec())
    assert not result.ok
    assert str(result.findings[0]) == ("(run): step s: cache path /workspace/source is the checkout "
                                       "(/workspace/source), which translator mounts itself")
