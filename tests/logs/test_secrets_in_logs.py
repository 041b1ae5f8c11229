"""A step that echoes its secret: the secret is in no log `translator logs` prints and in nothing
archived, on Argo (the step's script really runs, Argo's executor archives its output to a real
S3 server; in both forms of a run: the step a container of the one pod, or its own pinned pod)
and on Jenkins (the engine archives the step's console) (docs/security.md)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner

from tests.controller.harness import System, wait_for
from tests.jenkins.double import JenkinsDouble
from tests.kube_double.server import KubeDouble
from tests.s3_server import ACCESS_KEY, SECRET_KEY, S3Server
from tests.step_runner import run_step
from translator.cli import main
from translator.compiler.compile import compile_text
from translator.compiler.context import ExecutionContext
from translator.controller import runs
from translator.engines.jenkins import JenkinsEngine

BUCKET = "masked-logs"
TOKEN = "s3cr3t-t0ken-4242"
CONFIG = {"stages": [{"name": "Build", "steps": [{
    "runScriptConfig": {"image": "alpine", "shellScript": 'echo "using token $API_TOKEN"\necho "$API_TOKEN" >&2'},
    "envFrom": [{"sourceName": "api", "sourceKey": "token", "targetKey": "API_TOKEN"}]}]}]}


def _empty_bucket(s3: S3Server) -> None:
    client = s3.client()
    if not client.bucket_exists(BUCKET):
        client.make_bucket(BUCKET)
    for obj in client.list_objects(BUCKET, recursive=True):
        client.remove_object(BUCKET, obj.object_name or "")


def _archived(s3: S3Server) -> dict[str, str]:
    client = s3.client()
    return {o.object_name or "": client.get_object(BUCKET, o.object_name or "").read().decode()
            for o in client.list_objects(BUCKET, recursive=True)}


def _logs(kubeconfig: str, *args: str) -> str:
    result = CliRunner().invoke(main, ["logs", *args, "-n", "team", "--kubeconfig", kubeconfig])
    assert result.exit_code == 0, result.output
    return result.stdout


def _printed(text: str) -> list[str]:
    """The lines the step printed, without `sh -x` traces."""
    return [line for line in text.splitlines() if not line.startswith("+")]


def _logs_setting(s3: S3Server) -> dict[str, Any]:
    return {"logs": {"endpoint": s3.endpoint, "bucket": BUCKET, "insecure": True, "credentialsSecret": "log-store"}}


# where the Build step's log is archived, by form (compiler/forms.py step_log_key)
ARCHIVE_KEY = {"pod": "team/web/1/build.log", "pinned": "team/web/1/1/0/main.log"}


@pytest.fixture(params=["pod", "pinned"])
def argo(s3_server: S3Server, request: pytest.FixtureRequest) -> Iterator[System]:
    _empty_bucket(s3_server)
    with KubeDouble() as kube:
        setting = {**_logs_setting(s3_server), "argo": {"runForm": request.param}}
        system = System(kube, setting=setting, execute=lambda _wf, task: task == "build")
        system.form = request.param  # type: ignore[attr-defined]
        system.secret("log-store", {"accesskey": ACCESS_KEY, "secretkey": SECRET_KEY})
        system.secret("api", {"token": TOKEN})
        system.start_controller()
        try:
            yield system
        finally:
            system.close()


def test_on_argo_the_echoed_secret_is_masked_in_the_pod_log_the_archive_and_translator_logs(
        argo: System, s3_server: S3Server) -> None:
    argo.apply_pipeline("web", CONFIG)
    runs.create_run(argo.kube, "team", "web")
    argo.wait_state("web-1", "Success", timeout=20)
    form = argo.form  # type: ignore[attr-defined]
    with argo.double.store.lock:  # the step's container log: its own pod's, or its container's in the one pod
        pod_logs = [text for key, text in argo.double.store.logs.items()
                    if (key[2:] == ("build",) if form == "pod" else key[1].startswith("web-1-build"))]
    (pod_log,) = pod_logs
    assert _printed(pod_log) == ["using token ***", "***"]  # the step really ran, behind its wrapper
    assert "+ echo using token ***" in pod_log  # sh -x traced the command, masked too
    archived = _archived(s3_server)
    assert archived[ARCHIVE_KEY[form]] == pod_log  # what Argo's executor archived
    assert not [k for k, text in archived.items() if TOKEN in text]
    shown = _logs(argo.double.kubeconfig, "web-1")
    assert "using token ***" in shown and TOKEN not in shown
    with argo.double.store.lock:  # the pods are gone: from the archive alone
        argo.double.store.logs.clear()
    shown = _logs(argo.double.kubeconfig, "web-1", "--stage", "Build")
    assert _printed("\n".join(shown.splitlines()[1:])) == ["using token ***", "***"]


def test_translator_logs_masks_a_secret_the_step_printed_unmasked(argo: System, s3_server: S3Server) -> None:
    """A log archived before the wrapper existed, or by a step that escaped it: masked when read."""
    argo.apply_pipeline("web", CONFIG)
    runs.create_run(argo.kube, "team", "web")
    argo.wait_state("web-1", "Success", timeout=20)
    leak = f"old log {TOKEN} split across".encode()
    s3_server.client().put_object(BUCKET, ARCHIVE_KEY[argo.form], io.BytesIO(leak), len(leak))  # type: ignore[attr-defined]
    shown = _logs(argo.double.kubeconfig, "web-1", "--stage", "1")
    assert shown.splitlines()[1:] == ["old log *** split across"]


def test_a_secret_the_caller_may_not_read_is_named(argo: System) -> None:
    argo.apply_pipeline("web", CONFIG)
    runs.create_run(argo.kube, "team", "web")
    argo.wait_state("web-1", "Success", timeout=20)
    argo.kube.call(argo.kube.core.delete_namespaced_secret, "api", "team")
    shown = _logs(argo.double.kubeconfig, "web-1", "--stage", "1")
    assert "(cannot read Secret api to mask its values here; the step masked its own output)" in shown
    assert TOKEN not in shown


def test_on_jenkins_the_echoed_secret_is_masked_in_the_archive_and_translator_logs(s3_server: S3Server,
                                                                                   tmp_path: Any) -> None:
    _empty_bucket(s3_server)
    plan = compile_text(CONFIG_TEXT, ExecutionContext(namespace="team", pipeline="web"), engine="jenkins").plan
    assert plan is not None
    step = next(s for s in plan.steps if s.id == "build")
    ran = run_step(step, tmp_path, secrets={("api", "token"): TOKEN})  # what its `sh` prints in the agent pod
    assert TOKEN not in ran.stdout + ran.stderr
    console = {"build": "+ /bin/sh wrapper\n" + ran.stdout + ran.stderr,
               "clone": f"+ git fetch https://bot:{TOKEN}@git.example.com\n"}  # printed past any wrapper
    with JenkinsDouble() as jenkins, KubeDouble() as kube:
        jenkins.state.stage_seconds = 0.05
        jenkins.state.log_text = lambda _job, stage: console.get(stage, "")
        setting = {"jenkins": {"url": jenkins.url, "credentialsSecret": "jenkins-creds"},
                   "gitCredentialsSecret": "git", **_logs_setting(s3_server)}
        system = System(kube, engine="jenkins", setting=setting)
        system.secret("jenkins-creds", {"username": "admin", "token": "secret"})
        system.secret("log-store", {"accesskey": ACCESS_KEY, "secretkey": SECRET_KEY})
        system.secret("api", {"token": TOKEN})
        system.secret("git", {"username": "bot", "password": TOKEN})
        engine = system.start_controller().registry.get("jenkins")
        assert isinstance(engine, JenkinsEngine)
        engine.poll_seconds, engine.attempts = 0.05, 1
        try:
            system.apply_pipeline("web", CONFIG)
            runs.create_run(system.kube, "team", "web")
            system.wait_state("web-1", "Success", timeout=20)
            wait_for(lambda: (e := system.execution("web-1")) and all(
                t["log"] for s in e["status"]["stages"] for t in s["steps"]), what="every log archived")
            archived = _archived(s3_server)
            assert _printed(archived["team/web/1/1/0/main.log"]) == ["using token ***", "***"]
            assert archived["team/web/1/0/0/main.log"] == "+ git fetch https://bot:***@git.example.com\n"
            assert not [k for k, text in archived.items() if TOKEN in text]
            shown = _logs(kube.kubeconfig, "web-1")
            assert "using token ***" in shown and "bot:***@" in shown and TOKEN not in shown
        finally:
            system.close()


CONFIG_TEXT = """
stages:
- name: Build
  steps:
  - runScriptConfig: {image: alpine, shellScript: "echo \\"using token $API_TOKEN\\"\\necho \\"$API_TOKEN\\" >&2"}
    envFrom: [{sourceName: api, sourceKey: token, targetKey: API_TOKEN}]
"""
