"""Status mapping on Workflows written by the real Argo controller (../shared/argo/status-samples)."""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

import yaml

from tests.helpers import shared_path
from translator.api.states import State
from translator.status.argo import observe


def _sample(name: str) -> dict[str, Any]:
    """A sample as the API server would serve it: timestamps are strings there."""
    loaded = yaml.safe_load(shared_path("argo", "status-samples", name).read_text())
    as_api: dict[str, Any] = json.loads(json.dumps(loaded, default=lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ")))
    return as_api


def _tasks(wf: dict[str, Any]) -> list[str]:
    out = []
    for t in wf["spec"]["templates"]:
        out += [task["name"] for task in t.get("dag", {}).get("tasks", [])]
        out += [s["name"] for group in t.get("steps", []) for s in group]
    return out


def _states(wf: dict[str, Any]) -> dict[str, State]:
    return {k: v.state for k, v in observe(wf, _tasks(wf)).steps.items()}


def test_retry_node_is_the_step_and_its_last_attempt_the_pod() -> None:
    wf = _sample("dag_retry_succeeded.yaml")
    obs = observe(wf, _tasks(wf))
    step = obs.steps["step1"]
    assert step.state is State.SUCCESS and step.phase == "Succeeded"
    assert (step.started, step.ended) == ("2018-08-01T10:22:43Z", "2018-08-01T10:23:09Z")
    assert step.pod_name == "dag-with-retries-4wkh8-randomly-fail-2172006682"
    assert obs.state is State.BUILDING and not obs.finished  # this sample has no workflow phase yet


def test_disabled_fail_fast_failed_retry_and_finished_workflow() -> None:
    wf = _sample("dag-disable-fail-fast.yaml")
    obs = observe(wf, _tasks(wf))
    assert _states(wf) == {"A": State.SUCCESS, "B": State.SUCCESS, "C": State.FAILED,
                           "D": State.SUCCESS, "E": State.SUCCESS}
    assert obs.steps["C"].message == "No more retries left"
    assert obs.state is State.FAILED and obs.finished


def test_omitted_task_is_skipped_and_host_node_is_read() -> None:
    wf = _sample("dag-exhausted-retries-xfail.yaml")
    obs = observe(wf, _tasks(wf))
    assert obs.steps["success2"].state is State.SKIPPED
    assert obs.steps["success2"].message.startswith("omitted")
    assert obs.steps["success1"].host_node == "minikube"
    assert obs.steps["sub-dag1"].state is State.FAILED


def test_failed_pod_while_workflow_runs() -> None:
    wf = _sample("dag_xfail.yaml")
    assert _states(wf) == {"A": State.SUCCESS, "B": State.SUCCESS, "C": State.FAILED}
    assert observe(wf, _tasks(wf)).state is State.BUILDING


def test_steps_workflow_is_read_by_display_name() -> None:
    wf = _sample("steps-failed-retries.yaml")
    assert _states(wf) == {"fail": State.FAILED, "delayed-fail": State.BUILDING}


def test_compressed_nodes_give_the_same_observation() -> None:
    for name in ("dag-disable-fail-fast.yaml", "dag-exhausted-retries-xfail.yaml"):
        wf = _sample(name)
        plain = observe(wf, _tasks(wf))
        nodes = wf["status"].pop("nodes")
        wf["status"]["compressedNodes"] = base64.b64encode(gzip.compress(json.dumps(nodes).encode())).decode()
        assert observe(wf, _tasks(wf)) == plain


def test_unknown_tasks_are_simply_not_observed() -> None:
    wf = _sample("dag_xfail.yaml")
    assert "nope" not in observe(wf, ["nope"]).steps
