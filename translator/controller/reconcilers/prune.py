"""History pruning for one pipeline, after its roll-up: the finished runs `history.to_prune`
names are deleted — first their archive index goes to the log store (so `translator logs` still
finds their logs by name), then the engine's run where the engine keeps one apart (the Jenkins
job), then the execution itself, whose Workflow and scripts ConfigMap the API server's garbage
collector removes with it (they are owned by it). At most PRUNE_BATCH per reconcile; the rest
on the next one, a second later: a setting lowered from 10,000 to 100 never floods the API."""

from __future__ import annotations

import json
import logging
from typing import Any

from kubernetes import client

from translator.api.resources_types import PipelineExecution
from translator.api.setting_types import PipelineSettingSpec
from translator.controller import history
from translator.controller.context import Shared
from translator.logs.archive import LogStore, LogStoreError, log_key, store_from_secret

log = logging.getLogger("translator.controller")

PRUNE_BATCH = 50


def log_store(shared: Shared, namespace: str, setting: PipelineSettingSpec) -> LogStore | None:
    logs = setting.logs
    if not logs.endpoint:
        return None
    data = shared.kube.secret_data(namespace, logs.credentials_secret) if logs.credentials_secret else {}
    return store_from_secret(logs.endpoint, logs.bucket, data, insecure=logs.insecure)


def write_index(store: LogStore, obj: dict[str, Any]) -> str:
    """The execution's archive index (history.py has the format); its key."""
    meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
    ns, pipeline, run = meta["namespace"], spec.get("pipelineName", ""), int(spec.get("run") or 0)
    keys = {(si, ti): step.get("log") or log_key(ns, pipeline, run, si, ti)
            for si, stage in enumerate(status.get("stages") or []) for ti, step in enumerate(stage.get("steps") or [])}
    key = history.index_key(ns, meta["name"])
    store.put(key, iter([json.dumps(history.index_entry(obj, keys), indent=1).encode()]))
    return key


def prune(shared: Shared, namespace: str, pipeline: str, setting: PipelineSettingSpec) -> int:
    """Delete what the history setting no longer keeps (up to PRUNE_BATCH); how many went."""
    found = shared.index.runs_of(namespace, pipeline)
    keep = setting.history
    if keep.keep_seconds <= 0 and 0 < keep.keep_runs and len(found) <= keep.keep_runs:
        return 0  # fewer runs than kept, and no age limit: nothing to look at (the common case, per reconcile)
    runs = [history.Run(*f) for f in found]
    doomed = history.to_prune(runs, keep_runs=setting.history.keep_runs, keep_seconds=setting.history.keep_seconds,
                              now=shared.clock(), newest=shared.index.newest(namespace, pipeline) or "")
    if not doomed:
        return 0
    store = log_store(shared, namespace, setting)
    gone = 0
    for name in doomed[:PRUNE_BATCH]:
        try:
            obj = shared.kube.get("pipelineexecutions", namespace, name)
        except client.ApiException as exc:
            if exc.status == 404:
                continue
            raise
        if store is not None:
            try:
                write_index(store, obj)
            except LogStoreError as exc:  # keep the execution until its logs can be found without it
                log.warning("history: not pruned, the archive index could not be written: %s", exc.message,
                            extra={"execution": name, "namespace": namespace, "pipeline": pipeline})
                break
        ex = PipelineExecution.model_validate(obj)
        if ex.status.engine_ref is not None:
            engine = shared.registry.get(ex.status.engine_ref.engine)
            discard = getattr(engine, "discard", None)  # engines whose runs are not owned by the execution
            if discard is not None:
                discard(ex, setting)
        try:
            shared.kube.delete("pipelineexecutions", namespace, name, uid=obj["metadata"]["uid"])
        except client.ApiException as exc:
            if exc.status not in (404, 409):  # gone already, or a new execution of that name
                raise
        gone += 1
    log.info("history: %d old run(s) deleted", gone, extra={"namespace": namespace, "pipeline": pipeline})
    if len(doomed) > PRUNE_BATCH:
        shared.queue.add_after(("pipeline", namespace, pipeline), 1.0)
    return gone
