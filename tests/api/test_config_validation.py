"""Validation: every problem with its path and line; warnings for what Rancher ignored."""

from __future__ import annotations

from translator.api.config_validation import Severity, validate_data, validate_text


def _messages(text: str, *, strict: bool = False) -> list[str]:
    return [f"{f.severity.value}: {f}" for f in validate_text(text, strict=strict).findings]


def test_the_issue_example_message() -> None:
    text = (
        "stages:\n- name: a\n  steps:\n  - runScriptConfig:\n      shellScript: x\n"
        "- name: b\n  steps:\n  - runScriptConfig:\n      shellScript: y\n"
    )
    assert "error: stages[1].steps[0].runScriptConfig.image: required (line 8)" in _messages(text)
    assert "error: stages[0].steps[0].runScriptConfig.image: required (line 4)" in _messages(text)


def test_rancher_scalars_become_strings_as_go_decoded_them() -> None:
    result = validate_text(
        "stages:\n- name: s\n  steps:\n  - runScriptConfig: {image: a, shellScript: b}\n"
        "    env: {DEBUG: true, N: 10, V: 1.10, EMPTY: }\n"
    )
    assert result.ok
    assert result.config is not None
    assert result.config.stages[0].steps[0].env == {"DEBUG": "true", "N": "10", "V": "1.10", "EMPTY": ""}


def test_constraint_shorthands() -> None:
    result = validate_text(
        "branch: master\nstages:\n- name: s\n  when: {branch: [a, b], event: push}\n  steps:\n"
        "  - runScriptConfig: {image: a, shellScript: b}\n"
    )
    assert result.config is not None
    assert result.config.branch is not None and result.config.branch.include == ["master"]
    when = result.config.stages[0].when
    assert when is not None and when.branch is not None and when.event is not None
    assert when.branch.include == ["a", "b"] and when.event.include == ["push"]


def test_typo_is_a_warning_with_a_suggestion_and_strict_makes_it_an_error() -> None:
    text = "branch:\n  include: [master]\n  exlclude: [dev]\nstages: []\n"
    msgs = _messages(text)
    assert any("branch.exlclude: unknown key `exlclude`" in m and "did you mean `exclude`" in m
               and m.startswith("warning") for m in msgs)
    assert validate_text(text).ok
    strict = validate_text(text, strict=True)
    assert not strict.ok and any("exlclude" in str(f) for f in strict.errors)


def test_misplaced_keys_name_their_intended_place() -> None:
    text = (
        "stages:\n- name: s\n  steps:\n  - applyYamlConfig:\n    path: ./k8s.yaml\n"
        "  - runScriptConfig:\n      image: a\n      shellScript: b\n      env: {A: b}\n"
    )
    result = validate_text(text)
    assert not result.ok
    msgs = [str(f) for f in result.findings]
    assert ("stages[0].steps[0].applyYamlConfig: `applyYamlConfig` is empty; "
            "its settings must be indented under it (line 4)") in msgs
    assert any(m.startswith("stages[0].steps[0].path: unknown key `path`") and "inside applyYamlConfig" in m
               for m in msgs)
    assert any(m.startswith("stages[0].steps[1].runScriptConfig.env") and "stages[0].steps[1].env" in m
               for m in msgs)


def test_not_a_pipeline_is_refused_with_a_reason() -> None:
    for text, words in (
        ("", "empty"),
        ("just text", "holds text"),
        ("- a\n- b\n", "a list"),
        ("apiVersion: v1\nkind: Service\n", "Kubernetes Service"),
        ("pipeline {\n agent any\n}\n", "a Jenkinsfile"),
        ("stages:\n- name: [unclosed\n", "not valid YAML"),
    ):
        result = validate_text(text)
        assert not result.ok and result.config is None
        assert words in str(result.errors[0]), (text, result.errors)


def test_step_types_exactly_one_and_clone_only_first() -> None:
    text = (
        "stages:\n- name: s\n  steps:\n  - {}\n"
        "  - runScriptConfig: {image: a, shellScript: b}\n    publishImageConfig: {tag: t}\n"
        "  - sourceCodeConfig: {}\n"
    )
    msgs = [str(f) for f in validate_text(text).errors]
    assert any(m.startswith("stages[0].steps[0]: no step type") for m in msgs)
    assert any(m.startswith("stages[0].steps[1]: more than one step type") for m in msgs)
    assert any(m.startswith("stages[0].steps[2].sourceCodeConfig: the clone step can only") for m in msgs)


def test_all_errors_are_reported_not_just_the_first() -> None:
    text = (
        "timeout: true\nstages:\n- name: a\n  steps:\n  - runScriptConfig: {shellScript: x}\n"
        "- name: b\n  steps:\n  - runScriptConfig: {image: a, shellScript: b}\n    cpuLimit: lots\n"
        "    cache: {paths: [../../etc]}\n"
    )
    msgs = [str(f) for f in validate_text(text).errors]
    assert len(msgs) == 4, msgs
    assert any("timeout: must be a whole number of minutes, got True" in m for m in msgs)
    assert any("cache.paths[0]" in m and "`..`" in m for m in msgs)


def test_duplicate_keys_warn_and_multi_documents_warn() -> None:
    text = "timeout: 5\ntimeout: 6\nstages: []\n---\nx: 1\n"
    result = validate_text(text)
    assert result.ok and result.config is not None and result.config.timeout == 6
    msgs = [str(f) for f in result.warnings]
    assert any("timeout: duplicate key" in m and "(line 2" in m for m in msgs)
    assert any("2 YAML documents" in m for m in msgs)


def test_inline_config_data_validates_without_lines() -> None:
    result = validate_data({"stages": [{"name": "x", "steps": [{"runScriptConfig": {"shellScript": "a"}}]}]})
    assert [str(f) for f in result.errors] == ["stages[0].steps[0].runScriptConfig.image: required"]


def test_validation_does_not_change_the_input() -> None:
    data = {"stages": [{"name": "x", "steps": [{"runScriptConfig": {"image": "a", "shellScript": "b"},
                                                 "env": {"A": True}, "bogus": 1}]}]}
    before = repr(data)
    result = validate_data(data)
    assert repr(data) == before
    assert result.ok and [f.severity for f in result.findings] == [Severity.WARNING]
