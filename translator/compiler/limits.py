"""What an engine or Kubernetes refuses to store or run, checked when a run is compiled.

A run that compiles but cannot be submitted fails late and far from its cause. Each check here
raises CompileError naming the limit, the total and the largest contributor; `validate
--engine` runs the same checks (compile.check_text), so it refuses what `compile` refuses.

- Argo: at most 200 templates in a Workflow (its CRD: `templates` maxItems), the DAG one
  included: 199 steps.
- Kubernetes: a ConfigMap's values total at most 1 MiB (`ValidateConfigMap`: `totalSize >
  core.MaxSecretSize`, values of `data` and `binaryData`); any object, as stored in etcd, at
  most 1.5 MiB (etcd's default `--max-request-bytes`, which the API server's storage inherits).
- Values substituted at compile time (`${CICD_GIT_BRANCH}` in a tag) are checked again once
  substituted, by the distribution reference grammar (api/references.py): a warning, as this
  run's facts, not the file, made them wrong.
- Jenkins: a string constant holds at most 65,535 bytes of the JVM's modified UTF-8 ("String
  too long"; compiler/jenkins.py splits long literals, this checks that none is left); the
  `timeout` step takes an `int` of minutes.
"""

from __future__ import annotations

import json
import re
from typing import Any

from translator.api.bounded import MiB, size_text
from translator.api.config_types import PipelineConfig, StepType
from translator.api.references import image_problem, push_tag_problem
from translator.compiler.plan import CompileError, Plan

ARGO_MAX_TEMPLATES = 200
CONFIG_MAP_MAX_BYTES = MiB
OBJECT_MAX_BYTES = 3 * MiB // 2
GROOVY_MAX_STRING = 65_535  # bytes of modified UTF-8 in one constant (JVM class file CONSTANT_Utf8)
JENKINS_MAX_TIMEOUT_MINUTES = 2**31 - 1


def _where(plan: Plan, step_id: str) -> str:
    for step in plan.steps:
        if step.id == step_id:
            return f"stage {plan.stages[step.stage_index].name!r}, step {step.step_index + 1}"
    return step_id


def substituted_problems(plan: Plan) -> list[str]:
    """Images and pushed tags, once this run's `${...}` values are in, that a kubelet or registry
    would refuse. Warnings, not errors: they come from this run's facts (an empty commit, no
    local registry), and the file's own text was checked by the validator. Steps that are
    skipped, and values still holding a `${...}` the compiler does not know, are left alone."""
    out = []
    for step in plan.steps:
        if step.skipped:
            continue
        where = f"stage {plan.stages[step.stage_index].name!r}, step {step.step_index + 1}"
        problem = None if "${" in step.image else image_problem(step.image)
        if problem:
            out.append(f"{where}: with this run's values the image is {step.image!r}, which no kubelet "
                       f"can pull: {problem}")
        if step.kind is StepType.PUBLISH_IMAGE:
            pushed = next((v.value for v in step.env if v.name == "PLUGIN_IMAGE"), "")
            problem = None if "${" in pushed else push_tag_problem(pushed)
            if problem:
                out.append(f"{where}: with this run's values the image to push is {pushed!r}, which a "
                           f"registry refuses: {problem}")
    return out


def check_argo_config(config: PipelineConfig) -> None:
    """The step count before any plan is built: 8,000 stages are refused at once, not after
    planning 8,000 steps."""
    steps = sum(len(stage.steps) for stage in config.stages)
    first = config.stages[0].steps[0] if config.stages and config.stages[0].steps else None
    _check_step_count(steps + (0 if first is not None and first.source_code_config is not None else 1))


def check_argo_steps(plan: Plan) -> None:
    _check_step_count(len(plan.steps))


def _check_step_count(steps: int) -> None:
    if steps + 1 > ARGO_MAX_TEMPLATES:
        raise CompileError(
            f"the run has {steps} steps (the clone step included); an Argo Workflow holds at most "
            f"{ARGO_MAX_TEMPLATES - 1}"
        )


def check_argo_objects(plan: Plan, workflow: dict[str, Any], config_map: dict[str, Any]) -> None:
    """The Workflow and its scripts ConfigMap fit what the API server stores."""
    data: dict[str, str] = config_map.get("data") or {}
    sizes = {key: len(value.encode("utf-8")) for key, value in data.items()}
    total = sum(sizes.values())
    if total > CONFIG_MAP_MAX_BYTES:
        largest = max(sizes, key=lambda k: sizes[k])
        raise CompileError(
            f"the step scripts and files total {size_text(total)}; a ConfigMap holds at most "
            f"{size_text(CONFIG_MAP_MAX_BYTES)}. The largest is {largest} ({_where(plan, largest.split('.')[0])}, "
            f"{size_text(sizes[largest])}): keep large scripts in the repository and run them from there"
        )
    for obj in (workflow, config_map):
        size = len(json.dumps(obj, separators=(",", ":")).encode("utf-8"))
        if size > OBJECT_MAX_BYTES:
            raise CompileError(f"the {obj['kind']} would be {size_text(size)}; Kubernetes stores objects of at "
                               f"most {size_text(OBJECT_MAX_BYTES)}")


_LITERAL = re.compile(r"'((?:[^'\\]|\\.)*)'")
_ESCAPE = re.compile(r"\\u[0-9a-fA-F]{4}|\\.")


def check_jenkins(plan: Plan, jenkinsfile: str) -> None:
    minutes = plan.timeout_seconds // 60
    if minutes > JENKINS_MAX_TIMEOUT_MINUTES:
        raise CompileError(f"a timeout of {minutes} minutes is more than Jenkins' timeout step takes "
                           f"(at most {JENKINS_MAX_TIMEOUT_MINUTES:,})")
    for match in _LITERAL.finditer(jenkinsfile):
        text = match.group(1)
        if len(text) <= GROOVY_MAX_STRING // 3:  # at most 3 bytes a character, escapes never shorter
            continue
        size = modified_utf8_length(_ESCAPE.sub(_unescape, text))
        if size > GROOVY_MAX_STRING:
            line = jenkinsfile.count("\n", 0, match.start()) + 1
            raise CompileError(f"line {line} of the Jenkinsfile would hold a string constant of {size:,} bytes; "
                               f"the JVM refuses constants over {GROOVY_MAX_STRING:,} (a script, a file or the "
                               "pod's YAML is too large for the Jenkins engine)")


def _unescape(match: re.Match[str]) -> str:
    escape = match.group(0)
    return chr(int(escape[2:], 16)) if escape.startswith("\\u") else {"n": "\n", "r": "\r", "t": "\t"}.get(
        escape[1], escape[1])


def modified_utf8_length(text: str) -> int:
    """Bytes of `text` in the JVM's modified UTF-8: NUL is 2, a character outside the BMP 6."""
    size = 0
    for ch in text:
        code = ord(ch)
        size += 1 if 0 < code < 0x80 else 2 if code < 0x800 else 3 if code < 0x10000 else 6
    return size
