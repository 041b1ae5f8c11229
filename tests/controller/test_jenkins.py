"""The Jenkins engine through the real controller: the API double for Kubernetes, the HTTP
double for Jenkins, a real S3 server for the archived logs."""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Iterator
from typing import Any
from xml.etree import ElementTree

import pytest

from tests.controller.harness import System, wait_for
from tests.jenkins import script_model
from tests.jenkins.double import JenkinsDouble
from tests.kube_double.server import KubeDouble
from tests.s3_server import ACCESS_KEY, SECRET_KEY, S3Server
from translator.controller import runs
from translator.engines.jenkins import JenkinsEngine
from translator.logs.archive import log_key


@pytest.fixture
def jenkins() -> Iterator[JenkinsDouble]:
    with JenkinsDouble() as double:
        double.state.stage_seconds = 0.05
        yield double


def _system(kube: KubeDouble, jenkins: JenkinsDouble, *, s3: S3Server | None = None, secret: str = "secret",
            jenkins_setting: dict[str, Any] | None = None, **cfg: Any) -> System:
    setting: dict[str, Any] = {"jenkins": {"url": jenkins.url, "credentialsSecret": "jenkins-creds",
                                           **(jenkins_setting or {})}}
    if s3 is not None:
        setting["logs"] = {"endpoint": s3.endpoint, "bucket": "pipeline-logs", "insecure": True,
                           "credentialsSecret": "log-store"}
    system = System(kube, engine="jenkins", setting=setting)
    system.secret("jenkins-creds", {"username": "admin", "token": secret})
    system.secret("log-store", {"accesskey": ACCESS_KEY, "secretkey": SECRET_KEY})
    controller = system.start_controller(**cfg)
    engine = controller.registry.get("jenkins")
    assert isinstance(engine, JenkinsEngine)
    engine.poll_seconds = 0.05
    engine.attempts = 1
    return system


@pytest.fixture
def system(jenkins: JenkinsDouble) -> Iterator[System]:
    with KubeDouble() as kube:
        sys_ = _system(kube, jenkins)
        try:
            yield sys_
        finally:
            sys_.close()


def _view(ex: dict[str, Any]) -> list[tuple[str, str, list[str]]]:
    return [(s["name"], s["state"], [t["state"] for t in s["steps"]]) for s in ex["status"]["stages"]]


def test_a_run_on_jenkins_succeeds_with_every_step_timed(system: System, jenkins: JenkinsDouble) -> None:
    system.apply_pipeline("web")
    runs.create_run(system.kube, "team", "web")
    ex = system.wait_state("web-1", "Success")
    assert _view(ex) == [("Clone", "Success", ["Success"]), ("Build", "Success", ["Success", "Success"]),
                         ("Ship", "Success", ["Success"])]
    for stage in ex["status"]["stages"]:
        assert all(step["started"] and step["ended"] for step in stage["steps"])
    assert ex["status"]["engineRef"] == {"engine": "jenkins", "workflowName": "", "workflowNamespace": "team",
                                         "jenkinsJob": "team-web-1", "jenkinsBuild": 1}
    assert list(jenkins.state.jobs) == ["team-web-1"] and len(jenkins.state.builds["team-web-1"]) == 1
    pipeline = system.pipeline_when("web", lambda st: st.get("lastRunState") == "Success")
    assert pipeline["status"]["nextRun"] == 2


def test_failed_step_on_jenkins_fails_the_run_as_on_argo(system: System, jenkins: JenkinsDouble) -> None:
    jenkins.state.outcome = lambda _job, stage: "FAILED" if stage == "build-2" else "SUCCESS"
    system.apply_pipeline("web")
    runs.create_run(system.kube, "team", "web")
    ex = system.wait_state("web-1", "Failed")
    stages = ex["status"]["stages"]
    assert stages[1]["steps"][1]["state"] == "Failed" and "exit code 1" in stages[1]["steps"][1]["message"]
    assert stages[2]["state"] == "Waiting" and stages[2]["steps"][0]["state"] == "Waiting"
    built = next(c for c in ex["status"]["conditions"] if c["type"] == "Built")
    assert built["reason"] == "StepFailed" and "'Build' step 2 failed" in built["message"]


