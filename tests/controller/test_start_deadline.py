"""Steps whose pod cannot start (finding 10): the step says why at once, the run fails after the
start deadline with the kubelet's reason, and a step that gets going in time is not touched."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.controller.harness import System, wait_for
from tests.kube_double.server import KubeDouble
from translator.controller import runs

BAD_IMAGE = {"stages": [{"name": "Build", "steps": [
    {"runScriptConfig": {"image": "sh", "shellScript": "echo hi"}},  # a real file's mistake (the corpus)
    {"runScriptConfig": {"image": "alpine", "shellScript": "sleep 1"}}]}]}
SECRET_ENV = {"stages": [{"name": "Build", "steps": [
    {"runScriptConfig": {"image": "node", "shellScript": "npm publish"},
     "envFrom": [{"sourceName": "npm-token", "sourceKey": "token", "targetKey": "NPM_TOKEN"}]}]}]}


@pytest.fixture
def system() -> Iterator[System]:
    with KubeDouble() as kube:
        sys_ = System(kube, setting={"argo": {"runForm": "pinned"}})  # a pod per step: each step's own reason
        try:
            yield sys_
        finally:
            sys_.close()


def _step(system: System, name: str, stage: int, step: int) -> dict[str, Any]:
    return dict(system.execution(name)["status"]["stages"][stage]["steps"][step])


def _built(ex: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in ex["status"]["conditions"] if c["type"] == "Built")


def test_a_step_waiting_on_a_bad_image_says_why_within_seconds(system: System) -> None:
    system.sim.missing_images = {"sh"}
    system.start_controller()
    system.apply_pipeline("web", BAD_IMAGE)
    runs.create_run(system.kube, "team", "web")
    step = wait_for(lambda: "ImagePull" in _step(system, "web-1", 1, 0)["message"] and _step(system, "web-1", 1, 0),
                    timeout=5, what="the step's message to name the pull error")
    assert step["state"] == "Waiting"
    assert step["message"].startswith(("ErrImagePull: ", 'ImagePullBackOff: Back-off pulling image "sh"'))
    assert system.state("web-1") == "Building"  # the default deadline (300 s) is far away


def test_a_run_whose_step_cannot_start_fails_after_the_start_deadline(system: System) -> None:
    system.sim.missing_images = {"sh"}
    system.sim.paused = {"build-2"}
    system.start_controller(start_deadline_seconds=2)
    system.apply_pipeline("web", BAD_IMAGE)
    runs.create_run(system.kube, "team", "web")
    wait_for(lambda: "ImagePull" in _step(system, "web-1", 1, 0)["message"], timeout=5)
    assert system.state("web-1") == "Building"
    ex = system.wait_state("web-1", "Failed", timeout=10)
    stuck, sibling = ex["status"]["stages"][1]["steps"]
    assert stuck["state"] == "Failed"
    assert stuck["message"] == 'could not start within 2 s: ImagePullBackOff: Back-off pulling image "sh"'
    assert sibling["state"] == "Aborted"
    built = _built(ex)
    assert built["status"] == "False" and built["reason"] == "ImagePullBackOff"
    assert built["message"] == ("stage 'Build' step 1 could not start within 2 s: ImagePullBackOff: "
                                'Back-off pulling image "sh"')
    assert system.workflows()[0]["spec"]["shutdown"] == "Terminate"  # its pods go too


def test_a_missing_secret_fails_the_run_with_create_container_config_error(system: System) -> None:
    system.start_controller(start_deadline_seconds=1)
    system.apply_pipeline("web", SECRET_ENV)
    runs.create_run(system.kube, "team", "web")
    ex = system.wait_state("web-1", "Failed", timeout=10)
    assert ex["status"]["stages"][1]["steps"][0]["message"] == \
        'could not start within 1 s: CreateContainerConfigError: secret "npm-token" not found'
    assert _built(ex)["reason"] == "CreateContainerConfigError"


def test_a_step_that_starts_before_the_deadline_runs_on(system: System) -> None:
    system.start_controller(start_deadline_seconds=4)
    system.apply_pipeline("web", SECRET_ENV)
    runs.create_run(system.kube, "team", "web")
    wait_for(lambda: "CreateContainerConfigError" in _step(system, "web-1", 1, 0)["message"], timeout=5)
    system.secret("npm-token", {"token": "t"})  # the kubelet retries: the pod starts
    ex = system.wait_state("web-1", "Success", timeout=10)
    assert ex["status"]["stages"][1]["steps"][0]["message"] == ""
