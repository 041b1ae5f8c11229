"""The Jenkins back end: golden Jenkinsfiles, Groovy 2.4 class generation, user text kept as data.

Groovy checks need Debian's `groovy` (2.4.21, the Groovy Jenkins runs), which .ci/run installs;
without it they skip saying so, except under CI where its absence is a failure.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from pathlib import Path
from xml.etree import ElementTree

import pytest
import yaml

from tests.compiler.views import volumes
from tests.helpers import SHARED, check_golden, example_dirs, load_context, pipeline_file
from tests.jenkins import script_model
from tests.jenkins.double import run_like_durable_task
from translator.compiler import scripts
from translator.compiler.compile import compile_text
from translator.compiler.context import ExecutionContext
from translator.compiler.jenkins import CHUNK, groovy_string, groovy_text

HERE = Path(__file__).parent
CASES = [c for c in example_dirs() if not c.name.startswith("invalid-") and c.name != "branch-excluded"]


def _groovy() -> list[str]:
    exe = shutil.which("groovy")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("groovy is not installed: .ci/run installs Debian's groovy package")
        pytest.skip("needs Debian's groovy 2.4 (apt-get install groovy); CI installs it")
    return [exe]


def _java_env() -> dict[str, str]:
    env = dict(os.environ)
    if "JAVA_HOME" not in env:
        for candidate in sorted(Path("/usr/lib/jvm").glob("java-17-openjdk-*")):
            env["JAVA_HOME"] = str(candidate)
    return env


def _jenkins(case: Path):  # type: ignore[no-untyped-def]
    ctx, setting = load_context(case)
    result = compile_text(pipeline_file(case).read_text(encoding="utf-8"), ctx, setting, engine="jenkins")
    assert result.ok and result.jenkins is not None
    return result.jenkins


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_golden_jenkinsfile_and_config_xml(case: Path) -> None:
    out = _jenkins(case)
    check_golden(case / "expected" / "Jenkinsfile", out.jenkinsfile)
    check_golden(case / "expected" / "config.xml", out.config_xml)
    root = ElementTree.fromstring(out.config_xml.encode())
    assert root.tag == "flow-definition"
    assert root.findtext("definition/script") == out.jenkinsfile  # the script, inline and intact
    assert root.findtext("definition/sandbox") == "true"


def _class_generation(files: list[Path]) -> subprocess.CompletedProcess[str]:
    """Groovy 2.4 (Jenkins' Groovy) compiles each file to bytecode, in one JVM: class generation is
    where "String too long" (a constant over 65,535 units) is refused, not parsing."""
    return subprocess.run([*_groovy(), str(HERE / "parse.groovy"), *map(str, files)], capture_output=True, text=True,
                          env=_java_env(), timeout=900, check=False)


def _steps(n: int, script: str = "echo step") -> str:
    return yaml.safe_dump({"stages": [{"name": f"Stage {i}", "steps": [
        {"runScriptConfig": {"image": "alpine:3.20", "shellScript": f"{script} {i}"},
         "env": {"PAYLOAD": "x" * 300}}]} for i in range(n)]})


def test_a_100_step_pipeline_compiles_to_class_generation(tmp_path: Path) -> None:
    """Finding 15: one pod YAML literal passes 65,535 units at ~60 steps; chunks joined at run time do not."""
    result = compile_text(_steps(100, "x" * 200), ExecutionContext(pipeline="big"), engine="jenkins")
    assert result.ok and result.jenkins is not None
    pod = script_model.model(result.jenkins.jenkinsfile).pod_yaml
    assert len(pod) > 65_535 and len(yaml.safe_load(pod)["spec"]["containers"]) == 102  # 100 + clone + jnlp
    path = tmp_path / "big.groovy"
    path.write_text(result.jenkins.jenkinsfile)
    proc = _class_generation([path])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]


def test_long_scripts_and_files_are_chunked_and_join_back_exactly(tmp_path: Path) -> None:
    text = ("\u00e9\U0001F680'\\\n" * 9000) + "end"
    expr = groovy_text(text)
    assert expr.startswith("(") and expr.count(" + ") == len(text) // CHUNK
    script = tmp_path / "join.groovy"
    script.write_text(f"def t = {expr}\nprintln(t.getBytes('UTF-8').encodeBase64().toString())\n")
    proc = subprocess.run([*_groovy(), str(script)], capture_output=True, text=True, env=_java_env(), timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert base64.b64decode(proc.stdout.strip()).decode("utf-8") == text


def test_every_generated_jenkinsfile_compiles_with_groovy_2_4(tmp_path: Path) -> None:
    files = []
    for case in CASES:
        path = tmp_path / f"{case.name}.groovy"
        path.write_text(_jenkins(case).jenkinsfile)
        files.append(path)
    corpus = SHARED / "corpus" / "rancher-pipelines" / "files"
    for source in sorted(corpus.glob("*")) if corpus.exists() else []:
        result = compile_text(source.read_bytes().decode("utf-8", "replace"), ExecutionContext(), engine="jenkins")
        if result.ok and result.jenkins is not None:
            path = tmp_path / f"corpus-{len(files)}.groovy"
            path.write_text(result.jenkins.jenkinsfile)
            files.append(path)
    assert len(files) > len(CASES) or not corpus.exists()
    proc = _class_generation(files)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert f"parsed {len(files)}/{len(files)}" in proc.stdout


HOSTILE = [
    "echo '''triple''' and \"\"\"double\"\"\" quotes",
    "echo ${HOME} $HOME \\${NOT} \\\\ trailing\\",
    "line one\nline two\r\n\ttabbed\n",
    "'); sh('rm -rf /'); echo('",
    "\"\"\" + System.exit(1) + \"\"\"",
    "${{'{'}}} {{workflow.name}} $(id) `date` \u00e9\u4e2d\U0001F680",
    "\x01\x1b[31m control \x7f",
]


def test_hostile_text_reaches_the_shell_unchanged(tmp_path: Path) -> None:
    """Groovy itself evaluates each literal we emit; it must give back exactly the input."""
    groovy = _groovy()
    lines = [f"println({groovy_string(text)}.getBytes('UTF-8').encodeBase64().toString())" for text in HOSTILE]
    script = tmp_path / "roundtrip.groovy"
    script.write_text("\n".join(lines) + "\n")
    proc = subprocess.run([*groovy, str(script)], capture_output=True, text=True, env=_java_env(), timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    decoded = [base64.b64decode(line).decode("utf-8") for line in proc.stdout.split()]
    assert decoded == HOSTILE


def test_hostile_names_scripts_and_env_in_a_whole_pipeline(tmp_path: Path) -> None:
    config = {"stages": [{"name": text[:30] or "x", "steps": [
        {"runScriptConfig": {"image": "alpine", "shellScript": text}, "env": {"V": text}}]} for text in HOSTILE]}
    result = compile_text(yaml.safe_dump(config, allow_unicode=True), ExecutionContext(), engine="jenkins")
    assert result.ok and result.jenkins is not None
    path = tmp_path / "hostile.groovy"
    path.write_text(result.jenkins.jenkinsfile)
    proc = _class_generation([path])
    assert proc.returncode == 0, proc.stdout
    model = script_model.model(result.jenkins.jenkinsfile)
    sent = [s.script for s in model.stages if s.script is not None][1:]  # past the clone step
    assert sent == HOSTILE  # data, exactly


def test_pod_yaml_carries_the_same_cache_placement_as_argo() -> None:
    text = ("stages:\n- name: b\n  cache: {paths: [/root/.m2]}\n  steps:\n"
            "  - runScriptConfig: {image: a, shellScript: b}\n")
    ctx = ExecutionContext(pipeline="app", namespace="ns", cache_nodes=("n2", "n1"))
    jen = compile_text(text, ctx, engine="jenkins").jenkins
    argo = compile_text(text, ctx).objects[0]
    assert jen is not None
    pod = yaml.safe_load(script_model.model(jen.jenkinsfile).pod_yaml)
    assert pod["spec"]["affinity"] == argo["spec"]["affinity"]
    host = {v["name"]: v["hostPath"] for v in pod["spec"]["volumes"] if "hostPath" in v}
    argo_host = {n: v["hostPath"] for n, v in volumes(argo).items() if "hostPath" in v}
    assert host == argo_host


def test_skipped_steps_are_marked_skipped() -> None:
    text = ("stages:\n- name: Only tags\n  when: {event: tag}\n  steps:\n"
            "  - runScriptConfig: {image: a, shellScript: b}\n"
            "- name: Mixed\n  steps:\n  - runScriptConfig: {image: a, shellScript: b}\n"
            "  - runScriptConfig: {image: a, shellScript: c}\n    when: {branch: release/*}\n")
    jen = compile_text(text, ExecutionContext()).plan
    out = compile_text(text, ExecutionContext(), engine="jenkins").jenkins
    assert jen is not None and out is not None
    assert "markStageSkippedForConditional('Only tags')" in out.jenkinsfile
    assert "markStageSkippedForConditional('mixed-2')" in out.jenkinsfile
    assert "timeout(time: 60, unit: 'MINUTES')" in out.jenkinsfile and "timestamps" not in out.jenkinsfile


def test_the_timeout_covers_the_wait_for_the_agent_pod() -> None:
    """Finding 22: `timeout` wraps `podTemplate`, as activeDeadlineSeconds covers a pending pod."""
    out = compile_text(_steps(1), ExecutionContext(), engine="jenkins").jenkins
    assert out is not None
    calls = script_model.parse(out.jenkinsfile)
    assert [c.name for c in calls] == ["timeout"] and calls[0].body is not None
    assert [c.name for c in calls[0].body] == ["podTemplate"]


def test_pod_template_names_the_pipeline_namespace() -> None:
    """Finding 21: an external Jenkins' cloud may point elsewhere; the pod goes where its Secrets are."""
    out = compile_text(_steps(1), ExecutionContext(namespace="team-a"), engine="jenkins").jenkins
    assert out is not None
    model = script_model.model(out.jenkinsfile)
    assert model.namespace == "team-a"
    pod = script_model.agent_pod(model, cloud_namespace="jenkins", pod_name="p")
    assert pod["metadata"]["namespace"] == "team-a"


def test_inner_stage_names_never_equal_an_outer_one() -> None:
    """Finding 19: a one-step stage named like its step's id would list two stages of one name."""
    text = ("stages:\n- name: build\n  steps:\n  - runScriptConfig: {image: a, shellScript: b}\n"
            "- name: build~1\n  steps:\n  - runScriptConfig: {image: a, shellScript: c}\n")
    out = compile_text(text, ExecutionContext(), engine="jenkins").jenkins
    assert out is not None
    names = [s.name for s in script_model.model(out.jenkinsfile).stages]
    assert len(names) == len(set(names)), names
    assert compile_text(text, ExecutionContext(), engine="jenkins").jenkins == out  # stable


def test_scripts_reach_sh_unchanged_so_jenkins_starts_them_as_argo_does() -> None:
    """Finding 1: durable-task runs `sh -xe` unless the text starts with `#!`
    (BourneShellScript.launchWithCookie); Argo's command follows the same rule
    (`scripts.launch_command`), so passing the text unchanged gives the same launch on both."""
    for script in ("false\necho ok", "#!/bin/sh\nfalse\necho ok"):
        text = yaml.safe_dump({"stages": [{"name": "t", "steps": [
            {"runScriptConfig": {"image": "a", "shellScript": script}}]}]})
        out = compile_text(text, ExecutionContext(), engine="jenkins").jenkins
        assert out is not None
        sent = [s.script for s in script_model.model(out.jenkinsfile).stages if s.script is not None][-1]
        assert sent == script
        status, _error, log = run_like_durable_task(sent)  # the double's durable-task launcher
        xe = scripts.launch_command(script, "/s.sh")[:2] == ["sh", "-xe"]
        assert (status == "FAILED") is xe and ("+ false" in log) is xe