def test_the_same_status_under_argo_and_jenkins(jenkins: JenkinsDouble) -> None:
    """One pipeline, each outcome, both engines through the controller: identical user view."""
    config = {"stages": [
        {"name": "Build", "steps": [{"runScriptConfig": {"image": "a", "shellScript": "x"}},
                                    {"runScriptConfig": {"image": "a", "shellScript": "y"},
                                     "when": {"branch": "release/*"}}]},
        {"name": "Test", "steps": [{"runScriptConfig": {"image": "a", "shellScript": "t"}}]},
        {"name": "Ship", "steps": [{"runScriptConfig": {"image": "a", "shellScript": "s"}}]}]}
    views: dict[str, dict[str, Any]] = {}
    for scenario in ("success", "fail"):
        for engine in ("argo", "jenkins"):
            with KubeDouble() as kube:
                fails = scenario == "fail"
                jenkins.state.outcome = (lambda _j, stage, f=fails: "FAILED" if stage == "test" and f else "SUCCESS")
                if engine == "argo":
                    system = System(kube, outcome=lambda _wf, task, f=fails: "Failed"
                                    if task == "test" and f else "Succeeded")
                    system.start_controller()
                else:
                    jenkins.state.jobs.clear()  # each scenario its own Jenkins history
                    jenkins.state.builds.clear()
                    system = _system(kube, jenkins)
                try:
                    system.apply_pipeline("web", config)
                    runs.create_run(system.kube, "team", "web", branch="master")
                    ex = system.wait_state("web-1", "Success", "Failed")
                    views[f"{scenario}/{engine}"] = {
                        "state": ex["status"]["executionState"], "stages": _view(ex),
                        "messages": [[t["message"] for t in s["steps"]] for s in ex["status"]["stages"]],
                        "built": [(c["status"], c["reason"]) for c in ex["status"]["conditions"]
                                  if c["type"] == "Built"]}
                finally:
                    system.close()
    for scenario in ("success", "fail"):
        argo, jenk = views[f"{scenario}/argo"], views[f"{scenario}/jenkins"]
        argo["messages"] = [[re.sub(r"exit code \d+|Error \(exit code \d+\)", "exit", m) for m in ms]
                            for ms in argo["messages"]]
        jenk["messages"] = [[re.sub(r"script returned exit code \d+", "exit", m) for m in ms]
                            for ms in jenk["messages"]]
        assert argo["state"] == jenk["state"] and argo["stages"] == jenk["stages"] and argo["built"] == jenk["built"]
        assert argo["messages"][1] == jenk["messages"][1]  # the skipped step says why, the same way
    assert views["fail/jenkins"]["stages"][2] == ("Test", "Failed", ["Failed"])
    assert views["fail/jenkins"]["stages"][3] == ("Ship", "Waiting", ["Waiting"])


def test_stop_while_queued_cancels_and_while_running_aborts(system: System, jenkins: JenkinsDouble) -> None:
    jenkins.state.queue_seconds = 30.0
    system.apply_pipeline("web")
    runs.create_run(system.kube, "team", "web")
    system.wait_state("web-1", "Building")
    wait_for(lambda: jenkins.state.queue, what="a queue item")
    runs.request_stop(system.kube, "team", "web-1", "alice")
    ex = system.wait_state("web-1", "Aborted")
    assert any(item.cancelled for item in jenkins.state.queue.values())
    built = next(c for c in ex["status"]["conditions"] if c["type"] == "Built")
    assert built["status"] == "False" and "alice" in built["message"]
    assert {t["state"] for s in ex["status"]["stages"] for t in s["steps"]} == {"Waiting"}  # none started

    jenkins.state.queue_seconds, jenkins.state.stage_seconds = 0.01, 0.5
    runs.create_run(system.kube, "team", "web")
    wait_for(lambda: system.execution("web-2")["status"]["stages"][0]["steps"][0]["state"] == "Building",
             what="the clone step Building")
    runs.request_stop(system.kube, "team", "web-2", "bob")
    ex = system.wait_state("web-2", "Aborted")
    build = jenkins.state.builds["team-web-2"][1]
    assert build.aborted_at is not None
    states = {t["state"] for s in ex["status"]["stages"] for t in s["steps"]}
    assert "Building" not in states and "Aborted" in states


