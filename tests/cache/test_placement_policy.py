"""Placement from the inventory and the recency list; both engines get the same affinity."""

from __future__ import annotations

import yaml
from hypothesis import given
from hypothesis import strategies as st

from translator.cache.placement import placement
from translator.compiler.compile import compile_text
from translator.compiler.context import ExecutionContext

PIPELINE = """
stages:
- name: Build
  cache: {paths: [/root/.cache]}
  steps:
  - runScriptConfig: {image: alpine, shellScript: make}
"""


def test_holders_first_then_recency_without_evicted_nodes() -> None:
    prefs = placement(["h1", "h2"], ["r1", "h2", "gone", "r2", "r3"], {"gone"}, max_nodes=2)
    assert [(p.node, p.weight) for p in prefs] == [("h1", 100), ("h2", 75), ("r1", 50), ("r2", 25)]


nodes = st.lists(st.text(alphabet="abcdef", min_size=1, max_size=3), max_size=150)


@given(nodes, nodes, st.sets(st.text(alphabet="abcdef", min_size=1, max_size=3)), st.integers(1, 100))
def test_weights_strictly_descend_within_1_to_100(holders: list[str], recency: list[str], evicted: set[str],
                                                  max_nodes: int) -> None:
    prefs = placement(holders, recency, evicted, max_nodes)
    weights = [p.weight for p in prefs]
    assert all(1 <= w <= 100 for w in weights) and weights == sorted(set(weights), reverse=True)
    names = [p.node for p in prefs]
    assert len(names) == len(set(names)) <= 100
    assert not set(names) & (evicted - set(holders))
    held = list(dict.fromkeys(holders))[:100]
    assert names[: len(held)] == held


def test_argo_and_jenkins_get_the_same_affinity() -> None:
    ctx = ExecutionContext(pipeline="web", run=2, cache_nodes=("r1",), cache_holders=("h1", "h2"), cache_wait=True)
    argo = compile_text(PIPELINE, ctx)
    jenkins = compile_text(PIPELINE, ctx, engine="jenkins")
    assert argo.objects and jenkins.jenkins
    wf = next(o for o in argo.objects if o["kind"] == "Workflow")
    text = jenkins.jenkins.jenkinsfile
    pod_yaml = text.split("yaml: '", 1)[1].split("') {", 1)[0].encode().decode("unicode_escape")
    pod = yaml.safe_load(pod_yaml)
    assert pod["spec"]["affinity"] == wf["spec"]["affinity"]
    required = wf["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert required["nodeSelectorTerms"][0]["matchExpressions"][0]["values"] == ["h1", "h2"]
