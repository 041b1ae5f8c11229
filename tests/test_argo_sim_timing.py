"""The timing model (tests/argo_sim_timing.py): pod starts, ReadWriteOnce attachment, Multi-Attach."""

from __future__ import annotations

from typing import Any

from tests.argo_sim_timing import Cluster, run
from translator.api.setting_types import PipelineSettingSpec
from translator.compiler.compile import compile_text
from translator.compiler.context import ExecutionContext

PARALLEL = """
stages:
- name: A
  steps:
  - runScriptConfig: {image: a, shellScript: a}
  - runScriptConfig: {image: a, shellScript: b}
  - runScriptConfig: {image: a, shellScript: c}
- name: B
  steps:
  - runScriptConfig: {image: a, shellScript: d}
"""
CLUSTER = Cluster(nodes=10, pod_start=3, attach=20, step_seconds=30)


def _wf(form: str, *, rwo: bool = False) -> dict[str, Any]:
    setting = PipelineSettingSpec.model_validate({"argo": {"runForm": form}})
    wf = compile_text(PARALLEL, ExecutionContext(), setting).objects[0]
    if rwo:
        wf["spec"]["volumeClaimTemplates"][0]["spec"]["accessModes"] = ["ReadWriteOnce"]
    return wf


def test_one_pod_pays_one_pod_start_whatever_its_step_count() -> None:
    timeline = run(_wf("pod"), CLUSTER)
    assert timeline.pods == 1 and timeline.stages == 3  # clone, A, B
    assert timeline.overhead == 3 and timeline.end == 3 + 3 * 30


def test_each_pod_of_a_pinned_run_pays_its_start_and_parallel_pods_start_together() -> None:
    timeline = run(_wf("pinned"), CLUSTER)
    assert timeline.pods == 5 and len(timeline.nodes) == 1
    assert timeline.overhead == 3 * 3  # one start per stage: a stage's pods start at once
    assert timeline.attach_waits == timeline.multi_attach == 0  # a hostPath attaches nothing


def test_a_rwo_volume_attached_to_another_node_makes_the_pod_wait_with_a_multi_attach_event() -> None:
    timeline = run(_wf("pvc", rwo=True), CLUSTER)
    assert timeline.multi_attach >= 3 and len(timeline.nodes) > 1
    # the parallel stage runs in series: each sibling waits for the one before to end and detach
    assert timeline.overhead > 3 * 30


def test_pods_on_the_node_the_volume_is_on_do_not_wait_for_it() -> None:
    timeline = run(_wf("pvc", rwo=True), Cluster(nodes=1, pod_start=3, attach=20, step_seconds=30))
    assert timeline.multi_attach == 0 and timeline.attach_waits == 1  # only the first attach
    assert timeline.overhead == 20 + 3 * 3


def test_local_storage_binds_every_pod_to_the_first_pods_node() -> None:
    cluster = Cluster(nodes=10, pod_start=3, attach=20, step_seconds=30, storage="local")
    timeline = run(_wf("pvc", rwo=True), cluster)
    assert len(timeline.nodes) == 1 and timeline.multi_attach == 0 and timeline.attach_waits == 0


def test_a_volume_that_allows_many_nodes_never_waits() -> None:
    timeline = run(_wf("pvc"), CLUSTER)  # ReadWriteMany
    assert timeline.multi_attach == timeline.attach_waits == 0 and len(timeline.nodes) > 1
