"""The Pipeline reconciler: its status roll-up (`last*` from its newest run, and the nodes its
finished runs' cached steps ran on), its cron schedule, its repository webhook, and runs asked
for with the `devops.cubepaas.io/run` annotation. The newest run comes from the execution
index by pipeline, never a scan of the namespace's executions. After the roll-up, the runs the
setting's `history` no longer keeps are deleted (prune.py)."""

from __future__ import annotations

import logging
from typing import Any

from kubernetes import client

from translator.api.resources_types import CacheNode
from translator.controller import providers, runs, triggers
from translator.controller.context import Shared
from translator.controller.finish import FinishActions
from translator.controller.reconcilers.credential import provider_for
from translator.controller.reconcilers.prune import prune
from translator.kubeclient import update_with_retry

log = logging.getLogger("translator.controller")


def _status_patch(shared: Shared, ns: str, name: str, fields: dict[str, Any], *,
                  unless: Any = None) -> dict[str, Any] | None:
    """Set `fields` in the Pipeline's status by a guarded write (`unless(status)`: nothing to do)."""
    return update_with_retry(
        lambda: shared.kube.get("pipelines", ns, name),
        lambda cur: None if unless is not None and unless(cur.get("status") or {})
        else {**cur, "status": {**(cur.get("status") or {}), **fields}},
        lambda body: shared.kube.replace_status("pipelines", ns, name, body),
    )


