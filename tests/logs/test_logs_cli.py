"""`translator logs` against the API double, the Argo simulator and a real S3 server."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from tests.compiler.views import is_one_pod
from tests.controller.harness import System, wait_for
from tests.kube_double.server import KubeDouble
from tests.s3_server import ACCESS_KEY, SECRET_KEY, S3Server
from translator.cli import main
from translator.controller import runs

BUCKET = "cli-logs"  # emptied before each test: the S3 server lives for the whole session


@pytest.fixture(params=["pod", "pinned"])
def system(s3_server: S3Server, request: pytest.FixtureRequest) -> Iterator[System]:
    client = s3_server.client()
    if client.bucket_exists(BUCKET):
        for obj in client.list_objects(BUCKET, recursive=True):
            client.remove_object(BUCKET, obj.object_name or "")
    with KubeDouble() as kube:
        sys_ = System(kube, setting={"logs": {"endpoint": s3_server.endpoint, "bucket": BUCKET, "insecure": True,
                                              "credentialsSecret": "log-store"},
                                     "argo": {"runForm": request.param}})
        sys_.secret("log-store", {"accesskey": ACCESS_KEY, "secretkey": SECRET_KEY})
        sys_.start_controller()
        try:
            yield sys_
        finally:
            sys_.close()


def _logs(system: System, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["logs", *args, "-n", "team", "--kubeconfig", system.double.kubeconfig])
    return result.exit_code, result.stdout, result.stderr


def _archive(s3: S3Server, key: str, text: str) -> None:
    client = s3.client()
    if not client.bucket_exists(BUCKET):
        client.make_bucket(BUCKET)
    data = text.encode()
    client.put_object(BUCKET, key, io.BytesIO(data), len(data))


def test_finished_steps_come_from_the_archive_with_headers(system: System, s3_server: S3Server) -> None:
    system.apply_pipeline("web")
    runs.create_run(system.kube, "team", "web")
    system.wait_state("web-1", "Success")
    # what Argo's archiving wrote (the Workflow's templates carry these keys)
    wf = system.workflows()[0]
    keys = [t["archiveLocation"]["s3"]["key"] for t in wf["spec"]["templates"] if "archiveLocation" in t]
    if is_one_pod(wf):  # one location; Argo's executor writes `<key>/<container>.log` per container
        assert keys == ["team/web/1"]
        keys = ["team/web/1/0/0", "team/web/1/1/0", "team/web/1/1/1", "team/web/1/2/0"]  # what the lines say
        for key, container in zip(keys, ["clone", "build-1", "build-2", "ship"], strict=True):
            _archive(s3_server, f"team/web/1/{container}.log", f"archived {key}\n")
    else:
        assert keys == ["team/web/1/0/0", "team/web/1/1/0", "team/web/1/1/1", "team/web/1/2/0"]
        for key in keys:
            _archive(s3_server, f"{key}/main.log", f"archived {key}\n")
    with system.double.store.lock:  # the pods are gone: only the archive has the logs
        system.double.store.logs.clear()
    code, out, err = _logs(system, "web-1")
    assert code == 0, err
    assert out.splitlines() == [
        "==> stage 0 'Clone', step 1 'Clone' [clone]: Success <==", "archived team/web/1/0/0",
        "==> stage 1 'Build', step 1 'Run script (alpine)' [build-1]: Success <==", "archived team/web/1/1/0",
        "==> stage 1 'Build', step 2 'Run script (alpine)' [build-2]: Success <==", "archived team/web/1/1/1",
        "==> stage 2 'Ship', step 1 'Run script (alpine)' [ship]: Success <==", "archived team/web/1/2/0"]
    code, out, _ = _logs(system, "web-1", "--stage", "build", "--step", "2")
    assert out.splitlines() == ["==> stage 1 'Build', step 2 'Run script (alpine)' [build-2]: Success <==",
                                "archived team/web/1/1/1"]


def test_a_log_that_no_longer_exists_is_a_clear_message(system: System, s3_server: S3Server) -> None:
    system.apply_pipeline("web")
    runs.create_run(system.kube, "team", "web")
    system.wait_state("web-1", "Success")
    client = s3_server.client()  # what Argo archived is gone too (a lifecycle rule, say)
    for obj in client.list_objects(BUCKET, recursive=True):
        client.remove_object(BUCKET, obj.object_name or "")
    for pod in system.kube.call(system.kube.core.list_namespaced_pod, "team").items:
        system.kube.call(system.kube.core.delete_namespaced_pod, pod.metadata.name, "team")
    code, out, err = _logs(system, "web-1", "--stage", "1", "--step", "1")
    assert code == 1 and "Traceback" not in err, out + err
    assert "the log of stage 'Build' step 1 no longer exists" in err
    wf = system.workflows()[0]
    key = "team/web/1/build-1.log" if is_one_pod(wf) else "team/web/1/1/0/main.log"
    assert f"not archived at s3://{BUCKET}/{key}" in err


def test_without_archive_a_finished_step_is_read_from_its_pod(system: System) -> None:
    system.apply_pipeline("web")
    runs.create_run(system.kube, "team", "web")
    system.wait_state("web-1", "Success")
    code, out, _ = _logs(system, "web-1", "--stage", "Ship")
    assert code == 0 and "step ship of web-1 on node-" in out


def test_a_running_step_is_read_live_from_its_pod(system: System) -> None:
    system.sim.paused = {"build-1"}
    system.apply_pipeline("web")
    runs.create_run(system.kube, "team", "web")
    wait_for(lambda: system.execution("web-1")["status"]["stages"][1]["steps"][0]["state"] == "Building")

    def later() -> None:  # the step prints more, then ends: --follow streams until its container exits
        time.sleep(1.0)
        system.sim.write_log("team", "web-1", "build-1", "a line printed while followed\n")
        system.sim.paused.discard("build-1")

    threading.Thread(target=later, daemon=True).start()
    code, out, _ = _logs(system, "web-1", "--stage", "Build", "--step", "1", "--follow")
    assert code == 0
    assert out.splitlines()[0] == "==> stage 1 'Build', step 1 'Run script (alpine)' [build-1]: Building <=="
    assert "step build-1 of web-1" in out and "a line printed while followed" in out


def test_bad_selections_and_unknown_executions(system: System) -> None:
    system.apply_pipeline("web")
    runs.create_run(system.kube, "team", "web")
    system.wait_state("web-1", "Success")
    code, _, err = _logs(system, "web-1", "--stage", "Deploy")
    assert code == 1 and "no stage 'Deploy' (stages: 0:Clone, 1:Build, 2:Ship)" in err
    code, _, err = _logs(system, "web-1", "--stage", "Build", "--step", "3")
    assert code == 1 and "has 2 step(s); there is no step 3" in err
    code, _, err = _logs(system, "web-9")
    assert code == 1 and "pipelineexecution team/web-9 not found" in err