def test_submit_after_a_crash_finds_the_build_instead_of_starting_another(system: System,
                                                                        jenkins: JenkinsDouble) -> None:
    jenkins.state.stage_seconds = 0.2
    system.apply_pipeline("web")
    runs.create_run(system.kube, "team", "web")
    system.wait_state("web-1", "Building")
    system.stop_controller()
    # the controller died after starting the build but (as far as it knows) before recording it
    ex = system.execution("web-1")
    ex["status"]["executionState"] = "Waiting"
    ex["status"].pop("engineRef", None)
    system.kube.replace_status("pipelineexecutions", "team", "web-1", ex)
    system.start_controller()
    engine = system.controller.registry.get("jenkins") if system.controller else None
    assert isinstance(engine, JenkinsEngine)
    engine.poll_seconds = 0.05
    system.wait_state("web-1", "Success", timeout=20)
    assert len(jenkins.state.builds["team-web-1"]) == 1


def test_jenkins_down_waits_with_a_condition_then_runs_when_it_is_back(system: System,
                                                                      jenkins: JenkinsDouble) -> None:
    jenkins.state.down = True
    system.apply_pipeline("web")
    runs.create_run(system.kube, "team", "web")

    def provisioned() -> dict[str, Any] | None:
        conds = {c["type"]: c for c in system.execution("web-1")["status"].get("conditions") or []}
        return conds.get("Provisioned")

    cond = wait_for(lambda: (c := provisioned()) and c["status"] == "False" and c, what="Provisioned=False")
    assert cond["reason"] == "JenkinsUnavailable" and "unavailable" in cond["message"] \
        and "retrying" in cond["message"] and jenkins.url in cond["message"]
    assert system.state("web-1") == "Waiting"
    jenkins.state.down = False
    ex = system.wait_state("web-1", "Success", timeout=20)
    assert next(c for c in ex["status"]["conditions"] if c["type"] == "Provisioned")["status"] == "True"


def test_jenkins_down_for_too_long_fails_with_a_clear_reason(jenkins: JenkinsDouble) -> None:
    jenkins.state.down = True
    with KubeDouble() as kube:
        system = _system(kube, jenkins, provision_deadline_seconds=1.5)
        try:
            system.apply_pipeline("web")
            runs.create_run(system.kube, "team", "web")
            ex = system.wait_state("web-1", "Failed", timeout=20)
            cond = next(c for c in ex["status"]["conditions"] if c["type"] == "Provisioned")
            assert cond["status"] == "False" and cond["reason"] == "JenkinsUnavailable"
            assert not jenkins.state.jobs
        finally:
            system.close()


def test_jenkins_lost_while_building_is_bounded_too(jenkins: JenkinsDouble) -> None:
    jenkins.state.stage_seconds = 5.0
    with KubeDouble() as kube:
        system = _system(kube, jenkins, engine_lost_seconds=1.5)
        try:
            system.apply_pipeline("web")
            runs.create_run(system.kube, "team", "web")
            wait_for(lambda: system.execution("web-1")["status"]["stages"][0]["state"] == "Building", 10)
            jenkins.state.down = True

            def says_so() -> bool:
                conds = system.execution("web-1")["status"].get("conditions") or []
                return any(c["type"] == "Provisioned" and c["status"] == "False" for c in conds)

            wait_for(says_so, 10, "a Provisioned=False condition while Building")
            assert system.state("web-1") == "Building"
            ex = system.wait_state("web-1", "Failed", timeout=20)
            built = next(c for c in ex["status"]["conditions"] if c["type"] == "Built")
            assert built["reason"] == "JenkinsUnavailable" and "gave up after" in built["message"]
            states = {t["state"] for s in ex["status"]["stages"] for t in s["steps"]}
            assert "Building" not in states
        finally:
            system.close()


def test_wrong_credentials_say_so(system: System, jenkins: JenkinsDouble) -> None:
    jenkins.state.token = "rotated"
    system.apply_pipeline("web")
    runs.create_run(system.kube, "team", "web")
    cond = wait_for(lambda: next((c for c in system.execution("web-1")["status"].get("conditions") or []
                                  if c["type"] == "Provisioned" and c["status"] == "False"), None))
    assert cond["reason"] == "JenkinsCredentials" and "credentialsSecret" in cond["message"]


