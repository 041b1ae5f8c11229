"""The scripts translator writes are valid POSIX shell and read user values only from env; every
script starts the way Jenkins' `sh` step starts it (`sh -xe`, or its own `#!` interpreter)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.argo_sim_rules import run_container
from tests.compiler.views import containers, volumes
from translator.compiler import scripts
from translator.compiler.scripts import answers_to_values, launch_command, split_catalog_template

TOOL_SCRIPTS = {
    n: getattr(scripts, n) for n in ("CLONE", "APPLY_YAML", "PUBLISH_IMAGE", "PUBLISH_CATALOG", "APPLY_APP")
}


@pytest.mark.parametrize("name", sorted(TOOL_SCRIPTS))
def test_tool_scripts_parse_with_sh(name: str) -> None:
    sh = shutil.which("sh")
    assert sh, "a POSIX shell is part of every machine this runs on"
    proc = subprocess.run([sh, "-n"], input=TOOL_SCRIPTS[name], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


def test_apply_yaml_substitutes_only_set_variables(tmp_path: Path) -> None:
    """Run the substitution function itself on a file, as the applyYaml step does."""
    source = tmp_path / "in.yaml"
    source.write_text("image: app:${CICD_EXECUTION_SEQUENCE}\nkeep: ${UNSET_VAR} $PLAIN\nq: '${A}${A}'\n")
    script = scripts.SUBSTITUTE + f'substitute "{source}"\n'
    env = {**os.environ, "CICD_EXECUTION_SEQUENCE": "17", "A": "x&y\\z"}
    env.pop("UNSET_VAR", None)
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, env=env, check=True).stdout
    assert out == "image: app:17\nkeep: ${UNSET_VAR} $PLAIN\nq: 'x&y\\zx&y\\z'\n"


def test_catalog_template_split_prefers_configured_catalogs() -> None:
    assert split_catalog_template("cattle-global-data:library-mysql", {}) == ("library", "mysql")
    assert split_catalog_template("my-charts-web-app", {"my-charts": "u"}) == ("my-charts", "web-app")
    assert split_catalog_template("single", {}) == ("single", "single")


def test_answers_nest_dotted_keys_as_strings() -> None:
    values = answers_to_values({"a.b": "1", "a.c": "x", "top": "true", "a": "leaf-loses"})
    assert values == {"a": {"b": "1", "c": "x"}, "top": "true"}
    assert yaml.safe_load(yaml.safe_dump(values)) == values


# ---------------------------------------------------------------- how a script is started (issue 10, finding 1)


def _step(script: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, str | None]]:
    """The compiled Workflow, the step's template and the ConfigMaps it mounts."""
    from translator.compiler.compile import compile_text
    from translator.compiler.context import ExecutionContext

    text = yaml.safe_dump({"stages": [{"name": "s", "steps": [
        {"runScriptConfig": {"image": "alpine", "shellScript": script}}]}]})
    result = compile_text(text, ExecutionContext())
    assert result.ok, [str(f) for f in result.findings]
    wf, cm = result.objects
    # as Argo runs it: one container of the pod, with the pod's volumes
    template = {"name": "s", "container": containers(wf)["s"], "volumes": list(volumes(wf).values())}
    return wf, template, {cm["metadata"]["name"]: cm["data"]}


def test_a_script_whose_first_command_fails_fails_the_step() -> None:
    """Run as the container would (tests/argo_sim_rules.run_container: the command, a real sh)."""
    wf, template, config_maps = _step("false\necho still-running\n")
    code, log = run_container(wf, template, config_maps)
    assert code == 1, log
    assert "still-running" not in log
    assert "+ false" in log  # -x: every command is in the step's log, as on Jenkins


def test_a_passing_script_is_traced_in_the_log() -> None:
    wf, template, config_maps = _step('echo "hello $CICD_EXECUTION_SEQUENCE"\n')
    code, log = run_container(wf, template, config_maps)
    assert code == 0 and log.startswith("+ echo ") and log.endswith("\nhello 1\n")


def test_a_script_starting_with_a_shebang_is_run_by_its_interpreter() -> None:
    wf, template, config_maps = _step("#!/usr/bin/env python3\nimport sys\nprint('python', sys.version_info[0])\n")
    assert template["container"]["command"] == ["/translator/scripts/s.sh"]
    code, log = run_container(wf, template, config_maps)
    assert (code, log) == (0, "python 3\n")
    wf, template, config_maps = _step("#!/bin/sh\nfalse\necho no -e here\n")  # durable-task: no -xe either
    assert run_container(wf, template, config_maps) == (0, "no -e here\n")


@pytest.mark.parametrize(("script", "command"), [
    ("make", ["sh", "-xe", "/s.sh"]),
    (" #!/bin/bash\nmake", ["sh", "-xe", "/s.sh"]),  # Rancher's leading space: never a shebang
    ("\n#!/bin/bash", ["sh", "-xe", "/s.sh"]),
    ("#!/bin/bash\nmake", ["/s.sh"]),
    ("#!", ["/s.sh"]),
])
def test_launch_rule_is_durable_tasks(script: str, command: list[str]) -> None:
    """durable-task BourneShellScript: `sh -xe` unless the text starts with `#!`."""
    assert launch_command(script, "/s.sh") == command


def test_tool_steps_start_the_same_way() -> None:
    from translator.compiler.compile import compile_text
    from translator.compiler.context import ExecutionContext

    text = "stages:\n- name: s\n  steps:\n  - applyYamlConfig: {path: k.yaml}\n"
    wf = compile_text(text, ExecutionContext()).objects[0]
    for t in wf["spec"]["templates"][1:]:
        assert t["container"]["command"][:2] == ["sh", "-xe"], t["name"]
