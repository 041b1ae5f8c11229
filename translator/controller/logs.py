"""`translator logs`: a step's log live from the engine while it runs, from the archive once it
ended, with the stage and step as a header; a log that no longer exists says so.

Where a finished step's log is read, in order: the log store (the key in the step's status,
else the shared layout `log_prefix(...)/main.log`), then the engine (the pod's log on Argo,
wfapi on Jenkins), as long as it still has it. An execution its history setting deleted is found
by name in the archive index (`<namespace>/_index/<execution>.json`, controller/history.py).
wfapi on Jenkins), as long as it still has it.

Whatever is printed passes through `logs.masking` with the values of every Secret the step
could read (docs/security.md); a Secret the caller may not read is named in a note instead.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from kubernetes import client

from translator.api.resources_types import PipelineExecution
from translator.api.setting_types import PipelineSettingSpec, parse_setting, select_setting
from translator.api.states import State
from translator.compiler.context import ExecutionContext
from translator.compiler.forms import step_log_key
from translator.compiler.plan import Plan, PlanStep, build_plan, log_prefix
from translator.controller import history
from translator.engines.argo import ArgoEngine
from translator.engines.base import EngineError
from translator.engines.jenkins import JenkinsEngine
from translator.kubeclient import ARGO_GROUP, ARGO_VERSION, Kube
from translator.logs.archive import LOG_FILE, LogStore, LogStoreError, store_from_secret
from translator.logs.masking import masked, step_masker
from translator.status.argo import observe


class LogError(Exception):
    """What the user asked cannot be shown; the message says why."""


@dataclass(frozen=True)
class Selected:
    stage_index: int
    stage_name: str
    step_index: int
    step: PlanStep
    state: State
    message: str
    log_key: str


def _plan(ex: PipelineExecution, setting: PipelineSettingSpec) -> Plan:
    spec = ex.spec
    if spec.pipeline_config is None:
        raise LogError(f"{ex.metadata.name} has no config snapshot yet: it was never initialized")
    ctx = ExecutionContext(namespace=ex.metadata.namespace, pipeline=spec.pipeline_name, run=spec.run,
                           branch=spec.branch or "master", event=spec.event.value, commit=spec.commit, ref=spec.ref,
                           repository_url=spec.repository_url, execution=ex.metadata.name,
                           reused=tuple((r.stage, r.step, r.from_run) for r in spec.reused_steps))
    return build_plan(spec.pipeline_config, ctx, setting)


def select(ex: PipelineExecution, plan: Plan, stage: str | None, step: int | None) -> list[Selected]:
    """The steps asked for: `stage` a name (any case) or a number (Clone is 0, the file's first
    stage 1); `step` 1-based within the stage."""
    chosen = []
    stages = plan.stages
    if stage is not None:
        if stage.isdigit():
            wanted = [int(stage)] if int(stage) < len(stages) else []
        else:
            wanted = [i for i, s in enumerate(stages) if s.name.lower() == stage.lower()]
        if not wanted:
            names = ", ".join(f"{i}:{s.name}" for i, s in enumerate(stages))
            raise LogError(f"{ex.metadata.name} has no stage {stage!r} (stages: {names})")
    else:
        wanted = list(range(len(stages)))
    for si in wanted:
        steps = stages[si].steps
        if step is not None and not 1 <= step <= len(steps):
            raise LogError(f"stage {stages[si].name!r} has {len(steps)} step(s); there is no step {step}")
        for ti, plan_step in enumerate(steps):
            if step is not None and ti != step - 1:
                continue
            status = None
            try:
                status = ex.status.stages[si].steps[ti]
            except IndexError:
                pass
            chosen.append(Selected(si, stages[si].name, ti, plan_step,
                                   status.state if status else State.WAITING, status.message if status else "",
                                   status.log if status and status.log else ""))
    return chosen


class LogViewer:
    def __init__(self, kube: Kube, namespace: str) -> None:
        self.kube, self.namespace = kube, namespace
        self.engines = {"argo": ArgoEngine(kube), "jenkins": JenkinsEngine(kube)}

    def execution(self, name: str) -> PipelineExecution:
        try:
            return PipelineExecution.model_validate(self.kube.get("pipelineexecutions", self.namespace, name))
        except client.ApiException as exc:
            if exc.status == 404:
                raise LogError(f"pipelineexecution {self.namespace}/{name} not found") from None
            raise

    def setting(self, ex: PipelineExecution) -> PipelineSettingSpec:
        from translator.api.resources_types import PipelineSpec

        settings = {s["metadata"]["name"]: s for s in self.kube.list("pipelinesettings", self.namespace)["items"]}
        try:
            pipeline = PipelineSpec.model_validate(
                self.kube.get("pipelines", self.namespace, ex.spec.pipeline_name)["spec"])
        except client.ApiException:
            pipeline = None
        spec, _ = select_setting(pipeline or PipelineSpec(repository_url=""), settings)
        return spec

    def store(self, setting: PipelineSettingSpec) -> LogStore | None:
        logs = setting.logs
        if not logs.endpoint:
            return None
        data: dict[str, str] = {}
        if logs.credentials_secret:
            try:
                data = self.kube.secret_data(self.namespace, logs.credentials_secret)
            except client.ApiException as exc:
                raise LogError(f"cannot read the log store's Secret {logs.credentials_secret}: {exc.reason}") from None
        return store_from_secret(logs.endpoint, logs.bucket, data, insecure=logs.insecure)

    def stream(self, name: str, stage: str | None = None, step: int | None = None, *,
               follow: bool = False) -> Iterator[str]:
        try:
            ex = self.execution(name)
        except LogError:
            archived = self.archived(name)
            if archived is None:
                raise
            yield from self._from_index(*archived, stage, step)
            return
        setting = self.setting(ex)
        plan = _plan(ex, setting)
        engine = self.engines.get(ex.status.engine_ref.engine if ex.status.engine_ref else "")
        store = self.store(setting)
        pods_namespace = (ex.status.engine_ref.workflow_namespace if ex.status.engine_ref else "") or self.namespace

        def read_secret(name: str) -> dict[str, str]:
            return self.kube.secret_data(pods_namespace, name)

        for sel in select(ex, plan, stage, step):
            header = f"==> stage {sel.stage_index} {sel.stage_name!r}, step {sel.step_index + 1}"
            header += f" {sel.step.display_name!r} [{sel.step.id}]: {sel.state.value}"
            yield header + " <==\n"
            if sel.state is State.SKIPPED or (sel.state is State.WAITING and not follow):
                yield f"(no log: {sel.message or 'the step has not started'})\n"
                continue
            masker, unread = step_masker(sel.step, plan.setting, read_secret)
            for name in unread:
                yield f"(cannot read Secret {name} to mask its values here; the step masked its own output)\n"
            log = self._finished(ex, plan, sel, store, engine) if sel.state.finished else \
                self._live(ex, plan, sel, engine, follow)
            yield from masked(masker, log)

    def archived(self, name: str) -> tuple[LogStore, dict[str, Any]] | None:
        """A deleted execution's archive index (history pruning wrote it), from the namespace's log store."""
        for obj in self.kube.list("pipelinesettings", self.namespace)["items"]:
            store = self.store(parse_setting(obj))
            if store is None:
                continue
            try:
                text = b"".join(store.get(history.index_key(self.namespace, name)))
            except LogStoreError as exc:
                if exc.reason == "LogNotFound":
                    continue
                raise LogError(exc.message) from None
            return store, json.loads(text)
        return None

    def _from_index(self, store: LogStore, entry: dict[str, Any], stage: str | None,
                    step: int | None) -> Iterator[str]:
        stages = entry.get("stages") or []
        if stage is not None:
            wanted = [int(stage)] if stage.isdigit() and int(stage) < len(stages) else [
                i for i, s in enumerate(stages) if str(s.get("name", "")).lower() == stage.lower()]
            if not wanted:
                raise LogError(f"{entry.get('execution')} (deleted, archived) has no stage {stage!r}")
        else:
            wanted = list(range(len(stages)))
        yield f"({entry.get('execution')}: run {entry.get('run')} of {entry.get('pipeline')}, {entry.get('state')}; " \
              "the execution was deleted by its history setting, its logs are archived)\n"
        for si in wanted:
            steps = stages[si].get("steps") or []
            for ti, found in enumerate(steps):
                if step is not None and ti != step - 1:
                    continue
                yield f"==> stage {si} {stages[si].get('name', '')!r}, step {ti + 1}: {found.get('state', '')} <==\n"
                key = found.get("log") or ""
                try:
                    for chunk in store.get(key) if key else iter(()):
                        yield chunk.decode("utf-8", "replace")
                except LogStoreError as exc:
                    yield f"(no log: {exc.message})\n"

    def _finished(self, ex: PipelineExecution, plan: Plan, sel: Selected, store: LogStore | None,
                  engine: object) -> Iterator[str]:
        prefix = log_prefix(plan.namespace, plan.pipeline, plan.run, sel.stage_index, sel.step_index)
        argo = ex.status.engine_ref is not None and ex.status.engine_ref.engine == "argo"
        key = sel.log_key or (step_log_key(plan, sel.step) if argo else f"{prefix}/{LOG_FILE}")
        archive_said = "no log store is configured"
        if store is not None:
            try:
                pending = b""
                for chunk in store.get(key):
                    pending += chunk
                    cut = pending.rfind(b"\n") + 1
                    if cut:
                        yield pending[:cut].decode("utf-8", "replace")
                        pending = pending[cut:]
                if pending:
                    yield pending.decode("utf-8", "replace")
                return
            except LogStoreError as exc:
                if exc.reason != "LogNotFound":
                    raise LogError(exc.message) from None
                archive_said = f"not archived at s3://{store.bucket}/{key}"
        try:
            text = "".join(self._engine_log(engine, ex, plan, sel))
        except EngineError as exc:
            raise LogError(f"the log of stage {sel.stage_name!r} step {sel.step_index + 1} no longer exists "
                           f"({archive_said}; {exc.message})") from None
        yield text

    def _engine_log(self, engine: object, ex: PipelineExecution, plan: Plan, sel: Selected) -> Iterator[str]:
        if not isinstance(engine, (ArgoEngine, JenkinsEngine)):
            raise EngineError("LogNotFound", "no engine ran it", retryable=False)
        return engine.step_log(ex, plan, sel.stage_index, sel.step_index)

    def _live(self, ex: PipelineExecution, plan: Plan, sel: Selected, engine: object, follow: bool) -> Iterator[str]:
        if isinstance(engine, ArgoEngine) and ex.status.engine_ref is not None:
            yield from self._argo_live(ex, plan, sel, follow)
            return
        shown = 0
        ended = False
        while True:
            # the step's state is read before its log: once it says finished, the log read after it is
            # whole (the engine ended the step before the controller wrote that), so no last line is lost
            try:
                text = "".join(self._engine_log(engine, ex, plan, sel))
            except EngineError as exc:
                if not follow:
                    raise LogError(f"no log yet: {exc.message}") from None
                text = ""
            if len(text) > shown:
                yield text[shown:]
                shown = len(text)
            if not follow or ended:
                return
            time.sleep(2)
            ex = self.execution(ex.metadata.name)
            try:
                ended = ex.status.stages[sel.stage_index].steps[sel.step_index].state.finished
            except IndexError:
                ended = True

    def _argo_live(self, ex: PipelineExecution, plan: Plan, sel: Selected, follow: bool) -> Iterator[str]:
        ref = ex.status.engine_ref
        assert ref is not None
        deadline = time.monotonic() + 300
        while True:
            wf = self.kube.get("workflows", ref.workflow_namespace, ref.workflow_name, group=ARGO_GROUP,
                               version=ARGO_VERSION)
            seen = observe(wf, [sel.step.id]).steps.get(sel.step.id)
            pod = seen.pod_name if seen and seen.host_node else ""
            if pod or not follow or time.monotonic() > deadline:
                break
            time.sleep(1)
        if not pod:
            raise LogError(f"stage {sel.stage_name!r} step {sel.step_index + 1} has no pod yet")
        resp: Any
        try:
            container = seen.container if seen else "main"
            resp = self.kube.core.read_namespaced_pod_log(pod, ref.workflow_namespace, container=container,
                                                          follow=follow, _preload_content=False)
        except client.ApiException as exc:
            raise LogError(f"the pod {pod} has no log ({exc.status}: {exc.reason})") from None
        try:
            for chunk in resp.stream(64 * 1024):
                yield chunk.decode("utf-8", "replace")
        finally:
            resp.release_conn()
