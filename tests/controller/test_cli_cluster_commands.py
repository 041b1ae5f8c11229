"""`translator run / rerun / stop` against the API double, as a user types them."""

from __future__ import annotations

from click.testing import CliRunner

from tests.controller.harness import System
from translator.cli import main


def cli(system: System, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, [*args, "--kubeconfig", system.double.kubeconfig, "-n", "team"])
    return result.exit_code, result.output


def test_run_stop_rerun(system: System) -> None:
    system.apply_pipeline("web")
    system.sim.paused = {"build-1"}
    assert cli(system, "run", "web") == (0, "pipelineexecution/web-1 created\n")
    system.wait_state("web-1", "Building")
    code, out = cli(system, "stop", "web-1", "--user", "bob")
    assert code == 0 and "stop requested" in out
    ex = system.wait_state("web-1", "Aborted")
    assert any(s["message"] == "stopped by bob" for st in ex["status"]["stages"] for s in st["steps"])
    system.sim.paused = set()
    code, out = cli(system, "rerun", "web-1", "--from-failed")
    assert code == 0 and out.startswith("pipelineexecution/web-2 created")
    system.wait_state("web-2", "Success")


def test_errors_are_messages_not_tracebacks(system: System) -> None:
    code, out = cli(system, "run", "nope")
    assert code == 1 and "pipeline team/nope does not exist" in out and "Traceback" not in out
    code, out = cli(system, "stop", "nope-1")
    assert code == 1 and "404" in out
    system.apply_pipeline("web", {"branch": {"include": ["main"]}, "stages": []})
    code, out = cli(system, "run", "web", "--branch", "dev")
    assert code == 1 and "no run is created" in out
    result = CliRunner().invoke(main, ["run", "web", "--kubeconfig", "/nonexistent/kubeconfig"])
    assert result.exit_code == 1 and "cannot reach a cluster" in result.output
