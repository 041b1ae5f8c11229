"""Plan -> a Jenkinsfile in the shape Rancher's users know, and the job's config.xml.

One Kubernetes `podTemplate` whose pod YAML holds one container per step (image, env,
secrets, resources, privileged, node selector, tolerations, the cache hostPath volumes and the
same preferred node affinity as on Argo) and the `jnlp` agent container; a `stage` per stage;
`parallel` branches for the steps of a stage; `timeout` around the whole run, the wait for the
agent pod included (as Argo's `activeDeadlineSeconds` covers pending pods). A step that does not
match its `when` is marked skipped so the stage view shows it.

What a real Jenkins needs, and why it is written so:
- The agent process in the `jnlp` container writes durable-task's control files
  (`<dir>@tmp/durable-*`, durable-task FileMonitoringTask) and `writeFile` output through its own
  filesystem, and the kubernetes plugin gives a default `jnlp` container none of the pod YAML's
  mounts (PodTemplateBuilder.build): the pod declares `jnlp` with the workspace mounted, and every
  step runs in a directory under /workspace, so `<dir>@tmp` is on the shared volume too.
- Scripts go to `sh` unchanged: durable-task runs them `sh -xe` unless the text starts with `#!`
  (BourneShellScript.launchWithCookie), the rule `compiler/scripts.launch_command` writes for Argo,
  so a step starts the same way on both engines (trace in the log, the first failing command
  fails the step).
- The JVM refuses string constants over 65,535 bytes of modified UTF-8 ("String too long" at
  class generation): long literals (pod YAML, scripts, files) are chunks joined at run time.
- Inner (step) stage names never equal an outer (stage) name: wfapi lists both, flat.

User text is data, never Groovy: every string the user wrote (scripts, names, env values,
the pod YAML that carries them) is emitted as single-quoted Groovy string literals, in
which only `\\` and `'` are special and `${...}` is not interpolated; newlines become `\\n`.
Files the tool scripts read (inline YAML, Helm values) are written into the workspace with
`writeFile`, from such literals too.

Stored formats: container names `s<stage>-<step>`; agent pods carry the plan's labels
(`devops.cubepaas.io/execution` finds them: the plugin overwrites `jenkins/label` with its own
sanitised form, PodTemplate.recomputeLabelDerivedFields); the workspace volume at /workspace,
as on Argo, so the same step scripts run on both engines.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

import yaml

from translator.compiler.plan import (
    LABEL_PREFIX,
    SOURCE_DIR,
    WORKSPACE,
    Plan,
    PlanStep,
)
from translator.compiler.pod import (
    account_fields,
    cache_seed_container,
    env_entry,
    node_affinity,
    shared_mounts,
    shared_volumes,
    split_resources,
)

FILES_DIR = f"{WORKSPACE}/.translator"  # where writeFile puts the step scripts' extra files
SKIP = "org.jenkinsci.plugins.pipeline.modeldefinition.Utils.markStageSkippedForConditional"
AGENT_CONTAINER = "jnlp"  # kubernetes-plugin KubernetesCloud.JNLP_NAME
AGENT_USER = 1000  # jenkins/inbound-agent runs as `jenkins` (1000); root step containers write its files too
# Each literal chunk holds at most this many code points: at most 6 bytes each in the class file's
# modified UTF-8 (a supplementary character is two 3-byte surrogates), 49,152 < 65,535.
CHUNK = 8192


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


def groovy_text(text: str) -> str:
    """`text` as a Groovy expression: one literal, or chunks joined at run time when it is long."""
    if len(text) <= CHUNK:
        return groovy_string(text)
    chunks = [groovy_string(text[i:i + CHUNK]) for i in range(0, len(text), CHUNK)]
    return "(" + " + ".join(chunks) + ")"


def container_name(step: PlanStep) -> str:
    return f"s{step.stage_index}-{step.step_index}"


def job_name(plan: Plan) -> str:
    return f"{plan.namespace}-{plan.object_name}"


def branch_stage_names(plan: Plan) -> dict[str, str]:
    """Step id -> the name of its stage inside the parallel branch: the id, unless an outer stage
    (or an earlier step) already has that name, then `<id>~<n>`. Deterministic."""
    taken = {stage.name for stage in plan.stages}
    names: dict[str, str] = {}
    for step in plan.steps:
        name, n = step.id, 1
        while name in taken:
            name, n = f"{step.id}~{n}", n + 1
        taken.add(name)
        names[step.id] = name
    return names


def agent_container() -> dict[str, Any]:
    """`jnlp` with the workspace: the plugin fills in image, args and env (PodTemplateBuilder.build)."""
    return {"name": AGENT_CONTAINER, "securityContext": {"runAsUser": AGENT_USER},
            "volumeMounts": [{"name": "workspace", "mountPath": WORKSPACE}]}


def pod_spec(plan: Plan) -> dict[str, Any]:
    """The agent pod: one long-lived container per step, the agent container, and the Argo run's volumes."""
    setting = plan.setting
    volumes: list[dict[str, Any]] = [{"name": "workspace", "emptyDir": {}}]
    volumes += shared_volumes(plan)
    containers = []
    resources = split_resources(plan)
    for step in plan.steps:
        env = [env_entry(var) for var in step.env]
        env.append({"name": "TRANSLATOR_FILES", "value": FILES_DIR})
        mounts: list[dict[str, Any]] = [{"name": "workspace", "mountPath": WORKSPACE}, *shared_mounts(step)]
        container: dict[str, Any] = {
            "name": container_name(step), "image": step.image,
            "command": ["/bin/sh", "-c", "cat"], "tty": True,  # kept alive for the `sh` steps
            "env": env,
            "resources": resources[step.id],  # requests split to the peak stage, as on Argo's one pod
            "volumeMounts": mounts,
        }
        if step.privileged and not step.skipped:  # a skipped step's container never runs anything
            container["securityContext"] = {"privileged": True}
        containers.append(container)
    containers.append(agent_container())
    spec: dict[str, Any] = {**account_fields(plan), "containers": containers, "volumes": volumes}
    seed = cache_seed_container(plan, [c for step in plan.steps for c in step.caches])
    if seed:  # a pull request's cache copies, seeded before any step starts
        spec["initContainers"] = [seed]
    if setting.node_selector:
        spec["nodeSelector"] = dict(setting.node_selector)
    if setting.tolerations:
        spec["tolerations"] = [t.model_dump(by_alias=True, exclude_none=True) for t in setting.tolerations]
    if setting.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": n} for n in setting.image_pull_secrets]
    affinity = node_affinity(plan)
    if affinity:
        spec["affinity"] = affinity
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"labels": dict(plan.labels)}, "spec": spec}