def test_finished_steps_logs_are_archived_under_the_shared_key_layout(jenkins: JenkinsDouble,
                                                                     s3_server: S3Server) -> None:
    jenkins.state.log_text = lambda _job, stage: f"+ run {stage}\n<{stage}> & done\n" + (
        "x" * 99 + "\n") * (300 if stage == "build-1" else 0)  # past wfapi/log's limit: read from consoleUrl
    with KubeDouble() as kube:
        system = _system(kube, jenkins, s3=s3_server)
        try:
            system.apply_pipeline("web")
            runs.create_run(system.kube, "team", "web")
            ex = system.wait_state("web-1", "Success")
            ex = wait_for(lambda: (e := system.execution("web-1")) and all(
                t["log"] for s in e["status"]["stages"] for t in s["steps"]) and e, what="every log archived")
            step = ex["status"]["stages"][1]["steps"][0]
            assert step["log"] == log_key("team", "web", 1, 1, 0) == "team/web/1/1/0/main.log"
            body = s3_server.client().get_object("pipeline-logs", step["log"]).read().decode()
            assert body.startswith("+ run build-1\n<build-1> & done\n") and body.count("x" * 99) == 300
            ship = s3_server.client().get_object("pipeline-logs", "team/web/1/2/0/main.log").read().decode()
            assert ship == "+ run ship\n<ship> & done\n"
            from click.testing import CliRunner

            from translator.cli import main

            shown = CliRunner().invoke(main, ["logs", "web-1", "--stage", "Ship", "-n", "team",
                                              "--kubeconfig", kube.kubeconfig])
            assert shown.exit_code == 0, shown.output
            assert shown.stdout.splitlines() == ["==> stage 2 'Ship', step 1 'Run script (alpine)' [ship]: Success <==",
                                                 "+ run ship", "<ship> & done"]
        finally:
            system.close()


def test_no_external_jenkins_deploys_one_in_the_namespace() -> None:
    with KubeDouble() as kube:
        system = System(kube, engine="jenkins")
        system.start_controller()
        try:
            core, apps = system.kube.core, system.kube.apps
            deployment = wait_for(lambda: apps.read_namespaced_deployment("jenkins", "team"), what="Deployment")
            pod = deployment.spec.template.spec
            assert pod.service_account_name == "jenkins" and pod.security_context.run_as_non_root
            config = core.read_namespaced_config_map("jenkins", "team").data
            plugins = dict(line.split(":") for line in config["plugins.txt"].split())
            assert {"kubernetes", "workflow-job", "pipeline-stage-view", "durable-task"} <= set(plugins)
            assert all(plugins.values())  # every plugin pinned
            assert "namespace: team" in config["casc.yaml"] and "markStageSkippedForConditional" in config["casc.yaml"]
            assert "addFixedNewToken" in config["seed-token.groovy"]
            env = {e.name: e for e in pod.containers[0].env}
            assert env["JENKINS_API_TOKEN"].value_from.secret_key_ref.key == "token"
            assert env["JENKINS_ADMIN_PASSWORD"].value_from.secret_key_ref.key == "password"
            assert {p.name for p in core.read_namespaced_service("jenkins", "team").spec.ports} == {"http", "agent"}
            assert core.read_namespaced_service_account("jenkins", "team")
            token = core.read_namespaced_secret("jenkins-admin", "team").data["token"]
            assert re.fullmatch(r"11[0-9a-f]{32}", base64.b64decode(token).decode())  # core ApiTokenStore
            # made once: a second reconcile does not rotate the admin token
            system.kube.patch("pipelinesettings", "team", "default", {"spec": {"executorQuota": 3}})
            time.sleep(0.5)
            assert core.read_namespaced_secret("jenkins-admin", "team").data["token"] == token
            # runs use that server and its admin Secret
            engine = system.controller.registry.get("jenkins") if system.controller else None
            assert isinstance(engine, JenkinsEngine)
            from translator.api.setting_types import PipelineSettingSpec

            jenkins_client = engine.client_for("team", PipelineSettingSpec(engine="jenkins"))
            assert jenkins_client.url == "http://jenkins.team.svc:8080" and jenkins_client.username == "admin"
        finally:
            system.close()


