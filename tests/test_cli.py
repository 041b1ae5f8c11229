"""The command line as a user meets it: exit codes, messages, outputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml
from click.testing import CliRunner

from tests.helpers import EXAMPLES
from translator.cli import main


def run(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), input=input)
    return result.exit_code, result.stdout, result.stderr


def test_compile_without_file_uses_the_embedded_example() -> None:
    code, out, err = run("compile")
    assert code == 0
    docs = list(yaml.safe_load_all(out))
    assert [d["kind"] for d in docs] == ["Workflow", "ConfigMap"]
    assert "embedded example" in err


def test_compile_json_is_one_list_object_with_options_applied() -> None:
    code, out, _ = run("compile", str(EXAMPLES / "basic-script"), "-o", "json", "--run", "9",
                       "--pipeline", "hello", "--namespace", "ns", "--branch", "dev", "--commit", "a" * 40,
                       "--cache-nodes", "n1, n2")
    assert code == 0
    obj = json.loads(out)
    assert obj["kind"] == "List"
    workflow = obj["items"][0]
    assert workflow["metadata"]["name"] == "hello-9" and workflow["metadata"]["namespace"] == "ns"
    assert workflow["metadata"]["labels"]["devops.cubepaas.io/branch"] == "dev"


def test_warnings_go_to_stderr_and_exit_zero_strict_refuses() -> None:
    path = str(EXAMPLES / "warnings-misplaced-keys" / ".rancher-pipeline.yml")
    code, out, err = run("compile", path)
    assert code == 0 and out.startswith("apiVersion: argoproj.io/v1alpha1")
    assert f"{path}: warning: branch.exlclude" in err
    code, out, err = run("compile", path, "--strict")
    assert code == 1 and out == "" and "[strict]" in err


def test_refused_file_exits_one_naming_file_path_and_line() -> None:
    path = str(EXAMPLES / "invalid-missing-fields" / ".rancher-pipeline.yml")
    code, out, err = run("compile", path)
    assert code == 1 and out == ""
    assert f"{path}: error: stages[0].steps[0].runScriptConfig.image: required (line 4)" in err
    assert "Traceback" not in err


def test_bad_usage_exits_two() -> None:
    assert run("compile", "--run", "0")[0] == 2
    assert run("compile", "--event", "merge")[0] == 2
    assert run("compile", "--pipeline", "Not_Valid")[0] == 2
    assert run("compile", "-o", "xml")[0] == 2


def test_unreadable_inputs_are_refused_cleanly(tmp_path: Path) -> None:
    binary = tmp_path / "bin.yml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    for target in (str(binary), str(tmp_path / "missing.yml"), str(tmp_path)):
        code, _, err = run("compile", target)
        assert code == 1 and "Traceback" not in err and err.strip()


def test_stdin_and_directory_lookup_order(tmp_path: Path) -> None:
    (tmp_path / ".rancher-pipeline.yml").write_text("stages: []\ntimeout: 5\n")
    (tmp_path / ".cubepaas.devops.yml").write_text("stages: []\ntimeout: 7\n")
    code, out, _ = run("compile", str(tmp_path))
    assert code == 0 and "activeDeadlineSeconds: 420" in out
    code, out, _ = run("compile", "-", input="stages: []\ntimeout: 3\n")
    assert code == 0 and "activeDeadlineSeconds: 180" in out


def test_validate_prints_findings_only() -> None:
    code, out, _ = run("validate", str(EXAMPLES / "basic-script"))
    assert code == 0 and out.strip().endswith("ok (0 warnings)")
    code, out, _ = run("validate", str(EXAMPLES / "invalid-yaml"))
    assert code == 1 and "not valid YAML" in out and "(line 6, column 1)" in out


def test_setting_file(tmp_path: Path) -> None:
    setting = tmp_path / "setting.yaml"
    setting.write_text("apiVersion: devops.cubepaas.io/v1alpha1\nkind: PipelineSetting\n"
                       "spec:\n  argo:\n    serviceAccount: builder\n")
    code, out, _ = run("compile", str(EXAMPLES / "basic-script"), "--setting", str(setting))
    assert code == 0 and "serviceAccountName: builder" in out
    setting.write_text("spec:\n  executorQuota: lots\n")
    code, _, err = run("compile", str(EXAMPLES / "basic-script"), "--setting", str(setting))
    assert code == 1 and "not a PipelineSetting" in err


def test_installed_entry_point_runs() -> None:
    proc = subprocess.run([sys.executable, "-m", "translator.cli", "compile", "-o", "json"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["items"][0]["kind"] == "Workflow"