def _step_body(step: PlanStep, indent: str) -> list[str]:
    lines = [f"{indent}container({groovy_string(container_name(step))}) {{"]
    inner = indent + "    "
    if step.files:
        lines.append(f"{inner}dir({groovy_string(FILES_DIR)}) {{")
        for name, content in step.files:
            lines.append(f"{inner}    writeFile(file: {groovy_string(name)}, text: {groovy_text(content)})")
        lines.append(f"{inner}}}")
    # the clone step too runs in /workspace/source (its script makes it): `<dir>@tmp` stays on the volume
    lines.append(f"{inner}dir({groovy_string(SOURCE_DIR)}) {{")
    script = groovy_text(step.script)  # durable-task: `sh -xe` unless it starts with `#!`
    lines.append(f"{inner}    sh(label: {groovy_string(step.display_name)}, script: {script})")
    lines.append(f"{inner}}}")
    lines.append(f"{indent}}}")
    return lines


class _PodDumper(yaml.SafeDumper):
    """safe_dump, whatever else registered representers (importing hera makes multi-line strings block literals)."""


_PodDumper.add_representer(str, yaml.representer.SafeRepresenter.represent_str)


def jenkinsfile(plan: Plan) -> str:
    pod = yaml.dump(pod_spec(plan), Dumper=_PodDumper, sort_keys=False, width=1000)
    label = plan.object_name
    inner = branch_stage_names(plan)
    out = [
        "// Generated by translator from the pipeline file: edit that, not this.",
        f"timeout(time: {max(1, plan.timeout_seconds // 60)}, unit: 'MINUTES') {{",
        f"    podTemplate(label: {groovy_string(label)}, namespace: {groovy_string(plan.namespace)},"
        f" yaml: {groovy_text(pod)}) {{",
        f"        node({groovy_string(label)}) {{",
    ]
    pad = " " * 12
    for stage in plan.stages:
        out.append(f"{pad}stage({groovy_string(stage.name)}) {{")
        if stage.skipped:
            out.append(f"{pad}    echo({groovy_string('skipped: ' + (stage.skip_reason or 'condition not met'))})")
            out.append(f"{pad}    {SKIP}({groovy_string(stage.name)})")
        else:
            out.append(f"{pad}    parallel(")
            for step in stage.steps:
                name = inner[step.id]
                out.append(f"{pad}        {groovy_string(name)}: {{")
                out.append(f"{pad}            stage({groovy_string(name)}) {{")
                if step.skipped:
                    out.append(f"{pad}                echo({groovy_string('skipped: ' + step.skip_reason)})")
                    out.append(f"{pad}                {SKIP}({groovy_string(name)})")
                else:
                    out += _step_body(step, pad + "                ")
                out.append(f"{pad}            }}")
                out.append(f"{pad}        }},")
            out.append(f"{pad}        failFast: true")
            out.append(f"{pad}    )")
        out.append(f"{pad}}}")
    out += ["        }", "    }", "}", ""]
    return "\n".join(out)


def config_xml(plan: Plan, script: str) -> str:
    """A pipeline job with the script inline, sandboxed; never two builds of it at once (workflow-job
    DisableConcurrentBuildsJobProperty: a second build waits in the queue, it does not run beside the first)."""
    description = json.dumps({"namespace": plan.namespace, "pipeline": plan.pipeline, "run": plan.run,
                              "execution": plan.execution, f"{LABEL_PREFIX}/branch": plan.branch})
    return (
        "<?xml version='1.1' encoding='UTF-8'?>\n"
        '<flow-definition plugin="workflow-job">\n'
        f"  <description>{escape(description)}</description>\n"
        "  <keepDependencies>false</keepDependencies>\n"
        "  <properties>\n"
        "    <org.jenkinsci.plugins.workflow.job.properties.DisableConcurrentBuildsJobProperty>\n"
        "      <abortPrevious>false</abortPrevious>\n"
        "    </org.jenkinsci.plugins.workflow.job.properties.DisableConcurrentBuildsJobProperty>\n"
        "  </properties>\n"
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
