"""The compiler's run-time warnings name the step by its path in the user's file, as the
validator's findings do: the Clone stage the plan inserts is not one of the file's stages."""

from __future__ import annotations

from translator.compiler.compile import compile_text
from translator.compiler.context import ExecutionContext

PULL_REQUEST = ExecutionContext(event="pull_request")


def _warnings(text: str) -> tuple[str, ...]:
    result = compile_text(text, PULL_REQUEST)
    assert result.plan is not None, result.findings
    return result.plan.warnings


def test_warnings_name_the_files_stage_when_the_clone_stage_is_inserted() -> None:
    warnings = _warnings("""
stages:
- name: Build
  steps:
  - runScriptConfig: {image: alpine, shellScript: env}
    envFrom: [{sourceName: creds, sourceKey: token}]
  - publishImageConfig: {dockerfilePath: ./Dockerfile, buildContext: ., tag: example/app:latest}
""")
    assert warnings == (
        "stages[0].steps[0]: envFrom withheld on a pull_request run (creds)",
        "stages[0].steps[1]: no local registry is configured (PipelineSetting spec.localRegistry); "
        "pushing to example/app:latest",
    )


def test_warnings_keep_the_files_index_when_the_file_has_its_own_clone_stage() -> None:
    warnings = _warnings("""
stages:
- name: Clone
  steps:
  - sourceCodeConfig: {}
- name: Build
  steps:
  - runScriptConfig: {image: alpine, shellScript: env}
    envFrom: [{sourceName: creds, sourceKey: token}]
""")
    assert warnings == ("stages[1].steps[0]: envFrom withheld on a pull_request run (creds)",)
