"""What the command line needs beside its commands: bounded input, checked option values, and
one place where every failure becomes a line and an exit code.

Exit codes (README, `translator --help`):
  0  done (warnings, if any, on stderr)
  1  refused: the input (each finding names the file, field path and line), the cluster's
     answer, or a cluster that cannot be reached ("cannot reach the API server at ...")
  2  bad usage: an unknown option, or an option value that is not allowed
  70 an internal error: a bug, reported in one line (TRANSLATOR_DEBUG=1 shows the traceback)
  130 interrupted (Ctrl-C)
"""

from __future__ import annotations

import os
import re
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import click

from translator.api.bounded import PIPELINE_FILE, InputRefused, decode_utf8, read_capped
from translator.api.config_validation import PIPELINE_FILE_NAMES
from translator.api.references import branch_problem, commit_problem, dns_subdomain_problem

EMBEDDED_EXAMPLE = "default-pipeline.yml"
EXIT_INTERNAL, EXIT_INTERRUPTED = 70, 130

EXIT_CODES = """Exit codes: 0 done (warnings on stderr); 1 refused: the input, the cluster's answer, or a
cluster that cannot be reached; 2 bad usage; 70 internal error (a bug; TRANSLATOR_DEBUG=1
shows its traceback); 130 interrupted."""


class Refused(click.ClickException):
    """Input we cannot use: printed without a traceback, exit 1."""

    exit_code = 1

    def show(self, file: Any = None) -> None:
        click.echo(self.message, err=True)


class Group(click.Group):
    """The `translator` group: whatever escapes a command ends as one line and a documented code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
        except BrokenPipeError:  # `translator compile | head`: the reader left; say nothing more
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise click.exceptions.Exit(1) from None
        except Exception as exc:
            if os.environ.get("TRANSLATOR_DEBUG"):
                raise
            click.echo(f"translator: internal error: {type(exc).__name__}: {str(exc)[:300]} "
                       "(a bug: please report it; TRANSLATOR_DEBUG=1 shows the traceback)", err=True)
            raise click.exceptions.Exit(EXIT_INTERNAL) from None


def find_pipeline_file(directory: Path) -> Path | None:
    for name in PIPELINE_FILE_NAMES:
        if (directory / name).is_file():
            return directory / name
    return None


def read_source(path: str | None, *, max_bytes: int = PIPELINE_FILE.max_bytes, example: bool = True
                ) -> tuple[str, str]:
    """(display name, text) of a pipeline file, a directory holding one, stdin ('-') or, with no
    path, the embedded example; at most `max_bytes` are read, whatever the file is."""
    if path is None and example:
        text = resources.files("translator").joinpath("examples", EMBEDDED_EXAMPLE).read_text("utf-8")
        click.echo(f"(no FILE given: compiling the embedded example {EMBEDDED_EXAMPLE})", err=True)
        return f"<embedded {EMBEDDED_EXAMPLE}>", text
    try:
        if path == "-":
            stdin = getattr(sys.stdin, "buffer", None) if sys.stdin is not None else None
            data = read_capped(stdin, limit=max_bytes, subject="<stdin>")
            return "<stdin>", decode_utf8(data, subject="<stdin>")
        target = Path(path or ".")
        if target.is_dir():
            found = find_pipeline_file(target)
            if found is None:
                raise Refused(f"{path or '.'}: no pipeline file here (looked for {', '.join(PIPELINE_FILE_NAMES)})")
            target = found
        try:
            with target.open("rb") as f:
                data = read_capped(f, limit=max_bytes, subject=str(target))
        except OSError as exc:
            raise Refused(f"{target}: cannot read: {exc.strerror or exc}") from None
        return str(target), decode_utf8(data, subject=str(target))
    except InputRefused as exc:
        raise Refused(str(exc)) from None


_QUANTITY = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(Ki|Mi|Gi|Ti|Pi|Ei|k|K|M|G|T|P|E)?\s*[bB]?\s*$")
_FACTORS = {None: 1, "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
            "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}


class ByteQuantity(click.ParamType[int]):
    """A number of bytes as Kubernetes writes quantities: 1073741824, 10Gi, 500M, 1.5Gi."""

    name = "bytes"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            number = value
        else:
            match = _QUANTITY.match(str(value))
            if not match:
                self.fail(f"{value!r} is not a number of bytes (e.g. 1073741824, 10Gi, 500M)", param, ctx)
            number_f = float(match.group(1)) * _FACTORS[match.group(2)]
            if number_f != int(number_f):
                self.fail(f"{value!r} is not a whole number of bytes", param, ctx)
            number = int(number_f)
        if number < 0 or number > 2**63 - 1:
            self.fail(f"{value!r} is out of range", param, ctx)
        return number


def check_value(problem: str | None, value: str, option: str) -> None:
    if problem:
        raise click.BadParameter(f"{value!r} {problem}", param_hint=option)


def check_run_facts(*, commit: str, branch: str, cache_nodes: str) -> tuple[str, ...]:
    """The run's facts as given on the command line, refused (exit 2) where Kubernetes or git would."""
    check_value(commit_problem(commit), commit, "--commit")
    check_value(branch_problem(branch), branch, "--branch")
    nodes = tuple(n.strip() for n in cache_nodes.split(",") if n.strip())
    for node in nodes:
        check_value(dns_subdomain_problem(node), node, "--cache-nodes")
    return nodes


def node_name(value: str) -> str:
    check_value(dns_subdomain_problem(value), value, "--node")
    return value


LOG_LEVELS = click.Choice(["debug", "info", "warning", "error"], case_sensitive=False)


def kube_client(kubeconfig: str | None, context: str | None, *, interactive: bool = True) -> Any:
    """A client for the kubeconfig given; interactive commands give up on an unreachable server
    after a few seconds (one line, exit 1), the controller and the agent keep trying."""
    from translator.kubeclient import Kube, KubeconfigError, load_api_client

    try:
        api_client = load_api_client(kubeconfig, context)
    except KubeconfigError as exc:
        raise Refused(str(exc)) from None
    if interactive:
        return Kube(api_client, request_timeout=(4.0, 30.0), retry_seconds=4.0)
    return Kube(api_client)
