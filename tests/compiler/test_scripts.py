"""The scripts translator writes are valid POSIX shell and read user values only from env."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from translator.compiler import scripts
from translator.compiler.scripts import answers_to_values, split_catalog_template

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
