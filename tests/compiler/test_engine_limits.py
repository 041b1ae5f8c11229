"""What an engine or Kubernetes would refuse is refused at compile time, and `validate --engine`
(check_text) refuses exactly that."""

from __future__ import annotations

import pytest

from translator.api.config_validation import Severity
from translator.compiler.compile import check_text, compile_text
from translator.compiler.context import ExecutionContext

MiB = 1024 * 1024


def _stages(n: int, script: str = "echo hi") -> str:
    return "stages:\n" + "".join(
        f"- name: s{i}\n  steps:\n  - runScriptConfig: {{image: alpine, shellScript: '{script}'}}\n" for i in range(n))


def _script_file(size: int, *, count: int = 1) -> str:
    body = "".join(f"- name: big{i}\n  steps:\n  - runScriptConfig:\n      image: alpine\n      shellScript: |\n"
                   + "        " + "x" * size + "\n" for i in range(count))
    return "stages:\n" + body


def _agree(text: str, engine: str = "argo") -> tuple[bool, list[str]]:
    checked = check_text(text, engine=engine, read_limits=_limits())
    compiled = compile_text(text, ExecutionContext(), engine=engine, read_limits=_limits())
    assert checked.ok == compiled.ok, ([str(f) for f in checked.findings], [str(f) for f in compiled.findings])
    errors = [str(f) for f in compiled.findings if f.severity is Severity.ERROR]
    assert errors == [str(f) for f in checked.errors]
    return compiled.ok, errors


def _limits():  # type: ignore[no-untyped-def]
    from translator.api.bounded import ReadLimits

    return ReadLimits(max_bytes=64 * MiB)  # room for the large scripts below; the object limits decide


@pytest.mark.parametrize("stages, ok", [(198, True), (199, False)])
def test_argo_step_limit_is_the_same_for_validate_and_compile(stages: int, ok: bool) -> None:
    accepted, errors = _agree(_stages(stages))  # with the clone step: 199 or 200
    assert accepted is ok
    if not ok:
        assert errors == ["(run): the run has 200 steps (the clone step included); an Argo Workflow holds at most 199"]


def test_jenkins_has_no_step_limit() -> None:
    assert _agree(_stages(199), engine="jenkins")[0]  # the pod YAML is long: compiler/jenkins.py splits it


def test_a_2_mib_script_is_refused_naming_the_total_and_the_largest() -> None:
    accepted, errors = _agree(_script_file(2 * MiB))
    assert not accepted
    assert errors == [
        "(run): the step scripts and files total 2 MiB; a ConfigMap holds at most 1 MiB. The largest is "
        "big0.sh (stage 'big0', step 1, 2 MiB): keep large scripts in the repository and run them from there"]


def test_scripts_that_together_pass_the_configmap_limit_are_refused() -> None:
    accepted, errors = _agree(_script_file(300 * 1024, count=4))
    assert not accepted and "total 1.2 MiB" in errors[0] and "(stage 'big0', step 1, 300 KiB)" in errors[0]
    assert _agree(_script_file(300 * 1024, count=3))[0]


def test_a_50_mib_script_is_refused_by_the_file_limit_first() -> None:
    result = check_text(_script_file(50 * MiB), engine="argo")
    assert [str(f) for f in result.errors] == [
        "(file): larger than 1 MiB (52,428,901 bytes), the limit of a pipeline file"]


def test_the_workflow_object_size_is_bounded() -> None:
    env = "".join(f"      V{i}: {'v' * 400}\n" for i in range(4000))  # 1.6 MB of env values in the Workflow
    text = _stages(1) + "    env:\n" + env
    accepted, errors = _agree(text)
    assert not accepted and errors[0].startswith("(run): the Workflow would be 1.")
    assert "Kubernetes stores objects of at most 1.5 MiB" in errors[0]


def test_jenkins_long_scripts_are_split_into_constants_the_jvm_holds() -> None:
    from translator.compiler import limits
    from translator.compiler.plan import CompileError

    accepted, _ = _agree(_script_file(70_000), engine="jenkins")
    assert accepted
    long = "sh(script: '" + "\u00e9" * 40_000 + "')\n"  # 40,000 characters, 80,000 bytes of modified UTF-8
    with pytest.raises(CompileError, match="string constant of 80,000 bytes; the JVM refuses constants over 65,535"):
        limits.check_jenkins(compile_text(_stages(1), ExecutionContext()).plan, long)  # type: ignore[arg-type]
    limits.check_jenkins(compile_text(_stages(1), ExecutionContext()).plan, "x('" + "a" * 65_535 + "')")  # type: ignore[arg-type]
    assert limits.modified_utf8_length("a\0\u00e9\u20ac\U0001F600") == 1 + 2 + 2 + 3 + 6


def test_jenkins_timeout_is_an_int_of_minutes() -> None:
    accepted, errors = _agree(f"timeout: {2**31}\n" + _stages(1), engine="jenkins")
    assert not accepted and "more than Jenkins' timeout step takes" in errors[0]
    assert _agree(f"timeout: {2**31}\n" + _stages(1))[0]  # Argo holds int64 seconds


def test_the_top_level_branch_is_the_run_s_business_not_validate_s() -> None:
    text = "branch: release/*\n" + _stages(1)
    assert check_text(text, engine="argo").ok
    assert not compile_text(text, ExecutionContext(branch="master")).ok
    assert compile_text(text, ExecutionContext(branch="release/1")).ok


def test_substituted_values_a_registry_would_refuse_are_warned_about() -> None:
    text = ("stages:\n- name: push\n  steps:\n  - publishImageConfig:\n      tag: me/app:${CICD_GIT_COMMIT}\n"
            "      pushRemote: true\n      registry: reg.example.com\n")
    without = compile_text(text, ExecutionContext(commit=""))
    assert without.ok
    assert any("with this run's values the image to push is 'reg.example.com/me/app:', which a registry refuses"
               in str(f) for f in without.findings)
    with_commit = compile_text(text, ExecutionContext(commit="abcdef1234"))
    assert not any("registry refuses" in str(f) for f in with_commit.findings)
