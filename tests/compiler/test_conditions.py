import pytest

from translator.api.config_types import Constraint, Constraints
from translator.compiler.conditions import constraint_matches, glob_match, when_matches


@pytest.mark.parametrize(("pattern", "value", "expected"), [
    ("master", "master", True),
    ("master", "main", False),
    ("feature/*", "feature/login", True),
    ("feature/*", "feature/a/b", False),  # Go's filepath.Match: * never crosses /
    ("release-?", "release-1", True),
    ("v[0-9]*", "v1.2.3", True),
    ("v[^0-9]*", "v1", False),
    ("[", "[", False),  # malformed pattern matches nothing
    ("a\\*", "a*", True),
])
def test_glob_match_is_go_filepath_match(pattern: str, value: str, expected: bool) -> None:
    assert glob_match(pattern, value) is expected


def test_exclude_wins_and_empty_include_matches_all() -> None:
    c = Constraint(include=["feature/*"], exclude=["feature/wip"])
    assert constraint_matches(c, "feature/x")
    assert not constraint_matches(c, "feature/wip")
    assert constraint_matches(Constraint(exclude=["dev"]), "anything")
    assert not constraint_matches(Constraint(exclude=["dev"]), "dev")
    assert constraint_matches(None, "x")


def test_when_needs_both_branch_and_event() -> None:
    when = Constraints(branch=Constraint(include=["master"]), event=Constraint(include=["tag"]))
    assert when_matches(when, branch="master", event="tag") == (True, "")
    runs, why = when_matches(when, branch="master", event="push")
    assert not runs and "event 'push'" in why
