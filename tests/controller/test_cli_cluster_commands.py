"""`translator run / rerun / stop` against the API double, as a user types them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlparse

import pytest
from click.testing import CliRunner

from tests.controller.harness import System
from tests.kube_double.server import KubeDouble
from translator.cli import main

CREATED = re.compile(r"^pipelineexecution/(\S+) created")


@pytest.fixture
def double() -> Iterator[KubeDouble]:
    with KubeDouble() as kube:
        yield kube


def cli(system: System, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, [*args, "--kubeconfig", system.double.kubeconfig, "-n", "team"])
    return result.exit_code, result.output


def created(out: str) -> str:
    match = CREATED.match(out)
    assert match, out
    return match.group(1)


def test_run_stop_rerun(system: System) -> None:
    system.apply_pipeline("web")
    system.sim.paused = {"build-1"}
    code, out = cli(system, "run", "web")
    assert code == 0
    first = created(out)
    assert first.startswith("web-run-")
    ex = system.wait_state(first, "Building")
    assert ex["spec"]["run"] == 1  # numbered by the controller
    code, out = cli(system, "stop", first, "--user", "bob")
    assert code == 0 and "stop requested" in out
    ex = system.wait_state(first, "Aborted")
    assert any(s["message"] == "stopped by bob" for st in ex["status"]["stages"] for s in st["steps"])
    system.sim.paused = set()
    code, out = cli(system, "rerun", first, "--from-failed")
    assert code == 0
    second = created(out)
    ex = system.wait_state(second, "Success")
    assert ex["spec"]["run"] == 2 and ex["spec"]["rerunOf"] == first


def test_run_rerun_stop_write_no_status_subresource(double: KubeDouble) -> None:
    """What a namespace editor may not do (write `pipelines/status`), the CLI does not need: its
    requests, with no controller running, are two creates and an annotation; the controller
    numbers the runs when it comes."""
    system = System(double)
    try:
        system.apply_pipeline("web")
        double.log_requests = True
        code, out = cli(system, "run", "web")
        assert code == 0
        first = created(out)
        code, out = cli(system, "rerun", first)
        assert code == 0
        second = created(out)
        assert cli(system, "stop", second)[0] == 0
        base = "/apis/devops.cubepaas.io/v1alpha1/namespaces/team"
        writes = [(m, urlparse(p).path) for m, p in double.request_log if m != "GET"]
        assert writes == [("POST", f"{base}/pipelineexecutions"), ("POST", f"{base}/pipelineexecutions"),
                          ("PATCH", f"{base}/pipelineexecutions/{second}")]
        reads = {urlparse(p).path for m, p in double.request_log if m == "GET"}
        assert reads == {f"{base}/pipelines/web", f"{base}/pipelineexecutions/{first}"}
        system.start_controller()  # numbers both, in the order it initialises them
        numbers = {system.wait_state(first, "Success")["spec"]["run"],
                   system.wait_state(second, "Aborted")["spec"]["run"]}
        assert numbers == {1, 2}
    finally:
        system.close()


def test_errors_are_messages_not_tracebacks(system: System) -> None:
    code, out = cli(system, "run", "nope")
    assert code == 1 and "pipeline team/nope does not exist" in out and "Traceback" not in out
    code, out = cli(system, "stop", "nope-1")
    assert code == 1 and "404" in out
    system.apply_pipeline("web", {"branch": {"include": ["main"]}, "stages": []})
    code, out = cli(system, "run", "web", "--branch", "dev")
    assert code == 1 and "no run is created" in out
    result = CliRunner().invoke(main, ["run", "web", "--kubeconfig", "/nonexistent/kubeconfig"])
    assert result.exit_code == 1 and result.output == "/nonexistent/kubeconfig: no such file\n"
