"""One call from pipeline-file text to engine objects, for the CLI, the controller and tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from translator.api.config_types import PipelineConfig
from translator.api.config_validation import Finding, Severity, ValidationResult, validate_text
from translator.api.resources_types import PipelineSettingSpec
from translator.compiler import jenkins
from translator.compiler.argo import render
from translator.compiler.context import ExecutionContext
from translator.compiler.plan import CompileError, Plan, build_plan


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
        plan = build_plan(config, ctx, setting)
        if engine == "argo":
            result.objects = render(plan).objects()
        elif engine == "jenkins":
            result.jenkins = jenkins.render(plan)
        else:
            raise CompileError(f"unknown engine {engine!r}")
    except CompileError as exc:
        result.findings.append(Finding(Severity.ERROR, "(run)", str(exc)))
        return result
    result.plan = plan
    result.findings += [Finding(Severity.WARNING, "(run)", w) for w in plan.warnings]
    return result


def compile_text(
    text: str, ctx: ExecutionContext, setting: PipelineSettingSpec | None = None, *,
    engine: str = "argo", strict: bool = False,
) -> CompileResult:
    validation: ValidationResult = validate_text(text, strict=strict)
    if validation.config is None:
        return CompileResult(findings=validation.findings)
    result = compile_config(validation.config, ctx, setting or PipelineSettingSpec(), engine=engine)
    result.findings = validation.findings + result.findings
    return result