class PipelineReconciler:
    def __init__(self, shared: Shared, finish: FinishActions) -> None:
        self.shared = shared
        self.finish = finish

    def _cached(self, ns: str, name: str) -> dict[str, Any] | None:
        return self.shared.pipelines.get(ns, name)

    def reconcile(self, namespace: str, name: str) -> None:
        obj = self._cached(namespace, name)
        if obj is None:
            return
        self.roll_up(namespace, name, obj)
        obj = self._cached(namespace, name) or obj
        prune(self.shared, namespace, name, self.shared.setting_for(namespace, self.shared.pipeline_spec(obj)))
        self.schedule(namespace, name, obj)
        obj = self._cached(namespace, name) or obj
        self.sync_webhook(namespace, name, obj)
        obj = self._cached(namespace, name) or obj
        self.run_request(namespace, name, obj)

    def roll_up(self, ns: str, pipeline_name: str, pipeline: dict[str, Any]) -> None:
        """`last*` follow the pipeline's newest run; finished runs' cache nodes go to the front."""
        shared = self.shared
        newest_name = shared.index.newest(ns, pipeline_name)
        pending = self.finish.take_cache_nodes(ns, pipeline_name)
        newest = shared.executions.get(ns, newest_name) if newest_name else None
        setting = shared.setting_for(ns, shared.pipeline_spec(pipeline))

        def change(current: dict[str, Any]) -> dict[str, Any] | None:
            status = current.setdefault("status", {})
            before = dict(status)
            if newest is not None:
                nstatus = newest.get("status") or {}
                status["lastExecutionId"] = newest["metadata"]["name"]
                if nstatus.get("executionState"):
                    status["lastRunState"] = nstatus["executionState"]
                if nstatus.get("started"):
                    status["lastStarted"] = nstatus["started"]
            for run, hosts, ended in sorted(pending, key=lambda p: p[0]):
                nodes = status.get("cacheNodes") or []
                if any(n.get("run") == run for n in nodes):
                    continue  # already recorded (a retry after a crash)
                fresh = [CacheNode(node=h, run=run, time=ended).to_wire() for h in dict.fromkeys(reversed(hosts))]
                merged = fresh + [n for n in nodes if n.get("node") not in set(hosts)]
                status["cacheNodes"] = merged[: setting.cache.max_nodes]
            return current if status != before else None

        cached_first = iter([pipeline])
        try:
            written = update_with_retry(
                lambda: next(cached_first, None) or shared.kube.get("pipelines", ns, pipeline_name),
                change,
                lambda body: shared.kube.replace_status("pipelines", ns, pipeline_name, body),
            )
        except Exception:
            self.finish.keep_cache_nodes(ns, pipeline_name, pending)
            raise
        shared.store_pipeline(written)

    def schedule(self, namespace: str, name: str, obj: dict[str, Any]) -> None:
        """The Pipeline's cron: one run per scheduled time (a deterministic name), then wait for the next."""
        shared = self.shared
        now = shared.clock()
        due, following, problem = triggers.due_cron(obj, now)
        status = obj.get("status") or {}
        if problem or status.get("cronMessage"):
            if status.get("cronMessage", "") != problem:
                _status_patch(shared, namespace, name, {"cronMessage": problem},
                              unless=lambda s: s.get("cronMessage", "") == problem)
            if problem:
                return
        if due is not None:
            body = triggers.execution_for_schedule(namespace, obj, due)
            if triggers.create_once(shared.kube, namespace, body):
                log.info("scheduled run created", extra={"pipeline": name, "namespace": namespace,
                                                         "execution": body["metadata"]["name"]})
            stamp = body["metadata"]["annotations"][triggers.SCHEDULE_ANNOTATION]
            written = _status_patch(shared, namespace, name, {"lastCronTime": stamp},
                                    unless=lambda s: s.get("lastCronTime", "") >= stamp)
            shared.store_pipeline(written)
            due, following, _ = triggers.due_cron(written or obj, now)
        if following is not None:
            wait = (following - shared.clock()).total_seconds()
            shared.queue.add_after(("pipeline", namespace, name), max(0.05, wait))

    def sync_webhook(self, ns: str, name: str, pipeline: dict[str, Any]) -> None:
        """Create the repository's webhook when the Pipeline has webhook triggers, delete it when not."""
        shared = self.shared
        spec, status = pipeline.get("spec") or {}, pipeline.get("status") or {}
        credential_name = spec.get("sourceCodeCredentialName") or ""
        if not credential_name or not shared.config.webhook_url:
            return
        flags = [f for f, on in (("push", spec.get("triggerWebhookPush", True)),
                                 ("pr", spec.get("triggerWebhookPr", False)),
                                 ("tag", spec.get("triggerWebhookTag", False))) if on]
        wanted_events = ",".join(flags)
        if status.get("webhookId") and status.get("webhookEvents") == wanted_events:
            return
        if not status.get("webhookId") and not flags:
            return
        try:
            credential = shared.kube.get("sourcecodecredentials", ns, credential_name)
            provider = provider_for(shared, ns, credential)
            if provider is None:
                return
            repo_url = spec.get("repositoryUrl", "")
            if status.get("webhookId"):
                provider.delete_hook(repo_url, status["webhookId"])
            hook_id = ""
            if flags:
                kind = credential["spec"]["sourceCodeType"]
                url = f"{shared.config.webhook_url.rstrip('/')}/hooks/{kind}?pipeline={ns}/{name}"
                hook_id = provider.create_hook(repo_url, url, shared.config.webhook_secret, push="push" in flags,
                                               pr="pr" in flags, tag="tag" in flags)
        except (providers.ProviderError, client.ApiException) as exc:
            log.warning("repository webhook not synced: %s", getattr(exc, "message", exc),
                        extra={"namespace": ns, "pipeline": name})
            shared.queue.add_after(("pipeline", ns, name), 60.0)
            return
        written = _status_patch(shared, ns, name, {"webhookId": hook_id,
                                                   "webhookEvents": wanted_events if hook_id else ""})
        shared.store_pipeline(written)

    def run_request(self, namespace: str, name: str, obj: dict[str, Any]) -> None:
        """A run asked for with the annotation: one per token (recorded in `status.lastRunRequest`)."""
        annotations = obj["metadata"].get("annotations") or {}
        token = annotations.get(runs.RUN_ANNOTATION)
        if not token or token == (obj.get("status") or {}).get("lastRunRequest"):
            return
        try:
            runs.create_run(self.shared.kube, namespace, name, branch=annotations.get(runs.RUN_BRANCH_ANNOTATION, ""),
                            triggered_by="user", user="kubectl", request=token)
        except runs.RunRefused as exc:
            log.warning("run request refused: %s", exc, extra={"pipeline": name, "namespace": namespace})
            _status_patch(self.shared, namespace, name, {"lastRunRequest": token},
                          unless=lambda s: s.get("lastRunRequest") == token)
