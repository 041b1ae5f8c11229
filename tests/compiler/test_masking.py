"""Secrets masked where the output is made: the wrapper a secret-reading step runs behind,
run for real under the system's shell and awk and under busybox (docs/security.md)."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.step_runner import run_step, shells
from translator.api.setting_types import PipelineSettingSpec
from translator.compiler.compile import compile_text
from translator.compiler.context import ExecutionContext
from translator.compiler.plan import PlanStep, SecretSource, secret_sources
from translator.compiler.trust_scripts import MASK_WRAPPER

TOKEN = "s3cr3t-t0ken-value"
KEY = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7\n-----END KEY-----"


def _printed(text: str) -> list[str]:
    """What the script printed, without the engine's `sh -x` trace (which is masked too)."""
    return [line for line in text.splitlines() if not line.startswith("+")]


def _step(script: str, *, step_id: str = "build", **ctx: Any) -> PlanStep:
    text = f"""
stages:
- name: Build
  steps:
  - runScriptConfig: {{image: alpine, shellScript: {json.dumps(script)}}}
    envFrom:
    - {{sourceName: api, sourceKey: token, targetKey: API_TOKEN}}
    - {{sourceName: api, sourceKey: key, targetKey: SIGNING_KEY}}
"""
    result = compile_text(text, ExecutionContext(**ctx))
    assert result.ok, [str(f) for f in result.findings]
    assert result.plan is not None
    return next(s for s in result.plan.steps if s.id == step_id)


SECRETS = {("api", "token"): TOKEN, ("api", "key"): KEY}


@pytest.fixture(params=["system", "busybox"])
def shell(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, dict[str, str]]:
    found = dict(zip(("system", "busybox"), shells(tmp_path), strict=False))
    if request.param not in found:
        if os.environ.get("CI"):
            pytest.fail("busybox is not installed: .ci/run installs Debian's busybox package")
        pytest.skip("busybox is not installed (.ci/run installs it)")
    return found[request.param]


def test_a_step_that_reads_secrets_runs_behind_the_wrapper() -> None:
    step = _step("echo hi")
    assert step.script == MASK_WRAPPER
    assert ("build-unmasked.sh", "echo hi") in step.files
    assert {v.name: v.value for v in step.env}["TRANSLATOR_MASK_ENV"] == "API_TOKEN SIGNING_KEY"
    assert secret_sources(step, PipelineSettingSpec()) == (SecretSource("api", "token"), SecretSource("api", "key"))
    clone = compile_text("stages: []\n", ExecutionContext()).plan
    assert clone is None or all(s.script != MASK_WRAPPER for s in clone.steps)  # no secret, no wrapper


def test_a_step_that_echoes_its_secret_prints_stars(tmp_path: Path, shell: tuple[str, dict[str, str]]) -> None:
    script = 'echo "token=$API_TOKEN"\necho "$API_TOKEN" >&2\nset +x\nprintf "%s\\n" "$SIGNING_KEY"\necho done'
    ran = run_step(_step(script), tmp_path, secrets=SECRETS, shell=shell[0], path=shell[1])
    assert ran.code == 0, ran.stderr
    assert TOKEN not in ran.stdout + ran.stderr
    # stderr joins stdout, in order; each line of the key is masked; so is the trace of each command
    assert _printed(ran.stdout) == ["token=***", "***", "***", "***", "***", "***", "done"]
    assert TOKEN not in ran.stdout and "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC" not in ran.stdout
    assert "+ echo" in ran.stdout and "***" in ran.stdout.splitlines()[0]
    assert ran.stderr == "+ set +x\n"  # the wrapper's own trace stops at once


def test_the_steps_exit_code_passes_through(tmp_path: Path, shell: tuple[str, dict[str, str]]) -> None:
    ran = run_step(_step('echo "$API_TOKEN"; exit 3'), tmp_path, secrets=SECRETS, shell=shell[0], path=shell[1])
    assert (ran.code, _printed(ran.stdout)) == (3, ["***"])


def test_a_longer_secret_holding_a_shorter_one_is_masked_whole(tmp_path: Path) -> None:
    secrets = {("api", "token"): "abc", ("api", "key"): "xxabcxx"}
    ran = run_step(_step('echo "$SIGNING_KEY and $API_TOKEN"'), tmp_path, secrets=secrets)
    assert _printed(ran.stdout) == ["*** and ***"]


