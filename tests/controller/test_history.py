"""Bounded history: a pipeline keeps its newest `history.keepRuns` finished runs (and/or those
younger than `keepSeconds`); older executions go with their Workflows, ConfigMaps and Jenkins
jobs, and their logs stay readable by name through the archive index."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from tests.controller.harness import G, System, V, wait_for
from tests.controller.test_jenkins import _system
from tests.jenkins.double import JenkinsDouble
from tests.kube_double.server import KubeDouble
from tests.s3_server import S3Server
from translator.cli import main
from translator.controller import runs
from translator.controller.history import Run, index_key, to_prune

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def jenkins() -> Iterator[JenkinsDouble]:
    with JenkinsDouble() as double:
        double.state.stage_seconds = 0.05
        yield double


def test_which_runs_go() -> None:
    history = [Run(f"web-{n}", n, "Success" if n != 6 else "Building", f"2026-03-01T{n:02d}:00:00Z")
               for n in range(1, 8)]
    # newest 3 finished kept (7, 5, 4: 6 still runs); the rest go, oldest first
    assert to_prune(history, keep_runs=3, keep_seconds=0, now=NOW) == ["web-1", "web-2", "web-3"]
    # by age: ended more than 8 hours before noon
    assert to_prune(history, keep_runs=0, keep_seconds=8 * 3600, now=NOW) == ["web-1", "web-2", "web-3"]
    # either limit deletes (Jenkins' LogRotator); a running run and the pipeline's newest never go
    assert to_prune(history, keep_runs=5, keep_seconds=10 * 3600, now=NOW) == ["web-1"]
    assert to_prune(history, keep_runs=1, keep_seconds=0, now=NOW, newest="web-5") == ["web-1", "web-2", "web-3",
                                                                                       "web-4"]
    assert to_prune(history, keep_runs=0, keep_seconds=0, now=NOW) == []


def _run_in_turn(system: System, count: int) -> list[str]:
    names = []
    for _ in range(count):
        name = runs.create_run(system.kube, "team", "web")["metadata"]["name"]
        system.wait_state(name, "Success", timeout=30)
        names.append(name)
    return names


def test_argo_runs_beyond_the_history_go_with_their_workflows_and_configmaps() -> None:
    with KubeDouble() as kube:
        system = System(kube, quota=1, setting={"history": {"keepRuns": 2}})
        system.start_controller()
        try:
            system.apply_pipeline("web")
            names = _run_in_turn(system, 4)

            def left() -> list[str]:
                return sorted(e["metadata"]["name"] for e in system.kube.list("pipelineexecutions", "team")["items"])

            wait_for(lambda: left() == names[2:], timeout=15, what="the two oldest runs to be deleted")
            assert sorted(w["metadata"]["name"] for w in system.workflows()) == names[2:]
            maps = system.kube.call(system.kube.core.list_namespaced_config_map, "team").items
            assert sorted(m.metadata.name for m in maps if m.metadata.name.endswith("-scripts")) == [
                f"{n}-scripts" for n in names[2:]]
            status = system.kube.get("pipelines", "team", "web")["status"]
            assert status["lastExecutionId"] == names[-1] and status["nextRun"] == 5
        finally:
            system.close()


def test_deleted_runs_lose_their_jenkins_jobs_and_keep_their_logs(jenkins: JenkinsDouble,
                                                                 s3_server: S3Server) -> None:
    with KubeDouble() as kube:
        system = _system(kube, jenkins, s3=s3_server)
        system.kube.patch("pipelinesettings", "team", "default", {"spec": {"history": {"keepRuns": 1},
                                                                           "executorQuota": 1}})
        try:
            system.apply_pipeline("web")
            names = _run_in_turn(system, 3)
            wait_for(lambda: [e["metadata"]["name"] for e in system.kube.list("pipelineexecutions", "team")["items"]]
                     == names[2:], timeout=15, what="two runs deleted")
            assert sorted(jenkins.state.jobs) == ["team-web-3"], "the deleted runs' jobs go with them"
            index = json.loads(s3_server.client().get_object("pipeline-logs", index_key("team", "web-1")).read())
            assert index["execution"] == "web-1" and index["run"] == 1 and index["state"] == "Success"
            assert index["stages"][2]["steps"][0]["log"] == "team/web/1/2/0/main.log"
            shown = CliRunner().invoke(main, ["logs", "web-1", "--stage", "Ship", "-n", "team",
                                              "--kubeconfig", kube.kubeconfig])
            assert shown.exit_code == 0, shown.output
            lines = shown.stdout.splitlines()
            assert "deleted by its history setting" in lines[0]
            archived = s3_server.client().get_object("pipeline-logs", "team/web/1/2/0/main.log").read().decode()
            assert lines[1] == "==> stage 2 'Ship', step 1: Success <==" and lines[2:] == archived.splitlines()
            assert archived.startswith("+ run ship")
        finally:
            system.close()


def test_translator_history_pages_through_a_pipelines_runs() -> None:
    with KubeDouble() as kube:
        system = System(kube)  # no controller: the runs only need to exist
        try:
            system.apply_pipeline("web")
            for n in range(1, 8):
                system.kube.create("pipelineexecutions", "team", {
                    "apiVersion": f"{G}/{V}", "kind": "PipelineExecution",
                    "metadata": {"name": f"web-{n}", "labels": {runs.PIPELINE_LABEL: "web"}},
                    "spec": {"pipelineName": "web", "run": n}})
            seen: list[str] = []
            args = ["history", "web", "-n", "team", "--limit", "3", "--kubeconfig", kube.kubeconfig]
            pages = 0
            while True:
                out = CliRunner().invoke(main, args)
                assert out.exit_code == 0, out.output
                lines = out.stdout.splitlines()
                pages += 1
                rows = [line for line in lines[1:] if not line.startswith("--")]
                assert len(rows) <= 3
                seen += [row.split()[0] for row in rows]
                more = [line for line in lines if line.startswith("-- more")]
                if not more:
                    break
                args = [*more[0].split(": ", 1)[1].split()[1:], "--kubeconfig", kube.kubeconfig]  # as printed
            assert pages == 3 and sorted(seen) == sorted(f"web-{n}" for n in range(1, 8))
        finally:
            system.close()
