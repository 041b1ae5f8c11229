"""The `translator` command line.

Nothing a user can type ends in a traceback: every failure is one line (or one per finding)
and a documented exit code (cli_support.py: 0 done, 1 refused, 2 bad usage, 70 internal
error, 130 interrupted). Every file and stdin is read through the bounded reader (1 MiB for a
pipeline file, or the `--setting`'s maxPipelineFileBytes).
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import click
import yaml

from translator.api.config_validation import Finding, Severity, file_limits
from translator.api.crds import render_all
from translator.api.setting_types import PipelineSettingSpec
from translator.api.setting_validation import validate_setting_text
from translator.cli_support import (
    EXIT_CODES,
    LOG_LEVELS,
    ByteQuantity,
    Group,
    Refused,
    check_run_facts,
    kube_client,
    node_name,
    read_source,
)
from translator.compiler.compile import ENGINES, check_text, compile_text
from translator.compiler.context import ExecutionContext
from translator.compiler.names import dns_label
from translator.controller.command import controller as controller_command
from translator.ui.cli import ui as ui_command

_DNS_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def _report(name: str, findings: list[Finding]) -> None:
    for f in findings:
        click.echo(f"{name}: {f.severity.value}: {f}", err=True)


def _load_setting(path: str | None) -> PipelineSettingSpec:
    if path is None:
        return PipelineSettingSpec()
    name, text = read_source(path, example=False)
    spec, findings = validate_setting_text(text)
    if spec is None:
        _report(name, findings)
        raise Refused(f"{name}: not a usable PipelineSetting ({len(findings)} errors)")
    return spec


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES)
@click.version_option(package_name="translator")
def main() -> None:
    """Rancher-format pipelines (.cubepaas.devops.yml, .rancher-pipeline.yml) on Kubernetes."""


@main.command()
@click.argument("file", required=False)
@click.option("--engine", type=click.Choice(ENGINES), default="argo", show_default=True,
              help="Engine to compile for.")
@click.option("--branch", default="master", show_default=True, help="Branch of the run.")
@click.option("--event", type=click.Choice(["push", "pull_request", "tag"]), default="push",
              show_default=True, help="Event that started the run.")
@click.option("--commit", default="", help="Commit SHA of the run (7 to 64 hex digits).")
@click.option("--ref", default="", help="Git ref of the run (refs/heads/..., refs/tags/...).")
@click.option("--run", "run_number", type=click.IntRange(min=1), default=1, show_default=True,
              help="Run number.")
@click.option("--namespace", default="default", show_default=True, help="Pipeline namespace.")
@click.option("--pipeline", default="pipeline", show_default=True, help="Pipeline name.")
@click.option("--repository-url", default="", help="Repository the run clones.")
@click.option("--cache-nodes", default="", help="Nodes that ran the pipeline last, newest first: n1,n2 "
              "(Kubernetes node names).")
@click.option("--setting", "setting_file", default=None, help="A PipelineSetting YAML file to use.")
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@click.option("-o", "--output", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
def compile(
    file: str | None, engine: str, branch: str, event: str, commit: str, ref: str, run_number: int,
    namespace: str, pipeline: str, repository_url: str, cache_nodes: str, setting_file: str | None,
    strict: bool, output: str,
) -> None:
    """Compile a pipeline FILE (or a directory holding one; '-' reads stdin) for one run.

    Without FILE, compiles the embedded example. For Argo, prints the Workflow and the
    ConfigMap it mounts: YAML documents, or with -o json one `List` object. For Jenkins, prints
    the Jenkinsfile, or with -o json an object with `jenkinsfile` and `configXml`. Exit 1 when
    the file or the run is refused (every error on stderr, with its field path and line).
    """
    for value, option, limit in ((namespace, "--namespace", 63), (pipeline, "--pipeline", 253)):
        if not _DNS_NAME.fullmatch(value) or len(value) > limit:
            raise click.BadParameter(
                f"{value!r} is not a Kubernetes name (lowercase letters, digits, '-'; e.g. {dns_label(value)!r})",
                param_hint=option,
            )
    nodes = check_run_facts(commit=commit, branch=branch, cache_nodes=cache_nodes)
    setting = _load_setting(setting_file)
    name, text = read_source(file, max_bytes=setting.max_pipeline_file_bytes)
    ctx = ExecutionContext(
        namespace=namespace, pipeline=pipeline, run=run_number, branch=branch, event=event,
        commit=commit, ref=ref, repository_url=repository_url, cache_nodes=nodes,
    )
    result = compile_text(text, ctx, setting, engine=engine, strict=strict, read_limits=file_limits(setting))
    _report(name, result.findings)
    if not result.ok:
        raise Refused(f"{name}: refused ({sum(f.severity is Severity.ERROR for f in result.findings)} errors)")
    if result.jenkins is not None:
        if output == "json":
            click.echo(json.dumps({"jenkinsfile": result.jenkins.jenkinsfile, "configXml": result.jenkins.config_xml,
                                   "jobName": result.jenkins.job_name}, indent=2))
        else:
            click.echo(result.jenkins.jenkinsfile, nl=False)
    elif output == "json":
        click.echo(json.dumps({"apiVersion": "v1", "kind": "List", "items": result.objects}, indent=2))
    else:
        click.echo(yaml.safe_dump_all(result.objects, sort_keys=False, width=1000), nl=False)


@main.command()
@click.argument("files", nargs=-1)
@click.option("--engine", type=click.Choice(ENGINES), default="argo", show_default=True,
              help="Also check what this engine refuses (Argo: 199 steps, object sizes), as compile does.")
@click.option("--setting", "setting_file", default=None, help="A PipelineSetting YAML file to use.")
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: one object per file with its findings (for CI).")
def validate(files: tuple[str, ...], engine: str, setting_file: str | None, strict: bool, output: str) -> None:
    """Check pipeline FILES (or directories holding one; '-' reads stdin; none: the current
    directory's pipeline file) and print every finding with its path and line.

    Refuses exactly what `compile --engine ENGINE` refuses of any run of the file. Exit 1 when
    any file is refused.
    """
    setting = _load_setting(setting_file)
    reports = []
    for file in files or (None,):
        try:
            name, text = read_source(file, max_bytes=setting.max_pipeline_file_bytes, example=False)
        except Refused as exc:
            reports.append({"file": file or ".", "ok": False,
                            "findings": [{"severity": "error", "path": "(file)", "message": exc.message}]})
            if output == "text":
                click.echo(exc.message)
            continue
        result = check_text(text, engine=engine, strict=strict, setting=setting, read_limits=file_limits(setting))
        reports.append({"file": name, "ok": result.ok, "findings": [f.to_json() for f in result.findings]})
        if output == "text":
            for f in result.findings:
                click.echo(f"{name}: {f.severity.value}: {f}")
            errors = len(result.errors)
            click.echo(f"{name}: refused ({errors} errors)" if not result.ok else
                       f"{name}: ok ({len(result.warnings)} warnings)")
    if output == "json":
        click.echo(json.dumps(reports, indent=2))
    if not all(r["ok"] for r in reports):
        raise click.exceptions.Exit(1)


_kube = kube_client


def _api_call(fn: Any, *args: Any, _server: str = "", **kwargs: Any) -> Any:
    """`fn(*args, **kwargs)`, with every failure of the cluster or of the request as one line."""
    import urllib3
    from kubernetes.client import ApiException

    from translator.controller.runs import RunRefused
    from translator.kubeclient import Kube, explain

    server = _server or next((a.server for a in args if isinstance(a, Kube)), "")
    try:
        return fn(*args, **kwargs)
    except RunRefused as exc:
        raise Refused(str(exc)) from None
    except (ApiException, urllib3.exceptions.HTTPError, ConnectionError, TimeoutError) as exc:
        raise Refused(explain(exc, server)) from None


_cluster_options = [
    click.option("--kubeconfig", envvar="KUBECONFIG", default=None, help="Kubeconfig file (else in-cluster)."),
    click.option("--context", default=None, help="Kubeconfig context."),
    click.option("-n", "--namespace", default="default", show_default=True, help="Pipeline namespace."),
]


def cluster_options(fn: Any) -> Any:
    for option in reversed(_cluster_options):
        fn = option(fn)
    return fn


@main.command()
@click.argument("pipeline")
@click.option("--branch", default="", help="Branch to run (default: the pipeline's defaultBranch).")
@cluster_options
def run(pipeline: str, branch: str, kubeconfig: str | None, context: str | None, namespace: str) -> None:
    """Start a run of PIPELINE: creates a PipelineExecution <pipeline>-run-<random>, numbered by the controller."""
    from translator.controller.runs import request_run

    kube = _kube(kubeconfig, context)
    made = _api_call(request_run, kube, namespace, pipeline, branch=branch, user=os.environ.get("USER", ""))
    click.echo(f"pipelineexecution/{made['metadata']['name']} created")


@main.command()
@click.argument("execution")
@click.option("--from-failed", is_flag=True, help="Run only the failed steps and those after them.")
@cluster_options
def rerun(execution: str, from_failed: bool, kubeconfig: str | None, context: str | None, namespace: str) -> None:
    """Run EXECUTION again from the same config snapshot and commit."""
    from translator.controller.runs import rerun as do_rerun

    kube = _kube(kubeconfig, context)
    made = _api_call(do_rerun, kube, namespace, execution, from_failed=from_failed, user=os.environ.get("USER", ""))
    reused = len(made["spec"].get("reusedSteps") or [])
    note = f" ({reused} steps reused)" if reused else ""
    click.echo(f"pipelineexecution/{made['metadata']['name']} created{note}")


@main.command()
@click.argument("execution")
@click.option("--user", default=lambda: os.environ.get("USER", "unknown"), help="Who stops it (recorded).")
@cluster_options
def stop(execution: str, user: str, kubeconfig: str | None, context: str | None, namespace: str) -> None:
    """Stop EXECUTION: running steps end Aborted, and so does the run."""
    from translator.controller.runs import request_stop

    kube = _kube(kubeconfig, context)
    _api_call(request_stop, kube, namespace, execution, user)
    click.echo(f"pipelineexecution/{execution} stop requested")


@main.command()
@click.argument("pipeline")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True, help="Runs per page.")
@click.option("--continue", "continue_token", default="", help="The token the previous page ended with.")
@cluster_options
def history(pipeline: str, limit: int, continue_token: str, kubeconfig: str | None, context: str | None,
            namespace: str) -> None:
    """List PIPELINE's runs a page at a time (the API server's order, as kubectl pages)."""
    from translator.controller.runs import PIPELINE_LABEL

    kube = _kube(kubeconfig, context)
    page = _api_call(kube.list, "pipelineexecutions", namespace, label_selector=f"{PIPELINE_LABEL}={pipeline}",
                     limit=limit, continue_token=continue_token)
    click.echo(f"{'NAME':<40} {'RUN':>6}  {'STATE':<10} {'STARTED':<21} DURATION")
    for ex in page.get("items") or []:
        status = ex.get("status") or {}
        click.echo(f"{ex['metadata']['name']:<40} {(ex.get('spec') or {}).get('run', 0):>6}  "
                   f"{status.get('executionState') or 'Waiting':<10} {status.get('started', ''):<21} "
                   f"{status.get('duration', '')}")
    token = (page.get("metadata") or {}).get("continue")
    if token:
        left = (page.get("metadata") or {}).get("remainingItemCount")
        click.echo(f"-- more{f' ({left} left)' if left else ''}: translator history {pipeline} -n {namespace} "
                   f"--limit {limit} --continue {token}")


@main.command()
@click.argument("execution")
@click.option("--stage", default=None, help="A stage name, or its number (Clone is 0, the file's first stage 1).")
@click.option("--step", type=click.IntRange(1), default=None, help="The step's number in its stage (from 1).")
@click.option("-f", "--follow", is_flag=True, help="Keep printing a running step's log until it ends.")
@cluster_options
def logs(execution: str, stage: str | None, step: int | None, follow: bool, kubeconfig: str | None,
         context: str | None, namespace: str) -> None:
    """Print the logs of EXECUTION's steps: live from a running step, from the archive once it ended."""
    from translator.controller.logs import LogError, LogViewer

    viewer = LogViewer(_kube(kubeconfig, context), namespace)

    def show() -> None:
        for text in viewer.stream(execution, stage, step, follow=follow):
            click.echo(text, nl=False)

    try:
        _api_call(show, _server=viewer.kube.server)
    except LogError as exc:
        raise Refused(str(exc)) from None


