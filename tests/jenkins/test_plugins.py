"""Finding 14: the deployed Jenkins' core and plugins resolve together.

Each pin records the `jenkins.version` its plugin's pom.xml asks for at its tag, and the plugin BOM
line its dependencies come from; none may need a newer core than the one pinned. Where the
plugins' repositories are fetched beside this checkout (`/work/.mirror`), the recorded figures are
read again from the poms at those tags.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from translator.engines import jenkins_server
from translator.engines.jenkins_plugins import CORE, IMAGE, PINS, Pin, plugins_txt, version_key

MIRRORS = Path("/work/.mirror")


def test_every_plugin_runs_on_the_pinned_core() -> None:
    core = version_key(CORE)
    for pin in PINS:
        assert version_key(pin.requires) <= core, f"{pin.name} {pin.version} needs Jenkins {pin.requires}"
        if pin.bom:
            assert version_key(pin.bom) <= core[:2], f"{pin.name}'s dependencies are from bom-{pin.bom}.x"


def test_every_plugin_is_pinned_once_and_the_image_is_the_core() -> None:
    names = [pin.name for pin in PINS]
    assert len(names) == len(set(names))
    lines = plugins_txt().splitlines()
    assert all(re.fullmatch(r"[a-z0-9-]+:[0-9][0-9A-Za-z._-]*", line) for line in lines) and len(lines) == len(PINS)
    assert IMAGE.endswith(f":{CORE}-lts-jdk17") and jenkins_server.JENKINS_IMAGE == IMAGE
    # what the generated Jenkinsfiles call, and the plugin each comes from
    assert {"kubernetes", "workflow-cps", "workflow-durable-task-step", "workflow-basic-steps", "pipeline-stage-step",
            "pipeline-model-definition", "pipeline-stage-view", "workflow-job"} <= set(names)


def _pom(repo: Path, tag: str, path: str = "pom.xml") -> str:
    return subprocess.run(["git", "-C", str(repo), "show", f"{tag}:{path}"], capture_output=True, text=True,
                          check=True, timeout=30).stdout


@pytest.mark.parametrize("pin", PINS, ids=[p.name for p in PINS])
def test_recorded_requirements_match_the_pom_at_the_tag(pin: Pin) -> None:
    owner, tag = pin.source.split(" tag ", 1)
    repo = MIRRORS / owner.replace("/", "+") / "repo"
    if not repo.exists():
        pytest.skip(f"{owner} is not fetched here (the recorded figures stand)")
    tag = tag.split()[0]
    pom = _pom(repo, tag)
    baseline = re.search(r"<jenkins\.baseline>([^<]+)<", pom)
    version = re.search(r"<jenkins\.version>([^<]+)<", pom)
    assert version is not None
    required = version.group(1).replace("${jenkins.baseline}", baseline.group(1) if baseline else "")
    assert required == pin.requires
    if pin.bom:
        assert baseline is not None and baseline.group(1) == pin.bom
