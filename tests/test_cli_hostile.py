"""The command line under hostile or broken input: one line and a documented exit code, never a
traceback, never unbounded memory, never a hang (issue 11's table, row by row)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from tests.helpers import EXAMPLES
from translator.cli import main

TRANSLATOR = [sys.executable, "-m", "translator.cli"]


def run(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), input=input)
    assert "Traceback" not in result.stdout + result.stderr
    return result.exit_code, result.stdout, result.stderr


def shell(command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`command` in bash with `translator` on the path as this interpreter's module; bounded memory."""
    prefix = f"ulimit -v {2 * 1024 * 1024}; translator() {{ {sys.executable} -m translator.cli \"$@\"; }}; "
    proc = subprocess.run(["bash", "-c", prefix + command], capture_output=True, text=True, timeout=timeout,
                          check=False)
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    return proc


@pytest.mark.parametrize("source", ["/dev/zero", "/dev/urandom"])
def test_endless_files_are_refused_after_one_mib(source: str) -> None:
    proc = shell(f"translator compile {source}")
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"{source}: larger than 1 MiB, the limit of a pipeline file"


def test_endless_stdin_is_refused_after_one_mib() -> None:
    proc = shell("yes 'a: b' | translator compile -")
    assert proc.returncode == 1 and proc.stderr.strip() == "<stdin>: larger than 1 MiB, the limit of a pipeline file"


def test_closed_stdin() -> None:
    proc = shell("translator compile - <&-")
    assert proc.returncode == 1 and proc.stderr.strip() == "<stdin>: cannot read: the input is closed"


def test_alias_bomb_and_deep_nesting_from_the_cli(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.yml"
    bomb.write_text('a: &a ["x","x","x","x","x","x","x","x","x"]\n' + "".join(
        f"b{i}: &b{i} [{', '.join(['*a' if i == 0 else f'*b{i - 1}'] * 9)}]\n" for i in range(9)))
    assert run("validate", str(bomb))[0] == 1
    deep = tmp_path / "deep.yml"
    deep.write_text("stages: " + "[" * 10_000 + "]" * 10_000 + "\n")
    code, out, _ = run("validate", str(bomb), str(deep))
    assert code == 1
    assert f"{bomb}: error: (file): aliases expand past 10,000 nodes (line 5)" in out
    assert f"{deep}: error: (file): nested deeper than 100 levels (line 1)" in out


def test_validate_and_compile_agree_on_argo_s_step_limit(tmp_path: Path) -> None:
    many = tmp_path / "many.yml"
    many.write_text("stages:\n" + "".join(
        f"- name: s{i}\n  steps:\n  - runScriptConfig: {{image: alpine, shellScript: x}}\n" for i in range(199)))
    code, out, _ = run("validate", str(many), "--engine", "argo")
    assert code == 1 and "an Argo Workflow holds at most 199" in out
    code, _, err = run("compile", str(many), "--engine", "argo")
    assert code == 1 and "an Argo Workflow holds at most 199" in err


def test_validate_takes_many_files_json_and_defaults_to_the_current_directory(tmp_path: Path) -> None:
    good = str(EXAMPLES / "basic-script" / ".rancher-pipeline.yml")
    bad = str(EXAMPLES / "invalid-missing-fields" / ".rancher-pipeline.yml")
    code, out, _ = run("validate", good, bad, "-o", "json")
    reports = json.loads(out)
    assert code == 1 and [r["ok"] for r in reports] == [True, False]
    assert reports[1]["findings"][0] == {"severity": "error", "path": "stages[0].steps[0].runScriptConfig.image",
                                         "message": "required", "line": 4}
    (tmp_path / ".rancher-pipeline.yml").write_text("stages: []\n")
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path)
        code, out, _ = run("validate")
        assert code == 0 and out.strip().endswith(".rancher-pipeline.yml: ok (1 warnings)")
        os.chdir(tmp_path.parent)
        code, out, _ = run("validate", str(tmp_path / "missing"))
        assert code == 1 and "cannot read: No such file or directory" in out
    finally:
        os.chdir(cwd)


@pytest.mark.parametrize("option, value, words", [
    ("--commit", "abc\n", "must be 7 to 64 hex digits"),
    ("--commit", "SHA", "must be 7 to 64 hex digits"),
    ("--branch", "", "must not be empty"),
    ("--cache-nodes", "node 2," + "n" * 300, "'node 2' must be lowercase letters"),
    ("--cache-nodes", "ok," + "n" * 300, "is 300 characters; at most 253"),
])
def test_run_facts_are_checked_where_kubernetes_or_git_would_refuse_them(option: str, value: str,
                                                                          words: str) -> None:
    code, out, err = run("compile", str(EXAMPLES / "basic-script"), option, value)
    assert code == 2 and out == "" and words in err


def test_bad_options_exit_two_with_a_choice_list() -> None:
    code, _, err = run("controller", "--log-level", "loud")
    assert code == 2 and "'loud' is not one of 'debug', 'info', 'warning', 'error'" in err
    code, _, err = run("cache-agent", "--node", "", "--once")
    assert code == 2 and "--node" in err and "must not be empty" in err
    code, _, err = run("cache-agent", "--node", "n1", "--max-bytes", "lots", "--once")
    assert code == 2 and "'lots' is not a number of bytes (e.g. 1073741824, 10Gi, 500M)" in err


def test_byte_quantities() -> None:
    from translator.cli_support import ByteQuantity

    quantity = ByteQuantity()
    assert [quantity.convert(v, None, None) for v in ("10Gi", "500M", "1.5Ki", "1073741824", "0")] == [
        10 * 2**30, 500 * 10**6, 1536, 2**30, 0]