@main.command("cache-agent")
@click.option("--kubeconfig", envvar="KUBECONFIG", default=None, help="Kubeconfig file (else in-cluster).")
@click.option("--node", envvar="NODE_NAME", required=True, callback=lambda _c, _p, v: node_name(v),
              help="This node's name (the DaemonSet: spec.nodeName).")
@click.option("--root", envvar="TRANSLATOR_CACHE_ROOT", default="/var/lib/translator/cache", show_default=True,
              help="hostPathRoot of the caches, as mounted in the agent.")
@click.option("--host-root", envvar="TRANSLATOR_CACHE_HOST_ROOT", default="",
              help="The root's path on the node, as pods mount it, when --root is where the agent mounts it.")
@click.option("--max-bytes", envvar="TRANSLATOR_CACHE_MAX_BYTES", type=ByteQuantity(), default="0",
              help="Disk budget in bytes, or a quantity (10Gi, 500M); 0: the smallest cache.maxBytesPerNode of the "
                   "PipelineSettings using this root.")
@click.option("--min-free-bytes", envvar="TRANSLATOR_CACHE_MIN_FREE_BYTES", type=ByteQuantity(), default="0",
              help="Free-space floor in bytes or a quantity; 0: the largest cache.minFreeBytes of those settings.")
@click.option("--interval", type=click.FloatRange(1), default=30, show_default=True, help="Seconds between passes.")
@click.option("--metrics-port", envvar="TRANSLATOR_METRICS_PORT", type=int, default=9102, show_default=True,
              help="Port of /metrics and /healthz (0: off).")
