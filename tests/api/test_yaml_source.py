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


def test_tabs_libyaml_accepts_are_accepted_with_lines_kept() -> None:
    """go-yaml (a libyaml port) accepted a tab after `:` and inside a plain scalar; PyYAML's
    pure-Python scanner refuses both."""
    doc = parse("stages:\n- name: a\n  steps:\n  - runScriptConfig:\n      image:\talpine\n"
                "      shellScript: echo a\tb\n")
    step = doc.data["stages"][0]["steps"][0]["runScriptConfig"]
    assert step == {"image": "alpine", "shellScript": "echo a\tb"}
    assert doc.line_of(("stages", 0, "steps", 0, "runScriptConfig", "image")) == 5
    assert doc.line_of(("stages", 0, "steps", 0, "runScriptConfig", "shellScript")) == 6


def test_tabs_libyaml_refuses_are_refused_with_their_line() -> None:
    with pytest.raises(YamlSyntaxError) as err:
        parse("a:\n  b: 1\n\tc: 2\n")
    assert err.value.line == 3


def test_only_the_first_document_is_read_like_go_yaml_unmarshal() -> None:
    doc = parse("a: 1\n---\nb: [unclosed\n")  # go-yaml's Unmarshal never reached the broken second one
    assert doc.data == {"a": 1} and doc.documents == 2


def test_local_tags_and_yaml11_value_key_keep_their_text() -> None:
    assert parse("a: !secret hello\nb: =\n").data == {"a": "hello", "b": "="}


def test_big_numbers_are_refused_briefly() -> None:
    with pytest.raises(YamlSyntaxError) as err:
        parse("timeout: " + "9" * 10_000 + "\n")
    assert len(err.value.message) < 120 and "10,000 characters" in err.value.message


def test_every_corpus_file_parses_as_before_or_better() -> None:
    """libyaml gives the same data as PyYAML's Python parser on every real file it could read."""
    import yaml

    from tests.helpers import shared_path

    files = sorted(shared_path("corpus", "rancher-pipelines", "files").glob("*"))
    same = 0
    for path in files:
        text = path.read_bytes().decode("utf-8", errors="replace").removeprefix("\ufeff")
        try:
            before = next(iter(yaml.load_all(text, Loader=yaml.SafeLoader)), None)
        except yaml.YAMLError:
            continue  # refused before: may be read now (tabs), checked by test_corpus
        assert parse(text).data == before, path.name
        same += 1
    assert same >= 210
