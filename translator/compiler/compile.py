"""One call from pipeline-file text to engine objects, for the CLI, the controller and tests.

`check_text` is `translator validate`: the validator plus, for an engine, the engine's limits
(compiler/limits.py) on a run with neutral facts (branch master, event push, the file's own
top-level `branch` set aside). `compile_text` validates the same way and compiles the run it
is given, whose facts may add a refusal (a branch the file does not run on) and warnings (a
substituted tag a registry would refuse); it never accepts what `check_text` refuses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from translator.api.bounded import PIPELINE_FILE, Clock, ReadLimits
from translator.api.config_types import PipelineConfig
from translator.api.config_validation import Finding, Severity, ValidationResult, validate_text
from translator.api.setting_types import PipelineSettingSpec
from translator.compiler import jenkins, limits
from translator.compiler.argo import render
from translator.compiler.context import ExecutionContext
from translator.compiler.plan import CompileError, Plan, build_plan

ENGINES = ("argo", "jenkins")


@dataclass
class CompileResult:
    findings: list[Finding] = field(default_factory=list)
    plan: Plan | None = None
    objects: list[dict[str, Any]] = field(default_factory=list)  # argo
    jenkins: jenkins.JenkinsOutput | None = None

    @property
    def ok(self) -> bool:
        return self.plan is not None and not any(f.severity is Severity.ERROR for f in self.findings)


def compile_config(
    config: PipelineConfig, ctx: ExecutionContext, setting: PipelineSettingSpec, *, engine: str = "argo",
) -> CompileResult:
    """A validated config -> plan -> engine objects; refusals become error findings."""
    result = CompileResult()
    try:
        if engine == "argo":
            limits.check_argo_config(config)
        plan = build_plan(config, ctx, setting)
        if engine == "argo":
            result.objects = render(plan).objects()
        elif engine == "jenkins":
            result.jenkins = jenkins.render(plan)
            limits.check_jenkins(plan, result.jenkins.jenkinsfile)
        else:
            raise CompileError(f"unknown engine {engine!r}")
    except CompileError as exc:
        result.findings.append(Finding(Severity.ERROR, "(run)", str(exc)))
        return result
    result.plan = plan
    result.findings += [Finding(Severity.WARNING, "(run)", w)
                        for w in (*plan.warnings, *limits.substituted_problems(plan))]
    return result


def engine_findings(config: PipelineConfig, setting: PipelineSettingSpec, engine: str) -> list[Finding]:
    """The engine's refusals of any run of `config` (facts that vary between runs set aside)."""
    neutral = config.model_copy(update={"branch": None})
    checked = compile_config(neutral, ExecutionContext(), setting, engine=engine)
    return [f for f in checked.findings if f.severity is Severity.ERROR]


def check_text(
    text: str, *, engine: str | None = None, strict: bool = False, setting: PipelineSettingSpec | None = None,
    read_limits: ReadLimits = PIPELINE_FILE, clock: Clock | None = None,
) -> ValidationResult:
    """Validate a pipeline file and, given an engine, what that engine refuses of every run of it."""
    validation = validate_text(text, strict=strict, limits=read_limits, clock=clock)
    if validation.config is None or engine is None:
        return validation
    refused = engine_findings(validation.config, setting or PipelineSettingSpec(), engine)
    if refused:
        return ValidationResult(None, validation.findings + refused)
    return validation


def compile_text(
    text: str, ctx: ExecutionContext, setting: PipelineSettingSpec | None = None, *,
    engine: str = "argo", strict: bool = False, read_limits: ReadLimits = PIPELINE_FILE, clock: Clock | None = None,
) -> CompileResult:
    validation: ValidationResult = validate_text(text, strict=strict, limits=read_limits, clock=clock)
    if validation.config is None:
        return CompileResult(findings=validation.findings)
    result = compile_config(validation.config, ctx, setting or PipelineSettingSpec(), engine=engine)
    result.findings = validation.findings + result.findings
    return result