@click.option("--once", is_flag=True, help="One pass, then exit.")
@click.option("--log-level", envvar="TRANSLATOR_LOG_LEVEL", type=LOG_LEVELS, default="info", show_default=True)
def cache_agent(kubeconfig: str | None, node: str, root: str, host_root: str, max_bytes: int, min_free_bytes: int,
                interval: float,
                metrics_port: int, once: bool, log_level: str) -> None:
    """Run the cache agent on a node: budget, eviction, and the node's CacheInventory."""
    import signal
    import threading

    from prometheus_client import Gauge

    from translator.agent import AgentConfig, CacheAgent
    from translator.controller import jsonlog
    from translator.controller.metrics import Metrics

    jsonlog.setup(log_level)
    kube = _kube(kubeconfig, None, interactive=once)
    agent = CacheAgent(AgentConfig(node=node, root=root, host_root=host_root, max_bytes=max_bytes,
                                   min_free_bytes=min_free_bytes), kube=kube)
    if once:
        status = _api_call(agent.run_once, _server=kube.server)
        click.echo(f"{node}: {len(status.caches)} pipelines' caches, {status.used_bytes} bytes, "
                   f"{status.evictions} evicted")
        return
    metrics = Metrics()
    used = Gauge("translator_cache_agent_bytes", "Bytes of caches on this node", registry=metrics.registry)
    evictions = Gauge("translator_cache_agent_evictions", "Caches evicted on this node", registry=metrics.registry)
    metrics.ready = True
    if metrics_port:
        metrics.serve(metrics_port)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    while not done.is_set():
        try:
            status = agent.run_once()
            used.set(status.used_bytes)
            evictions.set(status.evictions)
        except Exception as exc:  # a failed pass (API down) is logged; the next one tries again
            from translator.kubeclient import explain

            click.echo(f"cache agent pass failed: {explain(exc, kube.server)}", err=True)
        done.wait(interval)


main.add_command(controller_command)
main.add_command(ui_command)


@main.command()
def crds() -> None:
    """Print the CustomResourceDefinitions (the same as crds/)."""
    click.echo("---\n".join(render_all().values()), nl=False)


if __name__ == "__main__":  # pragma: no cover
    main()
