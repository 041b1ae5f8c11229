"""Plan -> a Jenkinsfile in the shape Rancher's users know, and the job's config.xml.

One Kubernetes `podTemplate` whose pod YAML holds one container per step (image, env,
secrets, resources, privileged, node selector, tolerations, the cache hostPath volumes and the
same preferred node affinity as on Argo); a `stage` per stage; `parallel` branches for the
steps of a stage; `timeout` and `timestamps` around the whole run. A step that does not
match its `when` is marked skipped so the stage view shows it.

User text is data, never Groovy: every string the user wrote (scripts, names, env values,
the pod YAML that carries them) is emitted as a single-quoted Groovy string literal, in
which only `\\` and `'` are special and `${...}` is not interpolated; newlines become `\\n`.
Files the tool scripts read (inline YAML, Helm values) are written into the workspace with
`writeFile`, from such literals too.

Stored formats: container names `s<stage>-<step>`; the pod label `jenkins/label=<execution>`;
the workspace volume at /workspace, as on Argo, so the same step scripts run on both engines.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

import yaml

from translator.api.config_types import StepType
from translator.compiler.plan import (
    LABEL_PREFIX,
    SOURCE_DIR,
    WORKSPACE,
    Plan,
    PlanStep,
)
from translator.compiler.pod import env_entry, node_affinity, shared_mounts, shared_volumes

FILES_DIR = f"{WORKSPACE}/.translator"  # where writeFile puts the step scripts' extra files
SKIP = "org.jenkinsci.plugins.pipeline.modeldefinition.Utils.markStageSkippedForConditional"


@dataclass(frozen=True)
class JenkinsOutput:
    jenkinsfile: str
    config_xml: str
    job_name: str


def groovy_string(text: str) -> str:
    """A single-quoted Groovy literal: no interpolation, nothing in `text` can end it."""
    out = text.replace("\\", "\\\\").replace("'", "\\'")
    out = out.replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t")
    out = "".join(ch if ord(ch) >= 0x20 else f"\\u{ord(ch):04x}" for ch in out)
    return f"'{out}'"


def container_name(step: PlanStep) -> str:
    return f"s{step.stage_index}-{step.step_index}"


def job_name(plan: Plan) -> str:
    return f"{plan.namespace}-{plan.object_name}"


def pod_spec(plan: Plan) -> dict[str, Any]:
    """The agent pod: one long-lived container per step, and the Argo run's volumes."""
    setting = plan.setting
    volumes: list[dict[str, Any]] = [{"name": "workspace", "emptyDir": {}}]
    volumes += shared_volumes(plan)
    containers = []
    for step in plan.steps:
        env = [env_entry(var) for var in step.env]
        env.append({"name": "TRANSLATOR_FILES", "value": FILES_DIR})
        mounts: list[dict[str, Any]] = [{"name": "workspace", "mountPath": WORKSPACE}, *shared_mounts(step)]
        container: dict[str, Any] = {
            "name": container_name(step), "image": step.image,
            "command": ["/bin/sh", "-c", "cat"], "tty": True,  # kept alive for the `sh` steps
            "env": env,
            "resources": {"requests": dict(step.resources["requests"]), "limits": dict(step.resources["limits"])},
            "volumeMounts": mounts,
        }
        if step.privileged:
            container["securityContext"] = {"privileged": True}
        containers.append(container)
    spec: dict[str, Any] = {
        "serviceAccountName": setting.argo.service_account,
        "containers": containers,
        "volumes": volumes,
    }
    if setting.node_selector:
        spec["nodeSelector"] = dict(setting.node_selector)
    if setting.tolerations:
        spec["tolerations"] = [t.model_dump(by_alias=True, exclude_none=True) for t in setting.tolerations]
    if setting.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": n} for n in setting.image_pull_secrets]
    affinity = node_affinity(plan)
    if affinity:
        spec["affinity"] = affinity
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"labels": {**plan.labels, "jenkins/label": plan.object_name}}, "spec": spec}


