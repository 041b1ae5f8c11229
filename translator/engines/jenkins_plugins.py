"""The Jenkins the namespace preparation deploys: its core and plugin versions, pinned together.

Data, recorded by reading each plugin's `pom.xml` at its release tag: `requires` is that pom's
`jenkins.version` (the oldest core the plugin runs on, `${jenkins.baseline}.N` resolved), and
`bom` the plugin BOM line its dependencies were built against (`bom-<line>.x`), so the
dependencies jenkins-plugin-cli resolves for them fit the same core. A test checks that every
`requires` and every `bom` line is at most the pinned core. Plugins are those the generated
Jenkinsfiles and this configuration use, named explicitly rather than through
`workflow-aggregator`, so that every one is pinned; their own dependencies (script-security,
structs, scm-api, kubernetes-client-api, ...) are resolved by jenkins-plugin-cli from the update
center for the image's core, which offers only versions that core can run.
"""

from __future__ import annotations

from dataclasses import dataclass

CORE = "2.516.3"  # LTS; jenkinsci/jenkins tag jenkins-2.516.3
IMAGE = f"docker.io/jenkins/jenkins:{CORE}-lts-jdk17"


@dataclass(frozen=True)
class Pin:
    name: str  # the plugin's short name (artifactId)
    version: str
    requires: str  # jenkins.version in its pom.xml at the tag
    bom: str  # the bom-<line>.x its dependencies come from ("" when none)
    source: str  # where `requires` and `bom` were read
    why: str


PINS: tuple[Pin, ...] = (
    Pin("kubernetes", "4423.vb_59f230b_ce53", "2.504.3", "2.504",
        "jenkinsci/kubernetes-plugin tag 4423.vb_59f230b_ce53 pom.xml", "agent pods from the podTemplate"),
    Pin("workflow-job", "1571.1580.v18e46842c125", "2.516.3", "2.516",
        "jenkinsci/workflow-job-plugin tag 1571.1580.v18e46842c125 pom.xml",
        "pipeline jobs; DisableConcurrentBuildsJobProperty"),
    Pin("workflow-cps", "4350.vcc65d4958821", "2.516.3", "2.516",
        "jenkinsci/workflow-cps-plugin tag 4350.vcc65d4958821 pom.xml, plugin/pom.xml",
        "the Groovy script; `parallel`"),
    Pin("workflow-api", "1384.vdc05a_48f535f", "2.504.1", "2.504",
        "jenkinsci/workflow-api-plugin tag 1384.vdc05a_48f535f pom.xml (1398.* needs 2.532)", "flow nodes, logs"),
    Pin("workflow-support", "1015.v785e5a_b_b_8b_22", "2.504.3", "2.504",
        "jenkinsci/workflow-support-plugin tag 1015.v785e5a_b_b_8b_22 pom.xml", "node logs (LogStorageAction)"),
    Pin("workflow-durable-task-step", "1479.v56e587f413a_7", "2.479.3", "2.479",
        "jenkinsci/workflow-durable-task-step-plugin tag 1479.v56e587f413a_7 pom.xml", "`node`, `sh`, `dir`"),
    Pin("durable-task", "686.v80ff80875b_82", "2.504.3", "2.504",
        "jenkinsci/durable-task-plugin tag 686.v80ff80875b_82 pom.xml", "how `sh` runs (BourneShellScript)"),
    Pin("workflow-basic-steps", "1098.v808b_fd7f8cf4", "2.504.3", "2.504",
        "jenkinsci/workflow-basic-steps-plugin tag 1098.v808b_fd7f8cf4 pom.xml", "`timeout`, `writeFile`, `echo`"),
    Pin("pipeline-stage-step", "322.vecffa_99f371c", "2.479.1", "2.479",
        "jenkinsci/pipeline-stage-step-plugin tag 322.vecffa_99f371c pom.xml", "`stage`"),
    Pin("pipeline-stage-view", "2.41", "2.479.1", "2.479",
        "jenkinsci/pipeline-stage-view-plugin tag pipeline-stage-view-2.41 pom.xml", "wfapi (status, stages)"),
    Pin("pipeline-model-definition", "2.2277.v00573e73ddf1", "2.504.3", "2.504",
        "jenkinsci/pipeline-model-definition-plugin tag 2.2277.v00573e73ddf1 pom.xml",
        "Utils.markStageSkippedForConditional"),
    Pin("configuration-as-code", "2036.v0b_c2de701dcb_", "2.504.3", "",
        "jenkinsci/configuration-as-code-plugin tag 2036.v0b_c2de701dcb_ pom.xml (2103.* and later need 2.541)",
        "this configuration (casc.yaml)"),
)


def plugins_txt() -> str:
    """jenkins-plugin-cli's input: `name:version`, one a line."""
    return "".join(f"{pin.name}:{pin.version}\n" for pin in PINS)


def version_key(version: str) -> tuple[int, ...]:
    """A core version as numbers: '2.504.3' -> (2, 504, 3)."""
    return tuple(int(part) for part in version.split("."))
