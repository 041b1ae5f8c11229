"""Pod names by Argo's rule (issue 10, finding 7): argo-workflows workflow/util/pod_name.go
GeneratePodName, unchanged from v3.6 to v4.1 (only its import paths differ), and its own
test cases (workflow/util/pod_name_v2_test.go, pod_name_v1_test.go)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.status.test_argo_samples import _sample, _tasks
from translator.status.argo import fnv1a_32, observe, pod_name

# the FNV-1a 32-bit test vectors of the algorithm's authors (draft-eastlake-fnv, "FNV-1a" column)
FNV_VECTORS = {"": 0x811C9DC5, "a": 0xE40C292C, "foobar": 0xBF9CF968}

# pod_name_v2_test.go TestPodNameV2: the long case
LONG_WF = ("alongworkflownamethatincludeslotsofdetailsandisessentiallyalargerunonsentencewithpoorstyleand"
           "nopunctuationtobehadwhatsoever")
LONG_TEMPLATE = ("alongtemplatenamethatincludessliightlymoredetailsandiscertainlyalargerunonstnencewitheven"
                 "worsestylisticconcernsandpreposterouslyeliminatespunctuation")


def _node(name: str, template: str, nid: str = "1", **more: Any) -> dict[str, Any]:
    return {"name": name, "templateName": template, "id": nid, "type": "Pod", **more}


@pytest.mark.parametrize(("text", "value"), sorted(FNV_VECTORS.items()))
def test_the_hash_is_fnv1a_32(text: str, value: int) -> None:
    assert fnv1a_32(text) == value


def test_argos_own_short_case() -> None:
    assert pod_name("wfname", _node("nodename", "templatename")) == f"wfname-templatename-{fnv1a_32('nodename')}"


def test_argos_own_long_case_keeps_a_242_character_prefix() -> None:
    name = pod_name(LONG_WF, _node("nodename", LONG_TEMPLATE))
    prefix = f"{LONG_WF}-{LONG_TEMPLATE}"[:242]
    assert name == f"{prefix}-{fnv1a_32('nodename')}"
    assert len(name) == 242 + 1 + len(str(fnv1a_32("nodename")))


def test_no_template_the_root_node_and_v1_names() -> None:
    assert pod_name("wfname", _node("stp.inline", "")) == f"wfname-{fnv1a_32('stp.inline')}"  # Argo's own case
    assert pod_name("wfname", _node("wfname", "main")) == "wfname"  # the Workflow's own node
    assert pod_name("wfname", _node("nodename", "templatename", nid="wfname-1234"), "v1") == "wfname-1234"
    ref = _node("w.t", "", templateRef={"name": "lib", "template": "build"})  # util.go GetTemplateFromNode
    assert pod_name("w", ref) == f"w-build-{fnv1a_32('w.t')}"


def test_a_63_character_workflow_keeps_its_whole_name_in_the_pod_name() -> None:
    """What status/argo.py got wrong: it cut `<workflow>-<template>` to 52 characters."""
    wf = "w" * 63
    template = "build-the-monorepo-and-publish-it"
    node_name = f"{wf}.{template}"
    expected = f"{wf}-{template}-{fnv1a_32(node_name)}"
    assert pod_name(wf, _node(node_name, template)) == expected
    workflow = {"metadata": {"name": wf}, "status": {"phase": "Running", "nodes": {
        "n": {**_node(node_name, template, nid=f"{wf}-{fnv1a_32(node_name)}"), "displayName": template,
              "phase": "Running"}}}}
    assert observe(workflow, [template]).steps[template].pod_name == expected


def test_the_workflows_pod_name_format_annotation_is_honoured() -> None:
    workflow = {"metadata": {"name": "w", "annotations": {"workflows.argoproj.io/pod-name-format": "v1"}},
                "status": {"nodes": {"w-99": {**_node("w.a", "a", nid="w-99"), "displayName": "a",
                                              "phase": "Running"}}}}
    assert observe(workflow, ["a"]).steps["a"].pod_name == "w-99"


@pytest.mark.parametrize("sample", ["dag_retry_succeeded.yaml", "dag-disable-fail-fast.yaml", "dag_xfail.yaml",
                                    "dag-exhausted-retries-xfail.yaml", "steps-failed-retries.yaml"])
def test_real_argo_node_ids_hash_the_node_name_as_pod_names_do(sample: str) -> None:
    """In Workflows written by a real controller, every node id is `<workflow>-<fnv1a(name)>`
    (Workflow.NodeID): the same hash GeneratePodName appends."""
    wf = _sample(sample)
    name = wf["metadata"]["name"]
    nodes = wf["status"]["nodes"]
    assert _tasks(wf)
    for nid, node in nodes.items():
        assert nid == (name if node["name"] == name else f"{name}-{fnv1a_32(node['name'])}")