def _step_body(step: PlanStep, indent: str) -> list[str]:
    lines = [f"{indent}container({groovy_string(container_name(step))}) {{"]
    inner = indent + "    "
    if step.files:
        lines.append(f"{inner}dir({groovy_string(FILES_DIR)}) {{")
        for name, content in step.files:
            lines.append(f"{inner}    writeFile(file: {groovy_string(name)}, text: {groovy_string(content)})")
        lines.append(f"{inner}}}")
    workdir = WORKSPACE if step.kind is StepType.SOURCE_CODE else SOURCE_DIR
    lines.append(f"{inner}dir({groovy_string(workdir)}) {{")
    lines.append(f"{inner}    sh(label: {groovy_string(step.display_name)}, script: {groovy_string(step.script)})")
    lines.append(f"{inner}}}")
    lines.append(f"{indent}}}")
    return lines


def jenkinsfile(plan: Plan) -> str:
    pod = yaml.safe_dump(pod_spec(plan), sort_keys=False, width=1000)
    label = plan.object_name
    out = [
        "// Generated by translator from the pipeline file: edit that, not this.",
        f"podTemplate(label: {groovy_string(label)}, yaml: {groovy_string(pod)}) {{",
        f"    node({groovy_string(label)}) {{",
        "        timestamps {",
        f"            timeout(time: {max(1, plan.timeout_seconds // 60)}, unit: 'MINUTES') {{",
    ]
    pad = " " * 16
    for stage in plan.stages:
        out.append(f"{pad}stage({groovy_string(stage.name)}) {{")
        if stage.skipped:
            out.append(f"{pad}    echo({groovy_string('skipped: ' + (stage.skip_reason or 'condition not met'))})")
            out.append(f"{pad}    {SKIP}({groovy_string(stage.name)})")
        else:
            out.append(f"{pad}    parallel(")
            for step in stage.steps:
                out.append(f"{pad}        {groovy_string(step.id)}: {{")
                out.append(f"{pad}            stage({groovy_string(step.id)}) {{")
                if step.skipped:
                    out.append(f"{pad}                echo({groovy_string('skipped: ' + step.skip_reason)})")
                    out.append(f"{pad}                {SKIP}({groovy_string(step.id)})")
                else:
                    out += _step_body(step, pad + "                ")
                out.append(f"{pad}            }}")
                out.append(f"{pad}        }},")
            out.append(f"{pad}        failFast: true")
            out.append(f"{pad}    )")
        out.append(f"{pad}}}")
    out += ["            }", "        }", "    }", "}", ""]
    return "\n".join(out)


def config_xml(plan: Plan, script: str) -> str:
    """A pipeline job with the script inline, sandboxed."""
    description = json.dumps({"namespace": plan.namespace, "pipeline": plan.pipeline, "run": plan.run,
                              "execution": plan.execution, f"{LABEL_PREFIX}/branch": plan.branch})
    return (
        "<?xml version='1.1' encoding='UTF-8'?>\n"
        '<flow-definition plugin="workflow-job">\n'
        f"  <description>{escape(description)}</description>\n"
        "  <keepDependencies>false</keepDependencies>\n"
        "  <properties/>\n"
        '  <definition class="org.jenkinsci.plugins.workflow.cps.CpsFlowDefinition" plugin="workflow-cps">\n'
        f"    <script>{escape(script)}</script>\n"
        "    <sandbox>true</sandbox>\n"
        "  </definition>\n"
        "  <triggers/>\n"
        "  <disabled>false</disabled>\n"
        "</flow-definition>\n"
    )


def render(plan: Plan) -> JenkinsOutput:
    script = jenkinsfile(plan)
    return JenkinsOutput(jenkinsfile=script, config_xml=config_xml(plan, script), job_name=job_name(plan))