def test_a_slow_jenkins_is_waited_for_not_fatal(jenkins: JenkinsDouble) -> None:
    jenkins.state.slow_seconds = 1.0
    with KubeDouble() as kube:
        system = _system(kube, jenkins)
        engine = system.controller.registry.get("jenkins") if system.controller else None
        assert isinstance(engine, JenkinsEngine)
        engine.timeout = 0.3  # answers slower than this count as no answer
        try:
            system.apply_pipeline("web")
            runs.create_run(system.kube, "team", "web")
            cond = wait_for(lambda: next((c for c in system.execution("web-1")["status"].get("conditions") or []
                                          if c["type"] == "Provisioned" and c["status"] == "False"), None), 15)
            assert cond["reason"] == "JenkinsUnavailable" and "did not answer" in cond["message"]
            jenkins.state.slow_seconds = 0.0
            system.wait_state("web-1", "Success", timeout=30)
        finally:
            system.close()


CACHED = {"stages": [{"name": "Build", "cache": {"paths": ["/root/.m2"]},
                      "steps": [{"runScriptConfig": {"image": "maven", "shellScript": "mvn package"}}]}]}


def _holder(system: System, node: str, pipeline: str = "web") -> None:
    from datetime import UTC, datetime

    kube = system.kube
    body = kube.call(kube.custom.create_cluster_custom_object, "devops.cubepaas.io", "v1alpha1", "cacheinventories",
                     {"apiVersion": "devops.cubepaas.io/v1alpha1", "kind": "CacheInventory",
                      "metadata": {"name": node}})
    body["status"] = {"node": node, "updated": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                      "caches": [{"pipeline": f"team/{pipeline}", "bytes": 10, "lastUsed": "2026-11-25T00:00:00Z"}]}
    kube.call(kube.custom.replace_cluster_custom_object_status, "devops.cubepaas.io", "v1alpha1", "cacheinventories",
              node, body)


def test_jenkins_agent_pod_carries_the_placement_and_its_node_is_recorded(system: System,
                                                                        jenkins: JenkinsDouble) -> None:
    """Finding 20 too: a long name's agent pod carries the plugin's sanitised `jenkins/label`, not ours."""
    import time as _time

    name = "web-" + "x" * 60
    jenkins.state.stage_seconds = 0.5
    _holder(system, "node-b", pipeline=name)
    system.apply_pipeline(name, CACHED)
    wait_for(lambda: system.controller and system.controller.cache_index.lookup("team", name, _time.time())[0])
    runs.create_run(system.kube, "team", name)
    job = wait_for(lambda: next(iter(jenkins.state.builds), None), what="the build")
    pod = jenkins.state.agent_pod(job)  # the agent pod Jenkins' kubernetes plugin starts, on the holder
    assert pod["metadata"]["labels"]["jenkins/label"] != f"{name}-1" and pod["metadata"]["namespace"] == "team"
    pod["spec"]["nodeName"] = "node-b"
    system.kube.call(system.kube.core.create_namespaced_pod, "team", pod)
    ex = system.wait_state(f"{name}-1", "Success")
    script = ElementTree.fromstring(jenkins.state.jobs[job]).findtext("definition/script") or ""
    pod_yaml = script_model.model(script).pod_yaml  # the same terms as on Argo: compiler tests
    assert "requiredDuringSchedulingIgnoredDuringExecution" in pod_yaml and "- node-b" in pod_yaml
    assert ex["status"]["cache"]["node"] == "node-b" and ex["status"]["cache"]["result"] == "Hit"
    assert next(c for c in ex["status"]["conditions"] if c["type"] == "Cached")["reason"] == "CacheHit"


