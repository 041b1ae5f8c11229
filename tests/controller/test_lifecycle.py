"""End to end through the API double and the Argo simulator, with the real controller."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.compiler.views import containers
from tests.controller.harness import SIMPLE, System, wait_for
from translator.controller import runs


def test_apply_run_success_with_every_stage_and_step_timed(system: System) -> None:
    system.apply_pipeline("web")
    created = runs.create_run(system.kube, "team", "web", user="alice")
    assert created["metadata"]["name"] == "web-1"
    ex = system.wait_state("web-1", "Success")
    status = ex["status"]
    assert [s["name"] for s in status["stages"]] == ["Clone", "Build", "Ship"]
    for stage in status["stages"]:
        assert stage["state"] == "Success" and stage["started"] and stage["ended"]
        for step in stage["steps"]:
            assert step["state"] == "Success" and step["started"] and step["ended"]
    assert status["started"] and status["ended"] and status["duration"]
    conds = {c["type"]: c for c in status["conditions"]}
    assert conds["Initialized"]["status"] == conds["Provisioned"]["status"] == conds["Built"]["status"] == "True"
    assert status["engineRef"] == {"engine": "argo", "workflowName": "web-1", "workflowNamespace": "team",
                                   "jenkinsJob": "", "jenkinsBuild": 0}
    wf = system.workflows()[0]
    assert wf["metadata"]["ownerReferences"][0]["name"] == "web-1"
    pipeline = system.pipeline_when("web", lambda st: st.get("lastRunState") == "Success")
    assert pipeline["status"]["lastExecutionId"] == "web-1" and pipeline["status"]["nextRun"] == 2


def test_failing_step_fails_the_run_naming_it_and_later_stages_wait(system: System) -> None:
    system.sim.outcome = lambda _wf, task: "Failed" if task == "build-2" else "Succeeded"
    system.apply_pipeline("web")
    runs.create_run(system.kube, "team", "web")
    ex = system.wait_state("web-1", "Failed")
    stages = ex["status"]["stages"]
    assert stages[1]["steps"][1]["state"] == "Failed"
    assert stages[1]["steps"][0]["state"] in ("Success", "Aborted")
    assert stages[2]["steps"][0]["state"] == "Waiting"
    built = next(c for c in ex["status"]["conditions"] if c["type"] == "Built")
    assert built["reason"] == "StepFailed" and "'Build' step 2 failed" in built["message"]


def test_when_skipped_step_is_skipped(system: System) -> None:
    config = {"stages": [{"name": "Build", "steps": [
        {"runScriptConfig": {"image": "a", "shellScript": "x"}},
        {"runScriptConfig": {"image": "a", "shellScript": "y"}, "when": {"branch": "release/*"}}]}]}
    system.apply_pipeline("web", config)
    runs.create_run(system.kube, "team", "web", branch="master")
    ex = system.wait_state("web-1", "Success")
    step = ex["status"]["stages"][1]["steps"][1]
    assert step["state"] == "Skipped" and "when.branch" in step["message"]


def test_queueing_at_the_quota_in_creation_order(system: System) -> None:
    system.sim.paused = {"build-1"}
    system.apply_pipeline("web")
    for _ in range(4):
        runs.create_run(system.kube, "team", "web")
    wait_for(lambda: sum(system.state(f"web-{i}") == "Building" for i in range(1, 5)) == 2)
    assert system.wait_state("web-3", "Queueing") and system.wait_state("web-4", "Queueing")
    assert {system.state("web-1"), system.state("web-2")} == {"Building"}
    system.sim.paused = set()
    for i in range(1, 5):
        system.wait_state(f"web-{i}", "Success", timeout=20)
    assert len(system.workflows()) == 4


def test_stop_aborts_the_run_and_names_who(system: System) -> None:
    system.sim.paused = {"build-1", "build-2"}
    system.apply_pipeline("web")
    runs.create_run(system.kube, "team", "web")
    wait_for(lambda: system.execution("web-1")["status"]["stages"][1]["steps"][0]["state"] == "Building")
    runs.request_stop(system.kube, "team", "web-1", "alice")
    ex = system.wait_state("web-1", "Aborted")
    assert system.workflows()[0]["spec"]["shutdown"] == "Terminate"
    steps = ex["status"]["stages"][1]["steps"]
    assert [s["state"] for s in steps] == ["Aborted", "Aborted"]
    assert steps[0]["message"] == "stopped by alice"


def test_rerun_and_rerun_from_failed(system: System) -> None:
    config = {"stages": [
        {"name": "A", "steps": [{"runScriptConfig": {"image": "a", "shellScript": "1"}}]},
        {"name": "B", "steps": [{"runScriptConfig": {"image": "a", "shellScript": "2"}},
                                {"runScriptConfig": {"image": "a", "shellScript": "3"}}]},
        {"name": "C", "steps": [{"runScriptConfig": {"image": "a", "shellScript": "4"}}]}]}
    system.sim.outcome = lambda _wf, task: "Failed" if task == "b-2" else "Succeeded"
    system.sim.step_seconds = 0.2
    system.apply_pipeline("web", config)
    runs.create_run(system.kube, "team", "web")
    failed = system.wait_state("web-1", "Failed")
    assert [s["state"] for s in failed["status"]["stages"][2]["steps"]] == ["Success", "Failed"] or \
        failed["status"]["stages"][2]["steps"][1]["state"] == "Failed"
    system.sim.outcome = lambda _wf, _task: "Succeeded"
    again = runs.rerun(system.kube, "team", "web-1")
    assert again["metadata"]["name"].startswith("web-run-") and again["spec"]["rerunOf"] == "web-1"
    assert system.wait_state(again["metadata"]["name"], "Success")["spec"]["run"] == 2  # numbered by the controller
    partial = runs.rerun(system.kube, "team", "web-1", from_failed=True)
    ex = system.wait_state(partial["metadata"]["name"], "Success")
    assert ex["spec"]["run"] == 3
    a_step = ex["status"]["stages"][1]["steps"][0]
    assert a_step["state"] == "Skipped" and a_step["message"] == "reused from run 1"
    assert ex["status"]["stages"][2]["steps"][1]["state"] == "Success"
    assert ex["status"]["stages"][3]["steps"][0]["state"] == "Success"
    wf = next(w for w in system.workflows() if w["metadata"]["name"] == ex["status"]["engineRef"]["workflowName"])
    assert "a" not in containers(wf) and "b-2" in containers(wf)  # one pod: a reused step is left out of it


def test_second_run_prefers_the_first_runs_node(system: System) -> None:
    config = {"stages": [{"name": "Build", "cache": {"paths": ["/root/.m2"]},
                          "steps": [{"runScriptConfig": {"image": "maven", "shellScript": "mvn package"}}]}]}
    system.apply_pipeline("web", config)
    runs.create_run(system.kube, "team", "web")
    system.wait_state("web-1", "Success")
    first_node = next(n for wf, t, n in system.sim.placements if wf == "web-1" and t == "build")
    pipeline = system.pipeline_when("web", lambda st: st.get("cacheNodes"))
    assert pipeline["status"]["cacheNodes"][0]["node"] == first_node
    assert pipeline["status"]["cacheNodes"][0]["run"] == 1
    runs.create_run(system.kube, "team", "web")
    system.wait_state("web-2", "Success")
    wf = next(w for w in system.workflows() if w["metadata"]["name"] == "web-2")
    terms = wf["spec"]["affinity"]["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert terms[0]["preference"]["matchExpressions"][0]["values"] == [first_node]
    assert next(n for w, t, n in system.sim.placements if w == "web-2" and t == "build") == first_node


def test_workflow_deleted_mid_run_fails_with_a_reason(system: System) -> None:
    system.sim.paused = {"build-1"}
    system.apply_pipeline("web")
    runs.create_run(system.kube, "team", "web")
    system.wait_state("web-1", "Building")
    wait_for(lambda: system.workflows())
    system.kube.call(system.kube.custom.delete_namespaced_custom_object, "argoproj.io", "v1alpha1", "team",
                     "workflows", "web-1")
    ex = system.wait_state("web-1", "Failed", timeout=5)
    built = next(c for c in ex["status"]["conditions"] if c["type"] == "Built")
    assert built["reason"] == "EngineObjectLost" and "deleted or lost" in built["message"]


def test_pod_that_vanished_fails_the_run(system: System) -> None:
    system.sim.paused = {"build-1"}
    system.apply_pipeline("web")
    runs.create_run(system.kube, "team", "web")
    wait_for(lambda: system.execution("web-1")["status"]["stages"][1]["steps"][0]["state"] == "Building")
    system.sim.delete_pod("team", "web-1", "build-1")
    ex = system.wait_state("web-1", "Failed", timeout=5)
    # one pod: Argo errors every container of a deleted pod, even those that had ended
    # (operator.go markAllContainersDeleted), so the first step carries the cause
    assert ex["status"]["stages"][0]["steps"][0]["message"] == "container deleted"
    built = next(c for c in ex["status"]["conditions"] if c["type"] == "Built")
    assert built["status"] == "False" and "container deleted" in built["message"]


def test_execution_created_with_kubectl_gets_snapshot_and_number(system: System) -> None:
    system.apply_pipeline("web")
    system.kube.create("pipelineexecutions", "team", {
        "apiVersion": "devops.cubepaas.io/v1alpha1", "kind": "PipelineExecution",
        "metadata": {"name": "by-hand"}, "spec": {"pipelineName": "web", "run": 7, "branch": "master"}})
    ex = system.wait_state("by-hand", "Success")
    assert ex["spec"]["pipelineConfig"]["stages"][0]["name"] == "Build"
    assert ex["spec"]["run"] == 7
    assert system.kube.get("pipelines", "team", "web")["status"]["nextRun"] == 8
    system.kube.create("pipelineexecutions", "team", {
        "apiVersion": "devops.cubepaas.io/v1alpha1", "kind": "PipelineExecution",
        "metadata": {"name": "numberless"}, "spec": {"pipelineName": "web"}})
    assert system.wait_state("numberless", "Success")["spec"]["run"] == 8


def test_run_annotation_starts_a_run_once(system: System) -> None:
    system.apply_pipeline("web")
    system.kube.patch("pipelines", "team", "web", {"metadata": {"annotations": {runs.RUN_ANNOTATION: "t1"}}})
    system.wait_state("web-1", "Success")
    system.kube.patch("pipelines", "team", "web", {"metadata": {"labels": {"touched": "yes"}}})
    system.kube.patch("pipelines", "team", "web", {"metadata": {"annotations": {runs.RUN_ANNOTATION: "t2"}}})
    system.wait_state("web-2", "Success")
    names = [e["metadata"]["name"] for e in system.kube.list("pipelineexecutions", "team")["items"]]
    assert sorted(names) == ["web-1", "web-2"]


def test_simultaneous_run_requests_never_share_a_number(system: System) -> None:
    import threading

    system.apply_pipeline("web", SIMPLE)
    made: list[str] = []
    threads = [threading.Thread(target=lambda: made.append(runs.create_run(system.kube, "team", "web")
                                                           ["metadata"]["name"])) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(made) == sorted(f"web-{i}" for i in range(1, 9))


def test_invalid_inline_config_and_missing_pipeline_fail_cleanly(system: System) -> None:
    system.apply_pipeline("bad", {"stages": [{"name": "x", "steps": [{"runScriptConfig": {"shellScript": "y"}}]}]})
    system.kube.create("pipelineexecutions", "team", {
        "apiVersion": "devops.cubepaas.io/v1alpha1", "kind": "PipelineExecution",
        "metadata": {"name": "bad-1"}, "spec": {"pipelineName": "bad", "run": 1}})
    ex = system.wait_state("bad-1", "Failed")
    cond = next(c for c in ex["status"]["conditions"] if c["type"] == "Initialized")
    assert cond["reason"] == "InvalidConfig" and "runScriptConfig.image: required" in cond["message"]
    system.kube.create("pipelineexecutions", "team", {
        "apiVersion": "devops.cubepaas.io/v1alpha1", "kind": "PipelineExecution",
        "metadata": {"name": "ghost-1"}, "spec": {"pipelineName": "ghost", "run": 1}})
    ex = system.wait_state("ghost-1", "Failed")
    assert next(c for c in ex["status"]["conditions"] if c["type"] == "Initialized")["reason"] == "PipelineNotFound"


def test_pipeline_without_inline_config_reads_the_file_from_git(system: System, tmp_path: Path) -> None:
    repo = tmp_path / "app"
    repo.mkdir()

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True,
                       env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t",
                            "GIT_COMMITTER_EMAIL": "t@x", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})

    git("init", "-q", "-b", "main")
    (repo / ".rancher-pipeline.yml").write_text(
        "stages:\n- name: From git\n  steps:\n  - runScriptConfig: {image: alpine, shellScript: echo hi}\n")
    git("add", ".")
    git("commit", "-q", "-m", "pipeline")
    system.kube.create("pipelines", "team", {
        "apiVersion": "devops.cubepaas.io/v1alpha1", "kind": "Pipeline", "metadata": {"name": "app"},
        "spec": {"repositoryUrl": f"file://{repo}", "defaultBranch": "main"}})
    runs.create_run(system.kube, "team", "app")
    ex = system.wait_state("app-1", "Success")
    assert ex["spec"]["pipelineConfig"]["stages"][0]["name"] == "From git"
    # a later branch without the file: a clear reason
    git("checkout", "-q", "-b", "empty")
    git("rm", "-q", ".rancher-pipeline.yml")
    git("commit", "-q", "-m", "no pipeline")
    runs.create_run(system.kube, "team", "app", branch="empty")
    ex = system.wait_state("app-2", "Failed")
    cond = next(c for c in ex["status"]["conditions"] if c["type"] == "Initialized")
    assert cond["reason"] == "ConfigNotFound" and ".rancher-pipeline.yml" in cond["message"]
