"""`translator controller`: the controller process (its options, the process-wide settings, the
replica that watches and, when it leads, acts)."""

from __future__ import annotations

import gc
from typing import Any

import click

from translator.cli_support import LOG_LEVELS, Refused, kube_client

GC_YOUNG = 50_000  # container objects allocated between two collections of the youngest generation


@click.command("controller")
@click.option("--kubeconfig", envvar="KUBECONFIG", default=None, help="Kubeconfig file (else in-cluster).")
@click.option("--context", default=None, help="Kubeconfig context.")
@click.option("--namespace", "namespaces", multiple=True, envvar="TRANSLATOR_NAMESPACES",
              help="Watch only these namespaces (repeat; env TRANSLATOR_NAMESPACES, space-separated). "
                   "Default: all.")
@click.option("--default-engine", envvar="TRANSLATOR_DEFAULT_ENGINE", default="argo", show_default=True,
              help="Engine for settings that name none.")
@click.option("--workers", envvar="TRANSLATOR_WORKERS", type=click.IntRange(1, 64), default=4, show_default=True,
              help="Reconcile workers.")
@click.option("--metrics-port", envvar="TRANSLATOR_METRICS_PORT", type=int, default=8080, show_default=True,
              help="Port of /metrics, /healthz and /readyz (0: off).")
@click.option("--leader-elect/--no-leader-elect", envvar="TRANSLATOR_LEADER_ELECT", default=True,
              show_default=True, help="Run only while holding the Lease (for more than one replica).")
@click.option("--lease-namespace", envvar="TRANSLATOR_LEASE_NAMESPACE", default="translator-system",
              show_default=True, help="Namespace of the leader Lease.")
@click.option("--lease-name", envvar="TRANSLATOR_LEASE_NAME", default="translator-controller", show_default=True,
              help="The Lease's name; with --shard i/n, each shard's is <name>-<i>-of-<n>.")
@click.option("--shard", envvar="TRANSLATOR_SHARD", default="0/1", show_default=True,
              help="i/n: own only the namespaces in shard i of n (a stable hash of the name), on the shard's own "
                   "Lease; run each shard with its own replicas.")
@click.option("--log-level", envvar="TRANSLATOR_LOG_LEVEL", type=LOG_LEVELS, default="info", show_default=True)
@click.option("--provision-deadline", envvar="TRANSLATOR_PROVISION_DEADLINE", type=click.FloatRange(1), default=600,
              show_default=True, help="Seconds an engine may refuse to start a run before it fails.")
@click.option("--engine-lost-deadline", envvar="TRANSLATOR_ENGINE_LOST_DEADLINE", type=click.FloatRange(1),
              default=600, show_default=True,
              help="Seconds an engine may be unreachable while a run is Building before it fails.")
@click.option("--start-deadline", envvar="TRANSLATOR_START_DEADLINE", type=click.FloatRange(1), default=300,
              show_default=True,
              help="Seconds a step's pod may be unable to start (image pull error, missing Secret) before its run "
                   "fails with that reason.")
@click.option("--webhook-port", envvar="TRANSLATOR_WEBHOOK_PORT", type=int, default=0,
              help="Serve git webhooks (/hooks/github, /hooks/gitlab, /hooks/generic) on this port; 0: off. "
                   "Every replica serves them, leader or not.")
@click.option("--webhook-secret", envvar="TRANSLATOR_WEBHOOK_SECRET", default="",
              help="Secret webhooks are signed with (env TRANSLATOR_WEBHOOK_SECRET).")
@click.option("--webhook-url", envvar="TRANSLATOR_WEBHOOK_URL", default="",
              help="The receiver's external base URL (https://ci.example.com): with it, GitHub/GitLab repository "
                   "webhooks are created and deleted as Pipelines' triggers change.")
def controller(kubeconfig: str | None, context: str | None, namespaces: tuple[str, ...], default_engine: str,
               workers: int, metrics_port: int, leader_elect: bool, lease_namespace: str, lease_name: str,
               shard: str, log_level: str, provision_deadline: float, engine_lost_deadline: float,
               start_deadline: float,
               webhook_port: int, webhook_secret: str, webhook_url: str) -> None:
    """Run the controller: watch Pipelines and PipelineExecutions, drive runs through their engine."""
    import signal
    import threading

    from translator.controller import jsonlog
    from translator.controller.config import ControllerConfig
    from translator.controller.leader import LeaderElector, LeaseNamespaceMissing
    from translator.controller.metrics import Metrics
    from translator.controller.replica import Replica
    from translator.controller.shard import Shard

    jsonlog.setup(log_level)
    kube = kube_client(kubeconfig, context, interactive=False)
    kube.warm()  # the client's API classes imported beside the informers' first lists
    # The cyclic garbage collector: what the imports made is never scanned again (gc.freeze), and a
    # young generation of 50,000 instead of 700 container objects. Decoded list pages and events are
    # freed by their reference counts; with the defaults the collector ran ~2,400 times over the
    # 50,000 executions of a start-up, scanning an ever larger heap (a third of the decoding time).
    gc.freeze()
    gc.set_threshold(GC_YOUNG, 20, 20)
    names = [n for item in namespaces for n in item.split()]
    try:
        owned = Shard.parse(shard)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--shard") from None
    config = ControllerConfig(namespaces=names, default_engine=default_engine, workers=workers, shard=owned,
                              provision_deadline_seconds=provision_deadline,
                              engine_lost_seconds=engine_lost_deadline, start_deadline_seconds=start_deadline,
                              webhook_url=webhook_url,
                              webhook_secret=webhook_secret)
    kube.api_client.user_agent = f"translator-controller/{config.identity}"  # who wrote what, in audit logs
    if leader_elect:
        try:  # before anything listens: a controller that can never lead says so and stops
            LeaderElector(kube, namespace=lease_namespace, name=owned.lease_name(lease_name),
                          identity=config.identity).check()
        except LeaseNamespaceMissing as exc:
            raise Refused(f"translator controller: {exc}") from None
    metrics = Metrics()
    replica = Replica(kube, config, metrics=metrics)
    if metrics_port:
        metrics.serve(metrics_port)
    if webhook_port:
        from translator.controller.triggers import WebhookReceiver

        if not webhook_secret:
            raise Refused("--webhook-port needs --webhook-secret (or TRANSLATOR_WEBHOOK_SECRET): unsigned webhooks "
                          "are never accepted")

        def all_pipelines() -> list[dict[str, Any]]:
            if names:
                return [p for ns in names for p in kube.list("pipelines", ns)["items"]]
            return list(kube.list("pipelines")["items"])

        WebhookReceiver(kube, webhook_secret, all_pipelines).serve(webhook_port)

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    replica.run(done, leader_elect=leader_elect, lease_namespace=lease_namespace, lease_name=lease_name)
