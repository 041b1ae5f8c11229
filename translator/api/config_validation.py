"""Validate a pipeline file: every problem, with its field path and line; nothing changed.

Rancher decoded pipeline files with Go's yaml.v2 into structs, which silently dropped keys it
did not know. Real files are full of them (a `when` one level too deep, `name` inside a step
config, `exlclude`). Here each such key is a *warning* that names the key and, where one is
likely, the place the author meant; `strict=True` turns warnings into errors. Problems that
would make a run wrong or impossible are *errors*.

The known keys, types and required fields all come from the models in `config_types`;
`config_walk` decodes the raw data the way Go did, `config_rules` adds the rules types cannot
express. The text is read within `ReadLimits` (bounded.py): past a limit, the file is refused
with one finding naming the limit and the line.

This validator never raises on any input: every outcome is a finding (the fuzz target in
tests/api/test_fuzz.py holds it to that).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from translator.api.bounded import PIPELINE_FILE, Clock, InputRefused, ReadLimits, check_shape
from translator.api.config_rules import check_semantics
from translator.api.config_types import PipelineConfig
from translator.api.config_walk import Walker, pydantic_message
from translator.api.findings import Finding, Severity
from translator.api.setting_types import PipelineSettingSpec
from translator.api.yaml_source import SourceDocument, YamlSyntaxError, format_path, parse

__all__ = ["PIPELINE_FILE_NAMES", "Finding", "Severity", "ValidationResult", "file_limits", "validate_data",
           "validate_document", "validate_text"]


@dataclass
class ValidationResult:
    """The outcome: a config when there were no errors, and every finding either way."""

    config: PipelineConfig | None
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.WARNING]

    @property
    def ok(self) -> bool:
        return self.config is not None and not self.errors


PIPELINE_FILE_NAMES = (".cubepaas.devops.yml", ".rancher-pipeline.yml", ".rancher-pipeline.yaml")

_TOP_KEYS = {"stages", "timeout", "branch", "notification"}


def file_limits(setting: PipelineSettingSpec) -> ReadLimits:
    """The limits of a pipeline file under a PipelineSetting (its `maxPipelineFileBytes`)."""
    return PIPELINE_FILE.with_max_bytes(setting.max_pipeline_file_bytes)


def refused(exc: InputRefused) -> ValidationResult:
    """The result for a document that could not be read at all."""
    message = exc.message
    if isinstance(exc, YamlSyntaxError) and not exc.limit:
        message = f"not valid YAML: {message}"
    return ValidationResult(None, [Finding(Severity.ERROR, "(file)", message, exc.line, exc.column)])


def validate_text(text: str, *, strict: bool = False, limits: ReadLimits = PIPELINE_FILE,
                  clock: Clock | None = None) -> ValidationResult:
    """Parse (within `limits`; `clock` enables the time budget) and validate a pipeline file."""
    try:
        doc = parse(text, limits=limits, clock=clock)
    except InputRefused as exc:
        return refused(exc)
    return validate_document(doc, strict=strict)


def validate_data(data: Any, *, strict: bool = False, limits: ReadLimits = PIPELINE_FILE) -> ValidationResult:
    """Validate an already-decoded config (a Pipeline's inline `config`): no line numbers."""
    try:
        check_shape(data, limits, subject="")
    except InputRefused as exc:
        return refused(exc)
    return validate_document(SourceDocument(data=data), strict=strict)


def validate_document(doc: SourceDocument, *, strict: bool = False) -> ValidationResult:
    findings: list[Finding] = []
    refusal = _not_a_pipeline(doc)
    if refusal:
        return ValidationResult(None, [refusal])
    walker = Walker(doc, findings)
    if doc.documents > 1:
        walker.warn((), f"the file holds {doc.documents} YAML documents; only the first is read")
    for path, pos in doc.duplicates:
        findings.append(
            Finding(
                Severity.WARNING, format_path(path),
                "duplicate key; the later value is used, as Rancher did", pos.line, pos.column,
            )
        )
    cleaned = walker.normalize(doc.data, PipelineConfig, ())
    config: PipelineConfig | None = None
    try:
        config = PipelineConfig.model_validate(cleaned)
    except ValidationError as exc:
        for err in exc.errors():
            path = tuple(p for p in err["loc"] if not _is_union_tag(p))
            walker.error(path, pydantic_message(err))
    check_semantics(cleaned, walker)
    if strict:
        findings[:] = [
            Finding(Severity.ERROR, f.path, f.message + " [strict]", f.line, f.column)
            if f.severity is Severity.WARNING else f
            for f in findings
        ]
    findings.sort(key=lambda f: (f.line or 0, f.severity != Severity.ERROR, f.path))
    has_errors = any(f.severity is Severity.ERROR for f in findings)
    return ValidationResult(None if has_errors else config, findings)


def _not_a_pipeline(doc: SourceDocument) -> Finding | None:
    data = doc.data
    if doc.documents == 0 or data is None:
        return Finding(Severity.ERROR, "(file)", "not a pipeline: the file is empty")
    if not isinstance(data, dict):
        kind = "text" if isinstance(data, str) else "a list" if isinstance(data, list) else f"a {type(data).__name__}"
        if isinstance(data, str) and re.search(r"\b(pipeline|node|stage)\s*[({]", data):
            kind = "a Jenkinsfile"
        return Finding(
            Severity.ERROR, "(file)",
            f"not a pipeline: the file holds {kind}; a pipeline file is a mapping with `stages`",
            doc.line_of(()),
        )
    if not _TOP_KEYS & set(data):
        hint = ""
        if "apiVersion" in data and "kind" in data:
            hint = f"; it looks like a Kubernetes {str(data.get('kind'))[:60]} object"
        elif "pipeline" in data or "node" in data:
            hint = "; it looks like a Jenkinsfile"
        keys = ", ".join(sorted(str(k)[:40] for k in data)[:5])
        return Finding(
            Severity.ERROR, "(file)",
            f"not a pipeline: none of stages, timeout, branch, notification at the top level "
            f"(found {keys}){hint}",
            doc.line_of(()),
        )
    return None


def _is_union_tag(part: Any) -> bool:
    return isinstance(part, str) and (part[:1].isupper() or part.startswith("function-"))
