"""Property-based: for generated configs, names and scripts the compiler either returns a
Workflow valid for every supported Argo version (3.6 to 4.1: its schemas, unknown keys
forbidden, and what its controller refuses) or a validation error, never an exception, and is
deterministic."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.argo_sim_rules import refusal
from tests.helpers import ARGO_VERSIONS, argo_schema_errors
from translator.compiler.compile import compile_text
from translator.compiler.context import ExecutionContext

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
names = st.one_of(text, st.sampled_from(["Build", "build", "9x", "日本語", "a" * 100, "{{workflow.name}}", ""]))
scripts = st.one_of(text, st.sampled_from(["{{workflow.name}}", "'''", '"""', "${X}", "\\", "a\nb", "{{=1}}"]))
globs = st.lists(st.sampled_from(["master", "dev", "feature/*", "[", "v?", "*"]), max_size=3)
constraint = st.one_of(st.none(), st.sampled_from(["master", "dev"]), globs,
                       st.fixed_dictionaries({}, optional={"include": globs, "exclude": globs}))
when = st.one_of(st.none(), st.fixed_dictionaries({}, optional={
    "branch": constraint, "event": st.sampled_from(["push", "tag", ["push", "pull_request"], "bogus"])}))


@st.composite
def steps(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["run", "publish", "yaml", "app", "catalog", "broken"]))
    step: dict[str, Any]
    if kind == "run":
        step = {"runScriptConfig": {"image": draw(st.sampled_from(["alpine", "a b", "", "x/y:1"])),
                                    "shellScript": draw(scripts)}}
    elif kind == "publish":
        step = {"publishImageConfig": {"tag": draw(st.sampled_from(["a:1", "me/a:${CICD_GIT_COMMIT}"])),
                                       "pushRemote": draw(st.booleans())}}
    elif kind == "yaml":
        step = {"applyYamlConfig": draw(st.sampled_from([{"path": "./k.yaml"}, {"content": "a: b"}, {}]))}
    elif kind == "app":
        step = {"applyAppConfig": {"catalogTemplate": "c:lib-x", "version": "1", "name": draw(names),
                                   "targetNamespace": "ns", "answers": {"a.b": draw(scripts)}}}
    elif kind == "catalog":
        step = {"publishCatalogConfig": {"path": ".", "catalogTemplate": "t", "version": "1", "gitUrl": "u"}}
    else:
        step = draw(st.sampled_from([{}, {"env": {"A": 1}}, {"runScriptConfig": None}]))
    if draw(st.booleans()):
        step["env"] = draw(st.dictionaries(st.sampled_from(["A", "B_1", "bad=name", ""]), scripts, max_size=2))
    if draw(st.booleans()):
        step["when"] = draw(when)
    if draw(st.booleans()):
        step["cache"] = {"paths": draw(st.lists(st.sampled_from(
            ["/c", "rel/dir", "./rel/dir/", "../up", "", ".", "/workspace", "/c/"]), max_size=3))}
    return step


configs = st.fixed_dictionaries(
    {"stages": st.lists(st.fixed_dictionaries(
        {"name": names, "steps": st.lists(steps(), min_size=0, max_size=3)},
        optional={"when": when}), max_size=4)},
    optional={"timeout": st.integers(-5, 600), "branch": constraint, "bogusKey": text},
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=configs, branch=st.sampled_from(["master", "dev", "feature/x", "feature/a/b"]),
       event=st.sampled_from(["push", "pull_request", "tag"]),
       pipeline=st.sampled_from(["p", "a" * 63, "x-y"]), run=st.integers(1, 10**6),
       execution=st.sampled_from(["", "e" * 200 + "-cron-202501011200", "w" * 62 + "-1", "dots.in.name-2"]))
def test_compiler_is_total_valid_and_deterministic(
    config: dict[str, Any], branch: str, event: str, pipeline: str, run: int, execution: str,
) -> None:
    source = yaml.safe_dump(config, allow_unicode=True)
    ctx = ExecutionContext(pipeline=pipeline, run=run, branch=branch, event=event, cache_nodes=("n1",),
                           execution=execution)
    first = compile_text(source, ctx)
    second = compile_text(source, ctx)
    assert [str(f) for f in first.findings] == [str(f) for f in second.findings]
    if not first.ok:
        assert any(f.severity.value == "error" for f in first.findings)
        return
    assert first.objects == second.objects
    assert argo_schema_errors(first.objects[0]) == []
    assert [refusal(first.objects[0], v) for v in ARGO_VERSIONS] == [""] * len(ARGO_VERSIONS)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_any_text_is_compiled_or_refused_never_raises(source: str) -> None:
    result = compile_text(source, ExecutionContext())
    assert result.ok or result.findings
