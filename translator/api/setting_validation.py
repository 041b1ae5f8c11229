"""A PipelineSetting read from a file (`translator compile --setting`): bounded, with lines.

The same reader as pipeline files (bounds, libyaml); each problem is a finding in our words
with its field path and line (`spec.executorQuota: must be a whole number, got 'lots' (line
3)`), never pydantic's own text and documentation URLs.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from translator.api.bounded import PIPELINE_FILE, InputRefused, ReadLimits
from translator.api.config_walk import pydantic_message
from translator.api.findings import Finding, Severity
from translator.api.setting_types import PipelineSettingSpec
from translator.api.yaml_source import Path, YamlSyntaxError, format_path, parse


def validate_setting_text(text: str, *, limits: ReadLimits = PIPELINE_FILE
                          ) -> tuple[PipelineSettingSpec | None, list[Finding]]:
    """The setting's spec (a whole PipelineSetting object, or just its spec), or the findings."""
    try:
        doc = parse(text, limits=limits)
    except InputRefused as exc:
        message = exc.message if isinstance(exc, YamlSyntaxError) and exc.limit else f"not valid YAML: {exc.message}"
        return None, [Finding(Severity.ERROR, "(file)", message, exc.line, exc.column)]
    data: Any = doc.data
    if data is None:
        return PipelineSettingSpec(), []
    if not isinstance(data, dict):
        return None, [Finding(Severity.ERROR, "(file)", "not a PipelineSetting: the file holds "
                              f"{type(data).__name__}, not a mapping", doc.line_of(()))]
    kind = data.get("kind")
    if kind is not None and kind != "PipelineSetting":
        return None, [Finding(Severity.ERROR, "kind", f"not a PipelineSetting: kind is {str(kind)[:60]!r}",
                              doc.line_of(("kind",)))]
    prefix: Path = ("spec",) if "spec" in data else ()
    spec = data.get("spec", data) if prefix else {k: v for k, v in data.items() if k not in ("apiVersion", "kind")}
    if spec is None:
        return PipelineSettingSpec(), []
    try:
        return PipelineSettingSpec.model_validate(spec), []
    except ValidationError as exc:
        findings = []
        for err in exc.errors():
            path: Path = (*prefix, *(p for p in err["loc"] if isinstance(p, int) or not p[:1].isupper()))
            findings.append(Finding(Severity.ERROR, format_path(path), pydantic_message(err), doc.line_of(path)))
        return None, findings
