"""The config model decodes what Rancher's Go types (pipeline_types.go, via go-yaml v2) decoded.

Rancher read `.rancher-pipeline.yml` with `yaml.Unmarshal` into `v3.PipelineConfig`; what it
accepted runs here, what it refused is refused here, in our words and with the line.
"""

from __future__ import annotations

import pytest

from translator.api.config_validation import validate_data, validate_text

STEP = "  steps:\n  - runScriptConfig: {image: alpine, shellScript: x}\n"


def _config(head: str, *, stage_extra: str = "") -> object:
    result = validate_text(f"{head}stages:\n- name: s\n{stage_extra}{STEP}")
    assert result.config is not None, [str(f) for f in result.findings]
    return result.config


@pytest.mark.parametrize("written, include, exclude", [
    ("branch: master\n", ["master"], []),                                    # Constraint as a string
    ("branch: [a, b]\n", ["a", "b"], []),                                    # as a list
    ("branch:\n  include: master\n", ["master"], []),                        # stringorslice include
    ("branch:\n  exclude: dev\n", [], ["dev"]),                              # stringorslice exclude
    ("branch:\n  include: [a]\n  exclude: feature/*\n", ["a"], ["feature/*"]),
    ("branch:\n  include: 1.10\n", ["1.10"], []),                            # any scalar, as written
    ("branch:\n  include:\n", [], []),                                       # null: not set
])
def test_include_and_exclude_take_a_string_or_a_list(written: str, include: list[str], exclude: list[str]) -> None:
    config = _config(written)
    assert config.branch is not None  # type: ignore[attr-defined]
    assert (config.branch.include, config.branch.exclude) == (include, exclude)  # type: ignore[attr-defined]


def test_when_constraints_take_the_same_forms() -> None:
    config = _config("", stage_extra="  when:\n    branch: {include: master, exclude: dev}\n    event: push\n")
    when = config.stages[0].when  # type: ignore[attr-defined]
    assert when.branch.include == ["master"] and when.branch.exclude == ["dev"]
    assert when.event.include == ["push"]


def test_inline_config_accepts_the_string_form_too() -> None:
    data = {"branch": {"include": "master"}, "stages": [{"name": "s", "steps": [
        {"runScriptConfig": {"image": "a", "shellScript": "b"}, "when": {"event": {"exclude": "tag"}}}]}]}
    result = validate_data(data)
    assert result.config is not None and result.config.branch is not None
    assert result.config.branch.include == ["master"]


def test_notification_condition_is_stringorslice() -> None:
    config = _config("notification:\n  condition: Failed\n")
    assert config.notification.condition == ["Failed"]  # type: ignore[attr-defined]


def test_a_fractional_timeout_is_truncated_as_go_did_with_a_warning() -> None:
    result = validate_text(f"timeout: 1.5\nstages:\n- name: s\n{STEP}")
    assert result.config is not None and result.config.timeout == 1
    assert [str(f) for f in result.warnings] == [
        "timeout: 1.5 is not a whole number of minutes; 1 is used, as Rancher's decoder truncated it (line 1)"]


@pytest.mark.parametrize("value, expected", [
    ('"30"', "timeout: must be a whole number of minutes, got '30' (line 1)"),     # Go: string into int
    ("true", "timeout: must be a whole number of minutes, got True (line 1)"),     # Go: bool into int
    ("[1]", "timeout: must be a whole number of minutes, got list (line 1)"),
    ("99999999999999999999", "timeout: 99999999999999999999 minutes is more than a run can be given (at most "
                             "153,722,867,280,912,930: Kubernetes holds a deadline as int64 seconds) (line 1)"),
    ("1.0e+30", "timeout: 1.0e+30 minutes is more than a run can be given (at most 153,722,867,280,912,930) (line 1)"),
    (".inf", "timeout: .inf minutes is more than a run can be given (at most 153,722,867,280,912,930) (line 1)"),
])
def test_timeouts_go_refused_are_refused_in_our_words(value: str, expected: str) -> None:
    result = validate_text(f"timeout: {value}\nstages:\n- name: s\n{STEP}")
    assert [str(f) for f in result.errors] == [expected]
    assert not any("pydantic" in str(f) or "https://" in str(f) for f in result.findings)


@pytest.mark.parametrize("value", ["0", "-5"])
def test_a_timeout_of_zero_or_less_is_rancher_s_default(value: str) -> None:
    result = validate_text(f"timeout: {value}\nstages:\n- name: s\n{STEP}")
    assert result.config is not None and result.config.timeout == 60
    assert "means the default, 60 minutes, as in Rancher" in str(result.warnings[0])


def test_booleans_are_yaml_booleans_as_in_go() -> None:
    step = "  steps:\n  - runScriptConfig: {image: a, shellScript: b}\n    privileged: "
    ok = validate_text(f"stages:\n- name: s\n{step}y\n")  # go-yaml v2 reads y/n as booleans
    assert ok.config is not None and ok.config.stages[0].steps[0].privileged is True
    for value, shown in (('"true"', "'true'"), ("1", "1"), ("yes please", "'yes please'")):
        result = validate_text(f"stages:\n- name: s\n{step}{value}\n")
        assert [str(f) for f in result.errors] == [
            f"stages[0].steps[0].privileged: must be true or false, got {shown} (line 5)"], value


def test_strings_take_any_scalar_as_written() -> None:
    result = validate_text("stages:\n- name: 1.10\n  steps:\n  - runScriptConfig: {image: a, shellScript: yes}\n"
                           "    env: {N: 010, V: 1.0, E: ~}\n")
    assert result.config is not None
    assert result.config.stages[0].name == "1.10"
    assert result.config.stages[0].steps[0].run_script_config.shell_script == "yes"  # type: ignore[union-attr]
    assert result.config.stages[0].steps[0].env == {"N": "010", "V": "1.0", "E": ""}


def test_a_nul_in_any_string_is_refused_with_its_line() -> None:
    result = validate_text('stages:\n- name: s\n  steps:\n  - runScriptConfig: {image: a, shellScript: "a\\0b"}\n')
    assert [str(f) for f in result.errors] == [
        "stages[0].steps[0].runScriptConfig.shellScript: contains a NUL character, which no container can be "
        "given (line 4)"]


def test_wrongly_typed_fields_are_worded_by_us() -> None:
    result = validate_text("stages:\n- name: s\n  steps:\n  - runScriptConfig: {image: [a], shellScript: b}\n"
                           "    env: [a]\n")
    assert [str(f) for f in result.errors] == [
        "stages[0].steps[0].runScriptConfig.image: must be a string, got list (line 4)",
        "stages[0].steps[0].env: must be a mapping, got list (line 5)"]


def test_malformed_globs_are_warnings_naming_pattern_and_line() -> None:
    text = f'branch:\n  include: ["[", "ok-*"]\nstages:\n- name: s\n  when:\n    branch: "a\\\\"\n{STEP}'
    result = validate_text(text)
    assert result.ok
    assert [str(f) for f in result.warnings] == [
        "branch.include[0]: pattern '[' is malformed (an unclosed [): it matches no branch, as with Rancher "
        "(Go's filepath.Match refused it) (line 2)",
        "stages[0].when.branch.include[0]: pattern 'a\\\\' is malformed (ends with a lone \\): it matches no "
        "branch, as with Rancher (Go's filepath.Match refused it) (line 6)",
    ]