def test_jenkins_bounded_wait_gives_up_and_runs_cold(jenkins: JenkinsDouble) -> None:
    jenkins.state.queue_seconds = 2.5  # the agent pod (required on the holder) does not start in time
    with KubeDouble() as kube:
        system = System(kube, engine="jenkins", setting={
            "jenkins": {"url": jenkins.url, "credentialsSecret": "jenkins-creds"}, "cache": {"waitSeconds": 1}})
        system.secret("jenkins-creds", {"username": "admin", "token": "secret"})
        controller = system.start_controller()
        engine = controller.registry.get("jenkins")
        assert isinstance(engine, JenkinsEngine)
        engine.poll_seconds = 0.05
        try:
            import time as _time

            _holder(system, "node-b")
            system.apply_pipeline("web", CACHED)
            wait_for(lambda: controller.cache_index.lookup("team", "web", _time.time())[0])
            runs.create_run(system.kube, "team", "web")
            ex = system.wait_state("web-1", "Success", timeout=30)
            cond = next(c for c in ex["status"]["conditions"] if c["type"] == "Cached")
            assert cond["reason"] == "RanCold" and "node-b" in cond["message"]
            assert ex["status"]["engineRef"]["jenkinsJob"] == "team-web-1-cold"
            assert any(item.cancelled for item in jenkins.state.queue.values() if item.job == "team-web-1")
            assert "team-web-1" not in jenkins.state.builds  # withdrawn before it ever ran
        finally:
            system.close()


# ---------------------------------------------------------------------- a real Jenkins' behaviours (issue 10)


def test_a_script_whose_first_command_fails_fails_the_step(system: System, jenkins: JenkinsDouble) -> None:
    """Finding 1: the step's text reaches `sh`, which durable-task runs as `sh -xe` (no `#!`): the
    failing first command fails the step, with the -x trace in the log, as the Argo run does."""
    jenkins.state.run_scripts = lambda _job, stage: stage == "build"
    system.apply_pipeline("web", {"stages": [{"name": "Build", "steps": [
        {"runScriptConfig": {"image": "alpine", "shellScript": "false\necho built"}}]}]})
    runs.create_run(system.kube, "team", "web")
    ex = system.wait_state("web-1", "Success", "Failed")
    step = ex["status"]["stages"][1]["steps"][0]
    assert ex["status"]["executionState"] == "Failed" and step["message"] == "script returned exit code 1"
    result = jenkins.state.builds["team-web-1"][1].results["build"]
    assert "+ false" in result[2] and "built" not in result[2]  # the -x trace, and nothing after the failure


def test_write_file_and_sh_work_through_the_agents_filesystem(system: System, jenkins: JenkinsDouble) -> None:
    """Finding 12: the agent in `jnlp` writes durable-task's control files and writeFile output; the pod
    must give it the workspace, and every `<dir>@tmp` must be on it."""
    system.apply_pipeline("web", {"stages": [{"name": "Deploy", "steps": [
        {"applyYamlConfig": {"content": "kind: ConfigMap\n", "namespace": "team"}}]}]})
    runs.create_run(system.kube, "team", "web")
    ex = system.wait_state("web-1", "Success", "Failed")
    assert ex["status"]["executionState"] == "Success", ex["status"]["stages"]
    model = jenkins.state.builds["team-web-1"][1].job
    assert model is not None and any(stage.files for stage in model.stages)  # writeFile was exercised


def test_a_build_just_starting_is_building_not_failed(system: System, jenkins: JenkinsDouble) -> None:
    """Finding 16: wfapi answers NOT_EXECUTED for a build whose flow execution does not exist yet."""
    jenkins.state.execution_seconds = 1.0
    system.apply_pipeline("web")
    runs.create_run(system.kube, "team", "web")
    wait_for(lambda: jenkins.state.builds.get("team-web-1"), what="the build")
    time.sleep(0.4)
    assert system.state("web-1") == "Building"
    system.wait_state("web-1", "Success", timeout=20)


def test_the_queue_to_build_gap_is_neither_a_cancel_nor_a_reason_to_build_again(system: System,
                                                                              jenkins: JenkinsDouble) -> None:
    """Finding 17: the item leaves the queue before the build exists (core Queue.onStartExecuting)."""
    jenkins.state.start_gap_seconds = 1.5
    system.apply_pipeline("web")
    runs.create_run(system.kube, "team", "web")
    wait_for(lambda: any(i.left_at for i in jenkins.state.queue.values()), what="the item leaving the queue")
    time.sleep(0.5)
    assert system.state("web-1") == "Building"
    system.wait_state("web-1", "Success", timeout=20)
    assert len(jenkins.state.builds["team-web-1"]) == 1 and len(jenkins.state.queue) == 1
    assert "DisableConcurrentBuildsJobProperty" in jenkins.state.jobs["team-web-1"]


