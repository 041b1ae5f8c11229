import pytest

from translator.api.yaml_source import YamlSyntaxError, format_path, parse


def test_positions_point_at_keys_and_items() -> None:
    doc = parse("stages:\n- name: a\n  steps:\n  - runScriptConfig:\n      image: x\n")
    assert doc.line_of(("stages", 0, "name")) == 2
    assert doc.line_of(("stages", 0, "steps", 0, "runScriptConfig", "image")) == 5
    # a missing key is reported at its nearest ancestor
    assert doc.line_of(("stages", 0, "steps", 0, "runScriptConfig", "shellScript")) == 4


def test_raw_text_of_scalars_is_kept() -> None:
    doc = parse("version: 1.10\nflag: yes\n")
    assert doc.data == {"version": 1.1, "flag": True}
    assert doc.raw_text(("version",)) == "1.10"
    assert doc.raw_text(("flag",)) == "yes"


def test_duplicate_keys_are_recorded_and_the_later_wins() -> None:
    doc = parse("timeout: 10\ntimeout: 20\n")
    assert doc.data == {"timeout": 20}
    assert [(p, pos.line) for p, pos in doc.duplicates] == [(("timeout",), 2)]


def test_bom_is_ignored_and_syntax_errors_carry_line_and_column() -> None:
    assert parse("\ufefftimeout: 5\n").data == {"timeout": 5}
    with pytest.raises(YamlSyntaxError) as err:
        parse("a:\n\tb: 1\n")
    assert (err.value.line, err.value.column) == (2, 1)


def test_multi_document_files_report_their_count() -> None:
    doc = parse("a: 1\n---\nb: 2\n")
    assert doc.data == {"a": 1} and doc.documents == 2


def test_format_path() -> None:
    assert format_path(("stages", 1, "steps", 0, "env")) == "stages[1].steps[0].env"
    assert format_path(()) == "(top level)"
