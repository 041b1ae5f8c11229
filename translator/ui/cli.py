"""`translator ui`: serve the web UI on one port.

The kubeconfig (or the pod's service account) is read only for the API server's address and
CA; users log in with their own token. Imports of the web stack happen when the command runs,
so the rest of the command line stays quick to start.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import click


@click.command("ui")
@click.option("--kubeconfig", envvar="KUBECONFIG", default=None,
              help="Kubeconfig whose cluster address and CA are used (else in-cluster); never its credentials.")
@click.option("--context", default=None, help="Kubeconfig context.")
@click.option("--api-server", envvar="TRANSLATOR_UI_API_SERVER", default="",
              help="API server URL, instead of a kubeconfig (with --ca-file: the pod needs no service account token).")
@click.option("--ca-file", envvar="TRANSLATOR_UI_CA_FILE", default="", help="CA bundle of --api-server.")
@click.option("--host", envvar="TRANSLATOR_UI_HOST", default="127.0.0.1", show_default=True,
              help="Address to listen on.")
@click.option("--port", envvar="TRANSLATOR_UI_PORT", type=click.IntRange(1, 65535), default=8090, show_default=True)
@click.option("--namespace", "namespaces", multiple=True, envvar="TRANSLATOR_UI_NAMESPACES",
              help="Namespaces to offer users who may not list namespaces (repeat; env: space-separated).")
@click.option("--argo-url", envvar="TRANSLATOR_UI_ARGO_URL", default="",
              help="Base URL of the Argo Server UI, for links to a run's Workflow.")
@click.option("--jenkins-url", envvar="TRANSLATOR_UI_JENKINS_URL", default="",
              help="Base URL users reach the Jenkins the controller deploys in a namespace by, for links to "
                   "builds; {namespace} is replaced by the run's namespace (e.g. https://jenkins-{namespace}."
                   "example.com). A setting's own jenkins.url is linked as it is.")
@click.option("--secret-file", envvar="TRANSLATOR_UI_SECRET_FILE", default=None,
              help="File holding the key CSRF tokens are signed with (replicas must share one); else random.")
@click.option("--secure-cookies/--no-secure-cookies", envvar="TRANSLATOR_UI_SECURE_COOKIES", default=False,
              show_default=True, help="Mark cookies Secure (behind a TLS-terminating proxy).")
@click.option("--idle-seconds", envvar="TRANSLATOR_UI_IDLE_SECONDS", type=click.FloatRange(10), default=900,
              show_default=True, help="Close a session (and its watches) after this long without a request.")
@click.option("--log-level", envvar="TRANSLATOR_LOG_LEVEL",
              type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False), default="info",
              show_default=True)
def ui(kubeconfig: str | None, context: str | None, api_server: str, ca_file: str, host: str, port: int,
       namespaces: tuple[str, ...], argo_url: str, jenkins_url: str, secret_file: str | None, secure_cookies: bool,
       idle_seconds: float, log_level: str) -> None:
    """Serve the web UI: pipelines, runs, logs and the config editor, as each user's token allows."""
    import uvicorn
    from kubernetes import client

    from translator.controller import jsonlog
    from translator.kubeclient import load_api_client
    from translator.ui.app import UiConfig, build
    from translator.ui.auth import cluster_base

    jsonlog.setup(log_level)
    if api_server:
        if ca_file and not Path(ca_file).is_file():
            raise click.ClickException(f"{ca_file}: no such CA file")
        base = client.Configuration(host=api_server.rstrip("/"))
        base.ssl_ca_cert = ca_file or None
    else:
        try:
            base = cluster_base(load_api_client(kubeconfig, context))
        except Exception as exc:  # no kubeconfig, unreadable file, unknown context
            raise click.ClickException(f"cannot find the API server: {exc}") from None
    if secret_file:
        try:
            secret = Path(secret_file).read_bytes().strip()
        except OSError as exc:
            raise click.ClickException(f"{secret_file}: cannot read: {exc.strerror}") from None
        if len(secret) < 16:
            raise click.ClickException(f"{secret_file}: the secret must be at least 16 bytes")
    else:
        secret = secrets.token_bytes(32)
    names = tuple(n for item in namespaces for n in item.split())
    for flag, url in (("--argo-url", argo_url), ("--jenkins-url", jenkins_url)):
        if url and not url.startswith(("http://", "https://")):
            raise click.ClickException(f"{flag} {url!r}: not an http:// or https:// URL")
    config = UiConfig(secret=secret, namespaces=names, argo_url=argo_url, jenkins_url=jenkins_url,
                      secure_cookies=secure_cookies, idle_seconds=idle_seconds)
    uvicorn.run(build(config, base), host=host, port=port, log_config=None, access_log=False,
                proxy_headers=False, timeout_graceful_shutdown=5)
