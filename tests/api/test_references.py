"""Values another system refuses later: the distribution reference grammar, commits, node names,
Go's filepath.Match."""

from __future__ import annotations

import pytest

from translator.api import globs
from translator.api.config_validation import validate_text
from translator.api.references import (
    commit_problem,
    dns_subdomain_problem,
    image_problem,
    push_tag_problem,
    with_placeholders,
)

SHA = "a" * 64


@pytest.mark.parametrize("ref", [
    "alpine", "alpine:3.20", "library/alpine", "docker.io/library/alpine:latest", "localhost:5000/app",
    "registry.example.com:8443/team/sub/app:v1.2.3-rc_1", f"alpine@sha256:{SHA}", f"alpine:3@sha256:{SHA}",
    "Registry.Example.COM/app", "[::1]:5000/app", "a__b/c--d.e:TAG", "x" * 255,
])
def test_image_references_distribution_accepts(ref: str) -> None:
    assert image_problem(ref) is None


@pytest.mark.parametrize("ref, why", [
    ("UPPER/Case:1", "must be lowercase"),
    ("alpine:", "tag after ':' is empty"),
    ("alpine::1", "not valid"),
    ("alpine@sha256:xyz", "not a digest"),
    (f"alpine@sha256:{'a' * 63}", "sha256 digest is 64"),
    (f"alpine@md5:{'a' * 32}", "not sha256"),
    ("http://docker.io/alpine", "no scheme"),
    ("alpine 3", "whitespace"),
    ("", "empty"),
    ("-alpine", "not an image reference"),
    ("a/" + "x" * 254, "at most 255"),
    ("alpine:" + "t" * 129, "not valid"),
])
def test_image_references_distribution_refuses(ref: str, why: str) -> None:
    problem = image_problem(ref)
    assert problem is not None and why in problem, problem


def test_publish_tags() -> None:
    assert push_tag_problem("me/app:1") is None
    assert push_tag_problem("a b") == "contains whitespace"
    assert push_tag_problem("x:") == "the tag after ':' is empty"
    assert "cannot be pushed to" in str(push_tag_problem(f"me/app@sha256:{SHA}"))
    assert with_placeholders("me/app:${CICD_EXECUTION_SEQUENCE}") == "me/app:x0"


def test_the_issue_s_images_and_tags_are_refused_with_their_line() -> None:
    text = "stages:\n- name: s\n  steps:\n" + "".join(
        f"  - runScriptConfig: {{image: '{image}', shellScript: x}}\n"
        for image in ("UPPER/Case:1", "alpine:", "alpine::1", "alpine@sha256:xyz", "http://docker.io/alpine")
    ) + "  - publishImageConfig: {tag: 'a b'}\n  - publishImageConfig: {tag: 'x:'}\n"
    errors = [str(f) for f in validate_text(text).errors]
    assert len(errors) == 7, errors
    assert errors[0].startswith("stages[0].steps[0].runScriptConfig.image: 'UPPER/Case:1' is not an image reference")
    assert errors[0].endswith("(line 4)")
    assert errors[5].startswith("stages[0].steps[5].publishImageConfig.tag: 'a b' cannot be pushed")
    assert errors[6].endswith("(line 10)")


@pytest.mark.parametrize("commit, ok", [
    ("", True), ("abc1234", True), ("A" * 40, True), ("f" * 64, True),
    ("abc", False), ("abc\n", False), ("SHA", False), ("g" * 40, False), ("a" * 65, False),
])
def test_commits_are_7_to_64_hex_digits(commit: str, ok: bool) -> None:
    assert (commit_problem(commit) is None) is ok


@pytest.mark.parametrize("name, ok", [
    ("node-1", True), ("ip-10-0-0-1.ec2.internal", True), ("a" * 253, True),
    ("node 2", False), ("Node1", False), ("-a", False), ("a." , False), ("", False), ("a" * 254, False),
])
def test_node_names_are_dns_subdomains(name: str, ok: bool) -> None:
    assert (dns_subdomain_problem(name) is None) is ok


@pytest.mark.parametrize("pattern, name, matched", [
    ("master", "master", True), ("feature/*", "feature/a", True), ("feature/*", "feature/a/b", False),
    ("*", "a/b", False), ("re*se", "release", True), ("v?.?", "v1.2", True), ("?", "/", False),
    ("[a-c]x", "bx", True), ("[^a-c]x", "bx", False), ("[z-a]", "b", False), ("a\\*", "a*", True),
    ("*.x", "a.b.x", True), ("", "", True), ("", "a", False),
])
def test_globs_match_as_go_filepath_match(pattern: str, name: str, matched: bool) -> None:
    assert globs.match(pattern, name) is matched


@pytest.mark.parametrize("pattern", ["[", "[a", "[]a]", "[a-]", "[-a]", "a\\", "x*[^]", "ok*[\\"])
def test_malformed_globs_are_err_bad_pattern_whether_or_not_the_name_matches_first(pattern: str) -> None:
    assert globs.problem(pattern) is not None
    for name in ("", "x", "ok-1", "master"):
        with pytest.raises(globs.BadPattern):
            globs.match(pattern, name)
