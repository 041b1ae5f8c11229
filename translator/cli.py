"""The `translator` command line.

Exit codes: 0 done (warnings on stderr), 1 the input was refused (errors on stderr),
2 bad usage. Nothing a user can type ends in a traceback.
"""

from __future__ import annotations

import json
import re
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import click
import yaml
from pydantic import ValidationError

from translator.api.config_validation import PIPELINE_FILE_NAMES, Finding, Severity, validate_text
from translator.api.crds import render_all
from translator.api.resources_types import PipelineSettingSpec, parse_setting
from translator.compiler.compile import compile_text
from translator.compiler.context import ExecutionContext
from translator.compiler.names import dns_label

EMBEDDED_EXAMPLE = "default-pipeline.yml"
_DNS_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


class Refused(click.ClickException):
    """Input we cannot use: printed without a traceback, exit 1."""

    exit_code = 1

    def show(self, file: Any = None) -> None:
        click.echo(self.message, err=True)


def _read_source(path: str | None) -> tuple[str, str]:
    """(display name, text) of a pipeline file, a directory holding one, stdin, or the example."""
    if path is None:
        text = resources.files("translator").joinpath("examples", EMBEDDED_EXAMPLE).read_text("utf-8")
        click.echo(f"(no FILE given: compiling the embedded example {EMBEDDED_EXAMPLE})", err=True)
        return f"<embedded {EMBEDDED_EXAMPLE}>", text
    if path == "-":
        return "<stdin>", sys.stdin.read()
    target = Path(path)
    if target.is_dir():
        for name in PIPELINE_FILE_NAMES:
            if (target / name).is_file():
                target = target / name
                break
        else:
            raise Refused(f"{path}: no pipeline file here (looked for {', '.join(PIPELINE_FILE_NAMES)})")
    try:
        data = target.read_bytes()
    except OSError as exc:
        raise Refused(f"{path}: cannot read: {exc.strerror}") from None
    try:
        return str(target), data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Refused(f"{target}: not UTF-8 text (byte {exc.start})") from None


def _report(name: str, findings: list[Finding]) -> None:
    for f in findings:
        click.echo(f"{name}: {f.severity.value}: {f}", err=True)


def _load_setting(path: str | None) -> PipelineSettingSpec:
    if path is None:
        return PipelineSettingSpec()
    name, text = _read_source(path)
    try:
        return parse_setting(yaml.safe_load(text))
    except yaml.YAMLError as exc:
        raise Refused(f"{name}: not valid YAML: {exc}") from None
    except (ValidationError, AttributeError, TypeError) as exc:
        raise Refused(f"{name}: not a PipelineSetting: {exc}") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="translator")
def main() -> None:
    """Rancher-format pipelines (.cubepaas.devops.yml, .rancher-pipeline.yml) on Kubernetes."""


@main.command()
@click.argument("file", required=False)
@click.option("--engine", type=click.Choice(["argo"]), default="argo", show_default=True,
              help="Engine to compile for.")
@click.option("--branch", default="master", show_default=True, help="Branch of the run.")
@click.option("--event", type=click.Choice(["push", "pull_request", "tag"]), default="push",
              show_default=True, help="Event that started the run.")
@click.option("--commit", default="", help="Commit SHA of the run.")
@click.option("--ref", default="", help="Git ref of the run (refs/heads/..., refs/tags/...).")
@click.option("--run", "run_number", type=click.IntRange(min=1), default=1, show_default=True,
              help="Run number.")
@click.option("--namespace", default="default", show_default=True, help="Pipeline namespace.")
@click.option("--pipeline", default="pipeline", show_default=True, help="Pipeline name.")
@click.option("--repository-url", default="", help="Repository the run clones.")
@click.option("--cache-nodes", default="", help="Nodes that ran the pipeline last, newest first: n1,n2.")
@click.option("--setting", "setting_file", default=None, help="A PipelineSetting YAML file to use.")
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@click.option("-o", "--output", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
def compile(
    file: str | None, engine: str, branch: str, event: str, commit: str, ref: str, run_number: int,
    namespace: str, pipeline: str, repository_url: str, cache_nodes: str, setting_file: str | None,
    strict: bool, output: str,
) -> None:
    """Compile a pipeline FILE (or a directory holding one; '-' reads stdin) for one run.

    Without FILE, compiles the embedded example. Prints the Workflow and the ConfigMap it
    mounts: YAML documents, or with -o json one `List` object.
    """
    for value, option, limit in ((namespace, "--namespace", 63), (pipeline, "--pipeline", 253)):
        if not _DNS_NAME.fullmatch(value) or len(value) > limit:
            raise click.BadParameter(
                f"{value!r} is not a Kubernetes name (lowercase letters, digits, '-'; e.g. {dns_label(value)!r})",
                param_hint=option,
            )
    name, text = _read_source(file)
    setting = _load_setting(setting_file)
    ctx = ExecutionContext(
        namespace=namespace, pipeline=pipeline, run=run_number, branch=branch, event=event,
        commit=commit, ref=ref, repository_url=repository_url,
        cache_nodes=tuple(n.strip() for n in cache_nodes.split(",") if n.strip()),
    )
    result = compile_text(text, ctx, setting, engine=engine, strict=strict)
    _report(name, result.findings)
    if not result.ok:
        raise Refused(f"{name}: refused ({sum(f.severity is Severity.ERROR for f in result.findings)} errors)")
    if output == "json":
        click.echo(json.dumps({"apiVersion": "v1", "kind": "List", "items": result.objects}, indent=2))
    else:
        click.echo(yaml.safe_dump_all(result.objects, sort_keys=False, width=1000), nl=False)


@main.command()
@click.argument("file", required=False)
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
def validate(file: str | None, strict: bool) -> None:
    """Check a pipeline FILE and print every finding with its path and line."""
    name, text = _read_source(file)
    result = validate_text(text, strict=strict)
    for f in result.findings:
        click.echo(f"{name}: {f.severity.value}: {f}")
    if not result.ok:
        raise Refused(f"{name}: refused ({len(result.errors)} errors)")
    click.echo(f"{name}: ok ({len(result.warnings)} warnings)")


@main.command()
def crds() -> None:
    """Print the CustomResourceDefinitions (the same as crds/)."""
    click.echo("---\n".join(render_all().values()), nl=False)


if __name__ == "__main__":  # pragma: no cover
    main()