@pytest.mark.parametrize("path, words", [
    ("/nonexistent", "/nonexistent: no such file"),
    ("/etc/passwd", "/etc/passwd: not a kubeconfig file: it holds str, not a mapping with clusters, contexts and "
                    "users"),
    ("/bin/ls", "/bin/ls: not UTF-8 text (byte 24) (line 1): this is not a kubeconfig file"),
    ("/", "/: is a directory, not a kubeconfig file"),
])
def test_a_bad_kubeconfig_says_what_is_wrong_with_which_file(path: str, words: str) -> None:
    code, _, err = run("run", "web", "--kubeconfig", path)
    assert code == 1 and err.strip() == words


@pytest.fixture
def dead_port() -> Iterator[int]:
    """A port bound but never listening: every connection is refused, and no one else takes it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


def _dead_kubeconfig(tmp_path: Path, port: int) -> tuple[str, str]:
    server = f"https://127.0.0.1:{port}"
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "dead",
        "clusters": [{"name": "dead", "cluster": {"server": server, "insecure-skip-tls-verify": True}}],
        "contexts": [{"name": "dead", "context": {"cluster": "dead", "user": "u"}}],
        "users": [{"name": "u", "user": {"token": "t"}}]}))
    return str(path), server


def test_an_unreachable_cluster_is_one_line_and_exit_one_for_every_command(tmp_path: Path, dead_port: int) -> None:
    kubeconfig, server = _dead_kubeconfig(tmp_path, dead_port)
    commands = [["run", "web"], ["rerun", "web-1"], ["stop", "web-1"], ["logs", "web-1"],
                ["cache-agent", "--node", "n1", "--once", "--root", str(tmp_path), "--max-bytes", "10Gi"]]
    procs = [subprocess.Popen([*TRANSLATOR, *c, "--kubeconfig", kubeconfig], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for c in commands]
    for command, proc in zip(commands, procs, strict=True):
        out, err = proc.communicate(timeout=120)  # a shared, loaded machine: start-up alone may take seconds
        assert proc.returncode == 1, (command, err)
        assert err.strip() == f"cannot reach the API server at {server}: connection refused", (command, err)
        assert out == ""


@pytest.mark.parametrize("command", [["run", "web"], ["stop", "web-1"], ["logs", "web-1"]])
def test_an_unreachable_cluster_is_given_up_on_within_ten_seconds(tmp_path: Path, dead_port: int,
                                                                 command: list[str]) -> None:
    kubeconfig, server = _dead_kubeconfig(tmp_path, dead_port)
    started = time.monotonic()
    code, _, err = run(*command, "--kubeconfig", kubeconfig)
    assert time.monotonic() - started < 10  # the retry budget is 4 s
    assert code == 1 and err.strip() == f"cannot reach the API server at {server}: connection refused"


def test_help_documents_the_exit_codes() -> None:
    code, out, _ = run("--help")
    assert code == 0 and "Exit codes: 0 done" in " ".join(out.split()) and "70 internal error" in out


def test_an_unexpected_failure_is_one_line_and_exit_70(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("something nobody expected")

    monkeypatch.setattr("translator.cli.compile_text", broken)
    code, _, err = run("compile", str(EXAMPLES / "basic-script"))
    assert code == 70
    assert err.strip() == ("translator: internal error: RuntimeError: something nobody expected (a bug: please "
                           "report it; TRANSLATOR_DEBUG=1 shows the traceback)")


def test_a_wrongly_typed_setting_field_is_worded_by_us_with_a_line(tmp_path: Path) -> None:
    setting = tmp_path / "setting.yaml"
    setting.write_text("kind: PipelineSetting\nspec:\n  executorQuota: 1.5\n  cache: {maxNodes: 1000}\n")
    code, _, err = run("compile", str(EXAMPLES / "basic-script"), "--setting", str(setting))
    assert code == 1
    assert f"{setting}: error: spec.executorQuota: must be a whole number, got 1.5 (line 3)" in err
    assert f"{setting}: error: spec.cache.maxNodes: must be at most 100, got 1000 (line 4)" in err
    assert "pydantic" not in err and "errors.pydantic.dev" not in err


def test_the_setting_s_file_limit_applies(tmp_path: Path) -> None:
    big = tmp_path / "big.yml"
    big.write_text("stages: []\n# " + "x" * 1_500_000 + "\n")
    code, _, err = run("compile", str(big))
    assert code == 1 and "larger than 1 MiB" in err
    setting = tmp_path / "setting.yaml"
    setting.write_text("spec:\n  maxPipelineFileBytes: 2097152\n")
    code, _, _ = run("compile", str(big), "--setting", str(setting))
    assert code == 0


def test_a_50_mb_file_of_598_307_stages_is_refused_at_once(tmp_path: Path) -> None:
    """Before: 731 s and 6.2 GB, then "ok". Now only the first MiB is read."""
    big = tmp_path / "big.yml"
    stage = "- name: s\n  steps:\n  - runScriptConfig: {image: alpine, shellScript: x}\n"
    with big.open("w") as f:
        f.write("stages:\n")
        for _ in range(598_307 // 1000):
            f.write(stage * 1000)
    assert big.stat().st_size > 40 * 1024 * 1024
    started = time.monotonic()
    proc = shell(f"translator validate {big}")
    assert proc.returncode == 1 and time.monotonic() - started < 20
    assert proc.stdout.strip().splitlines()[0] == f"{big}: larger than 1 MiB, the limit of a pipeline file"