def test_values_shorter_than_three_characters_are_left(tmp_path: Path) -> None:
    ran = run_step(_step('echo "[$API_TOKEN]"'), tmp_path, secrets={("api", "token"): "ab", ("api", "key"): "k"})
    assert _printed(ran.stdout) == ["[ab]"]


def test_registry_and_git_credentials_are_masked(tmp_path: Path, shell: tuple[str, dict[str, str]]) -> None:
    setting = PipelineSettingSpec(registry_credentials_secret="push", git_credentials_secret="git")
    text = "stages:\n- name: P\n  steps:\n  - publishImageConfig: {tag: a/b:1}\n"
    plan = compile_text(text, ExecutionContext(), setting).plan
    assert plan is not None
    publish, clone = next(s for s in plan.steps if s.id == "p"), plan.steps[0]
    assert publish.script == MASK_WRAPPER and clone.script == MASK_WRAPPER
    auth = base64.b64encode(b"robot:hunter2-password").decode()
    config = json.dumps({"auths": {"registry.local": {"auth": auth}, "ghcr.io": {"password": "ghp_abcdef123"}}})
    publish = _with_script(publish, f'echo "{auth} hunter2-password ghp_abcdef123"')
    ran = run_step(publish, tmp_path, files={"/translator/docker/config.json": config}, shell=shell[0],
                   path=shell[1])
    assert _printed(ran.stdout) == ["*** *** ***"], ran.stderr
    clone = _with_script(clone, 'echo "fetching with git-pass-word"')
    ran = run_step(clone, tmp_path, files={"/translator/git/password": "git-pass-word\n"}, shell=shell[0],
                   path=shell[1])
    assert _printed(ran.stdout) == ["fetching with ***"]


def test_each_line_is_printed_as_it_comes_and_a_stop_reaches_the_script(
        tmp_path: Path, shell: tuple[str, dict[str, str]]) -> None:
    """Live logs stay live (awk flushes every line), and Argo's or Jenkins' SIGTERM ends the
    step's own script, not only the wrapper."""
    import signal
    import subprocess
    import time

    from tests.step_runner import prepare

    marker = tmp_path / "trapped"
    script = f'set +x\ntrap "echo stopped > {marker}; exit 143" TERM\necho "$API_TOKEN is set"\nsleep 30 & wait'
    argv, env = prepare(_step(script), tmp_path, secrets=SECRETS, shell=shell[0],
                        path={"PATH": shell[1]["PATH"] + ":/bin:/usr/bin"})  # sleep
    proc = subprocess.Popen(argv, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    started = time.monotonic()
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "+ set +x\n"  # the step's own first line, traced
        assert proc.stdout.readline() == "*** is set\n"
        assert time.monotonic() - started < 10  # long before the script ends
        time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 143
        assert marker.read_text() == "stopped\n"
        assert time.monotonic() - started < 10  # the `sleep 30` it left running holds nothing up
    finally:
        proc.kill()
        proc.communicate()


def test_an_image_without_awk_fails_the_step_instead_of_printing_unmasked(tmp_path: Path) -> None:
    import os

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    ran = run_step(_step('echo "$API_TOKEN"'), tmp_path, secrets=SECRETS, path={"PATH": str(bin_dir)})
    assert ran.code == 127 and TOKEN not in ran.stdout
    assert "masking them in its log needs awk" in ran.stderr
    del os


def _with_script(step: PlanStep, script: str) -> PlanStep:
    import dataclasses

    files = tuple((n, script if n.endswith("-unmasked.sh") else c) for n, c in step.files)
    return dataclasses.replace(step, files=files)


def test_a_process_the_script_leaves_running_does_not_hold_the_step(tmp_path: Path) -> None:
    import time

    started = time.monotonic()
    ran = run_step(_step('sleep 30 &\necho "started with $API_TOKEN"'), tmp_path, secrets=SECRETS)
    assert (ran.code, _printed(ran.stdout)) == (0, ["started with ***"])
    assert time.monotonic() - started < 10