def test_stop_in_the_queue_gap_stops_the_build_it_became(system: System, jenkins: JenkinsDouble) -> None:
    """Finding 17: cancelItem of an item that left is refused (core Queue.doCancelItem): stop the build."""
    jenkins.state.start_gap_seconds, jenkins.state.stage_seconds = 1.0, 1.0
    system.apply_pipeline("web")
    runs.create_run(system.kube, "team", "web")
    wait_for(lambda: any(i.left_at for i in jenkins.state.queue.values()), what="the item leaving the queue")
    runs.request_stop(system.kube, "team", "web-1", "alice")
    ex = system.wait_state("web-1", "Aborted", timeout=20)
    build = jenkins.state.builds["team-web-1"][1]
    assert build.aborted_at is not None and not any(i.cancelled for i in jenkins.state.queue.values())
    assert "alice" in next(c for c in ex["status"]["conditions"] if c["type"] == "Built")["message"]


def test_a_password_works_with_the_session_its_crumb_came_with(jenkins: JenkinsDouble) -> None:
    """Finding 13: DefaultCrumbIssuer binds the crumb to the session; API tokens need none."""
    with KubeDouble() as kube:
        system = _system(kube, jenkins, secret="admin-password")
        try:
            system.apply_pipeline("web")
            runs.create_run(system.kube, "team", "web")
            system.wait_state("web-1", "Success", timeout=20)
        finally:
            system.close()


def test_a_permission_jenkins_refuses_fails_the_run_at_once(system: System, jenkins: JenkinsDouble) -> None:
    """Finding 13: a 403 that is not about the crumb is not retried as if Jenkins were unavailable."""
    jenkins.state.forbidden = frozenset({"Job/Build"})
    system.apply_pipeline("web")
    runs.create_run(system.kube, "team", "web")
    ex = system.wait_state("web-1", "Failed", timeout=10)
    cond = next(c for c in ex["status"]["conditions"] if c["type"] == "Provisioned")
    assert cond["reason"] == "JenkinsForbidden" and "missing the Job/Build permission" in cond["message"]


def test_a_stage_named_like_its_step_keeps_the_steps_log(jenkins: JenkinsDouble, s3_server: S3Server) -> None:
    """Finding 19: `stage('build') { parallel('build': { stage('build') ... }) }` lists two `build`s;
    the log lookup found the outer, empty one."""
    jenkins.state.log_text = lambda _job, stage: f"log of {stage}\n"
    with KubeDouble() as kube:
        system = _system(kube, jenkins, s3=s3_server)
        try:
            system.apply_pipeline("web", {"stages": [{"name": "build", "steps": [
                {"runScriptConfig": {"image": "alpine", "shellScript": "make"}}]}]})
            runs.create_run(system.kube, "team", "web")
            wait_for(lambda: (e := system.execution("web-1")) and e["status"]["stages"][1]["steps"][0].get("log"),
                     timeout=20, what="the step's log archived")
            body = s3_server.client().get_object("pipeline-logs", "team/web/1/1/0/main.log").read().decode()
            assert body == "log of build~1\n"
        finally:
            system.close()


def test_jobs_of_finished_executions_are_deleted_after_the_retention(jenkins: JenkinsDouble) -> None:
    """Finding 23: an external Jenkins does not fill up with one job per execution."""
    with KubeDouble() as kube:
        system = _system(kube, jenkins, jenkins_setting={"jobRetentionSeconds": 1})
        engine = system.controller.registry.get("jenkins") if system.controller else None
        assert isinstance(engine, JenkinsEngine)
        engine.sweep_seconds = 0.0
        jenkins.state.jobs["someone-elses"] = "<flow-definition><description>theirs</description></flow-definition>"
        try:
            system.apply_pipeline("web")
            runs.create_run(system.kube, "team", "web")
            system.wait_state("web-1", "Success", timeout=20)
            time.sleep(1.5)
            runs.create_run(system.kube, "team", "web")
            system.wait_state("web-2", "Success", timeout=20)
            wait_for(lambda: "team-web-1" not in jenkins.state.jobs, what="the old job deleted")
            assert "team-web-2" in jenkins.state.jobs and "someone-elses" in jenkins.state.jobs
        finally:
            system.close()
