"""Cache placement for an execution: where it should go (the Pipeline's recency list and the
inventory's holders) and, while it waits for a holder, the bounded wait — on the holder, or
withdrawn after `cache.waitSeconds` and resubmitted cold as `<execution>-cold`. The decisions
are `admission`'s pure rules; this does the engine calls and the status changes they imply."""

from __future__ import annotations

from typing import Any

from translator.api.resources_types import PipelineExecution, PipelineExecutionStatus
from translator.api.setting_types import PipelineSettingSpec
from translator.compiler.plan import Plan
from translator.controller import admission
from translator.controller.admission import Placement
from translator.controller.context import Shared
from translator.controller.lifecycle import parse_time
from translator.status.execution import set_condition


def placement_for(shared: Shared, ex: PipelineExecution, pipeline: dict[str, Any],
                  setting: PipelineSettingSpec) -> Placement:
    recency = tuple(n.get("node", "") for n in (pipeline.get("status") or {}).get("cacheNodes") or [])
    holders, evicted = shared.cache_index.lookup(ex.metadata.namespace, ex.spec.pipeline_name,
                                                 shared.clock().timestamp())
    cold = ex.status.cache is not None and ex.status.cache.ran_cold
    return admission.placement(recency=recency, holders=holders, evicted=evicted, ran_cold=cold,
                               wait_seconds=setting.cache.wait_seconds)


def follow_cache(shared: Shared, ex: PipelineExecution, engine: Any, plan: Plan, obs: Any,
                 status: PipelineExecutionStatus, setting: PipelineSettingSpec, now: str) -> None:
    """While waiting: placed on a holder, or give up after the wait and resubmit cold. Then: hit or miss."""
    cache = status.cache
    if cache is None or obs is None:
        return
    cached_ids = {s.id for s in plan.steps if s.cached}
    node = next((o.host_node for sid, o in obs.steps.items() if sid in cached_ids and o.host_node), "") or next(
        (o.host_node for o in obs.steps.values() if o.host_node), "")
    placed = obs.placed if obs.placed is not None else bool(node)
    waiting_for = (shared.clock() - parse_time(cache.waiting_since)).total_seconds() if cache.waiting_since else None
    wait_seconds = setting.cache.wait_seconds
    decision = admission.cache_wait(waiting_for=waiting_for, placed=placed, wait_seconds=wait_seconds)
    if decision.action == "wait":
        shared.queue.add_after(("execution", ex.metadata.namespace, ex.metadata.name), decision.remaining)
        return
    if decision.action == "give_up":
        # nobody holding the cache could take it: withdraw the waiting run, run cold anywhere
        engine.withdraw(ex, plan)
        cold = ex.model_copy(update={"status": status})
        cold.status.cache = cache.model_copy(update={"ran_cold": True})
        pipeline = shared.pipelines.get(ex.metadata.namespace, ex.spec.pipeline_name) or {}
        where = placement_for(shared, cold, pipeline, setting)
        status.engine_ref = engine.submit(cold, shared.plan(cold, setting, where))
        status.cache = cache.model_copy(update={"ran_cold": True, "waiting_since": "",
                                               "waited_seconds": int(decision.waited)})
        set_condition(status, admission.ran_cold(cache.holders, wait_seconds), now=now)
        shared.metrics.cache_waits.labels(result="gave_up").inc()
        return
    if decision.action == "placed":
        shared.metrics.cache_waits.labels(result="placed").inc()
        cache.waited_seconds = int(decision.waited)
        cache.waiting_since = ""
        if not node:  # placed by the required affinity: on a holder, whichever
            cache.result = "Hit"
            set_condition(status, admission.hit_by_affinity(), now=now)
    if node and not cache.node:
        cache.node, cache.result = node, "Hit" if node in cache.holders else "Miss"
        set_condition(status, admission.landed(cache, node, wait_seconds), now=now)
