"""The Jenkins engine: a Plan becomes a pipeline job (one per execution) and one build of it.

Jenkins has no watch, so the controller polls a Building Jenkins execution every
`poll_seconds`; each poll costs one request (`wfapi/describe`) once the build number is known.
Submitting again after a crash finds the job's queued or running build instead of starting a
second one. Finished steps' logs are copied to the log store under the key layout Argo's
archiving uses (`translator.logs.archive`).

The queue -> build gap: a queue item leaves the queue when an executor takes it, before the
build exists (core Queue.onStartExecuting, then Executor creates the Run), so for a moment the job
is neither queued nor built. The queue item `build` returned is tracked (`/queue/item/<id>`:
`executable.number`, `cancelled`) and that moment reads as "starting", never as cancelled; a
cancel that comes too late (the item left: core Queue.doCancelItem) stops the build instead.
Jobs of finished executions are deleted `jenkins.jobRetentionSeconds` after their build ended
(only jobs whose description this compiler wrote for the namespace).

The server is the setting's `jenkins.url` with the `username`/`token` of its
`credentialsSecret`; with no URL, the Jenkins the namespace preparation deployed
(`jenkins_server`), with the admin Secret it made.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from kubernetes import client

from translator.api.resources_types import EngineRef, PipelineExecution
from translator.api.setting_types import PipelineSettingSpec
from translator.api.states import Engine as EngineName
from translator.api.states import State
from translator.compiler.jenkins import branch_stage_names, job_name, render
from translator.compiler.plan import LABEL_PREFIX, Plan
from translator.engines import jenkins_server
from translator.engines.base import EngineError, RunObservation
from translator.engines.jenkins_client import NO_CRUMB, JenkinsClient, JenkinsError
from translator.kubeclient import Kube
from translator.logs.archive import LogStore, LogStoreError, log_key, store_from_secret
from translator.logs.masking import masked, step_masker
from translator.status.argo import WorkflowObservation
from translator.status.jenkins import observe


def _engine_error(exc: JenkinsError, doing: str, url: str) -> EngineError:
    if exc.status == 401 or (exc.status == 403 and NO_CRUMB in exc.message):
        return EngineError("JenkinsCredentials", f"{doing}: Jenkins at {url} refused the credentials "
                           f"(HTTP {exc.status}); check the setting's jenkins.credentialsSecret "
                           "(an API token, not a password)")
    if exc.status == 403:  # authenticated, not allowed: asking again will not change it
        return EngineError("JenkinsForbidden", f"{doing}: {exc.message}; grant that user Job/Create, "
                           "Job/Configure, Job/Build, Job/Cancel, Job/Delete and Job/Read", retryable=False)
    if exc.transient:
        return EngineError("JenkinsUnavailable", f"{doing}: Jenkins at {url} is unavailable: {exc.message}")
    return EngineError("JenkinsError", f"{doing}: {exc.message}", retryable=False)


SECRET_TTL = 60.0  # a rotated credentials Secret is picked up within a minute
START_GAP_SECONDS = 10.0  # longest a build may take to appear once its queue item left the queue
SWEEP_SECONDS = 300.0  # finished jobs are looked for at most this often per Jenkins and namespace


class JenkinsEngine:
    name = EngineName.JENKINS.value
    poll_seconds = 2.0

    def __init__(self, kube: Kube, *, attempts: int = 3, timeout: float = 10.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.kube = kube
        self.attempts, self.timeout = attempts, timeout
        self.clock = clock
        self.start_gap_seconds = START_GAP_SECONDS
        self.sweep_seconds = SWEEP_SECONDS
        self._clients: dict[tuple[str, str, str], JenkinsClient] = {}
        self._stopped: set[tuple[str, int]] = set()
        self._agent_nodes: dict[str, str] = {}
        self._secrets: dict[tuple[str, str], tuple[float, dict[str, str]]] = {}
        self._queue_items: dict[tuple[str, str], int] = {}  # (url, job) -> the queue item `build` returned
        self._gap_since: dict[tuple[str, str], float] = {}  # neither queued nor built, since (monotonic)
        self._swept: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ plumbing

    def _secret(self, namespace: str, name: str) -> dict[str, str]:
        """The Secret's data, re-read at most every SECRET_TTL seconds (observe runs every poll)."""
        cached = self._secrets.get((namespace, name))
        if cached is not None and time.monotonic() - cached[0] < SECRET_TTL:
            return cached[1]
        try:
            data = self.kube.secret_data(namespace, name)
        except client.ApiException as exc:
            if exc.status == 404:
                raise EngineError("SecretNotFound", f"Secret {namespace}/{name} does not exist") from exc
            raise
        self._secrets[(namespace, name)] = (time.monotonic(), data)
        return data

    def client_for(self, namespace: str, setting: PipelineSettingSpec) -> JenkinsClient:
        url = setting.jenkins.url or jenkins_server.service_url(namespace)
        secret_name = setting.jenkins.credentials_secret or ("" if setting.jenkins.url else jenkins_server.ADMIN_SECRET)
        creds = self._secret(namespace, secret_name) if secret_name else {}
        user, token = creds.get("username", ""), creds.get("token") or creds.get("password", "")
        key = (url, user, token)
        with self._lock:
            found = self._clients.get(key)
            if found is None:
                found = JenkinsClient(url, username=user, token=token, attempts=self.attempts, timeout=self.timeout)
                self._clients[key] = found
            return found

    def log_store(self, namespace: str, setting: PipelineSettingSpec) -> LogStore | None:
        logs = setting.logs
        if not logs.endpoint:
            return None
        creds = self._secret(namespace, logs.credentials_secret) if logs.credentials_secret else {}
        return store_from_secret(logs.endpoint, logs.bucket, creds, insecure=logs.insecure)

    # ------------------------------------------------------------------ the Engine protocol

    def prepare(self, namespace: str, setting: PipelineSettingSpec) -> None:
        """With no external Jenkins, deploy one in the namespace (idempotent; never overwrites)."""
        if setting.jenkins.url:
            return
        labels = {"app.kubernetes.io/managed-by": "translator"}
        core, rbac, apps = self.kube.core, self.kube.rbac, self.kube.apps
        creators: dict[str, tuple[Any, Any]] = {
            "Secret": (core.read_namespaced_secret, core.create_namespaced_secret),
            "ServiceAccount": (core.read_namespaced_service_account, core.create_namespaced_service_account),
            "Role": (rbac.read_namespaced_role, rbac.create_namespaced_role),
            "RoleBinding": (rbac.read_namespaced_role_binding, rbac.create_namespaced_role_binding),
            "ConfigMap": (core.read_namespaced_config_map, core.create_namespaced_config_map),
            "Service": (core.read_namespaced_service, core.create_namespaced_service),
            "Deployment": (apps.read_namespaced_deployment, apps.create_namespaced_deployment),
        }
        for body in [jenkins_server.admin_secret(labels), *jenkins_server.manifests(namespace, labels)]:
            read, create = creators[body["kind"]]
            try:
                self.kube.call(read, body["metadata"]["name"], namespace)
            except client.ApiException as exc:
                if exc.status != 404:
                    raise
                try:
                    self.kube.call(create, namespace, body)
                except client.ApiException as again:
                    if again.status != 409:
                        raise

    def submit(self, execution: PipelineExecution, plan: Plan) -> EngineRef:
        out = render(plan)
        jenkins = self.client_for(plan.namespace, plan.setting)
        key = (jenkins.url, out.job_name)
        number = None
        try:
            state = jenkins.job_state(out.job_name)
            if state is not None and state.last_build is None and not state.in_queue and key not in self._queue_items:
                state = self._wait_for_build(jenkins, out.job_name, state)  # crashed in the gap, or before `build`
            number = state.last_build if state else None
            if state is not None and state.in_queue and state.queue_id is not None:
                self._remember_queue(key, state.queue_id)
            elif state is None or (number is None and key not in self._queue_items):
                jenkins.put_job(out.job_name, out.config_xml)
                self._remember_queue(key, jenkins.build(out.job_name).queue_id)
        except JenkinsError as exc:
            raise _engine_error(exc, "starting the build", jenkins.url) from exc
        return EngineRef(engine=self.name, workflow_namespace=plan.namespace, jenkins_job=out.job_name,
                         jenkins_build=number or 0)

    def _remember_queue(self, key: tuple[str, str], queue_id: int) -> None:
        with self._lock:
            if len(self._queue_items) > 10_000:
                self._queue_items.clear()
            self._queue_items[key] = queue_id

    def _wait_for_build(self, jenkins: JenkinsClient, job: str, state: Any) -> Any:
        """A job neither queued nor built, with no queue item known: give a leaving item the time
        its executor needs to make the build before deciding none was ever started."""
        deadline = time.monotonic() + self.start_gap_seconds
        while time.monotonic() < deadline and state is not None and state.last_build is None and not state.in_queue:
            time.sleep(min(0.5, self.start_gap_seconds / 10))
            state = jenkins.job_state(job)
        return state

    def observe(self, execution: PipelineExecution, plan: Plan) -> RunObservation | None:
        ref = execution.status.engine_ref
        if ref is None or not ref.jenkins_job:
            return None
        jenkins = self.client_for(plan.namespace, plan.setting)
        job = ref.jenkins_job
        try:
            number = ref.jenkins_build
            if not number:
                waiting = self._not_built_yet(jenkins, job)
                if not isinstance(waiting, int):
                    return waiting
                number = waiting
            describe = jenkins.describe(job, number)
        except JenkinsError as exc:
            if exc.status == 404:
                return None
            raise _engine_error(exc, "reading the build's status", jenkins.url) from exc
        names = {name: task for task, name in branch_stage_names(plan).items()}
        obs = observe(describe, names, build_name=f"{job} #{number}")
        if (job, number) in self._stopped and not obs.finished:
            obs = dataclasses.replace(obs, shutdown="Abort")
        node = self._agent_node(plan) if obs.steps and plan.cached else ""
        if node:  # wfapi names the agent, not the Kubernetes node: the agent pod says where it ran
            obs = dataclasses.replace(obs, steps={k: dataclasses.replace(v, host_node=v.host_node or node)
                                                  for k, v in obs.steps.items()})
        if obs.finished:
            self._sweep(jenkins, plan)
        # a stage in wfapi means the agent pod runs: the build has its node
        return dataclasses.replace(obs, number=number, placed=bool(obs.steps))

    def _not_built_yet(self, jenkins: JenkinsClient, job: str) -> RunObservation | int | None:
        """The build number once the build exists; else what the queue says (None: the job is gone)."""
        state = jenkins.job_state(job)
        if state is None:
            return None  # the job was deleted: the run is lost
        key = (jenkins.url, job)
        if state.last_build is not None:
            self._gap_since.pop(key, None)
            return state.last_build
        if state.in_queue:
            if state.queue_id is not None:
                self._remember_queue(key, state.queue_id)
            return _waiting("Queued", "waiting in Jenkins' queue", job)
        queue_id = self._queue_items.get(key)
        item = jenkins.queue_item(queue_id) if queue_id is not None else None
        if item is not None and item.cancelled:
            return WorkflowObservation(name=job, phase="Cancelled", state=State.ABORTED, started="", ended="",
                                       message="the queued build was cancelled", steps={}, shutdown="Abort")
        if item is not None and item.number:
            return item.number
        if item is not None:  # left the queue, its executor is making the build (core Queue.onStartExecuting)
            return _waiting("Starting", "Jenkins is starting the build", job)
        since = self._gap_since.setdefault(key, time.monotonic())
        if time.monotonic() - since < self.start_gap_seconds:
            return _waiting("Starting", "Jenkins is starting the build", job)
        self._gap_since.pop(key, None)
        return WorkflowObservation(name=job, phase="Cancelled", state=State.ABORTED, started="", ended="",
                                   message="the queued build was cancelled in Jenkins", steps={}, shutdown="Abort")

    def _sweep(self, jenkins: JenkinsClient, plan: Plan) -> None:
        """Delete this namespace's jobs whose build ended more than the retention ago (at most every
        `sweep_seconds`). Only jobs whose description this compiler wrote for the namespace."""
        retention = plan.setting.jenkins.job_retention_seconds
        key = (jenkins.url, plan.namespace)
        now = self.clock()
        if not retention or now - self._swept.get(key, float("-inf")) < self.sweep_seconds:
            return
        self._swept[key] = now
        try:
            for job in jenkins.jobs():
                if job.building or job.in_queue or not job.ended_millis or now - job.ended_millis / 1000 < retention:
                    continue
                try:
                    owner = json.loads(job.description)
                except ValueError:
                    continue
                if isinstance(owner, dict) and owner.get("namespace") == plan.namespace and "execution" in owner:
                    jenkins.delete_job(job.name)
        except JenkinsError:
            self._swept.pop(key, None)  # try again with a later run's end

    def _agent_node(self, plan: Plan) -> str:
        """The node of the build's agent pod, once known. Found by the execution label the pod YAML
        carries: the plugin overwrites `jenkins/label` with its own sanitised label (kubernetes-plugin
        PodTemplate.recomputeLabelDerivedFields, PodTemplateUtils.sanitizeLabel)."""
        job = job_name(plan)
        found = self._agent_nodes.get(job)
        if found:
            return found
        selector = f"{LABEL_PREFIX}/execution={plan.labels[f'{LABEL_PREFIX}/execution']}"
        try:
            pods = self.kube.call(self.kube.core.list_namespaced_pod, plan.namespace, label_selector=selector)
        except client.ApiException:
            return ""
        mine = [p for p in pods.items if p.spec and p.spec.node_name and any(
            c.name == "jnlp" for c in p.spec.containers or [])]
        node = next((p.spec.node_name for p in mine), "")
        if node:
            if len(self._agent_nodes) > 10_000:
                self._agent_nodes.clear()
            self._agent_nodes[job] = node
        return str(node or "")

    def stop(self, execution: PipelineExecution, plan: Plan, reason: str) -> None:
        ref = execution.status.engine_ref
        if ref is None or not ref.jenkins_job:
            return
        jenkins = self.client_for(plan.namespace, plan.setting)
        job = ref.jenkins_job
        try:
            state = jenkins.job_state(job)
            if state is None:
                return
            number = ref.jenkins_build or state.last_build
            queue_id = state.queue_id if state.in_queue else self._queue_items.get((jenkins.url, job))
            if not number and queue_id is not None and not jenkins.cancel_queued(queue_id):
                number = self._build_of(jenkins, queue_id)  # too late to cancel: the item left, its build starts
            if number:
                jenkins.stop_build(job, number)
                self._stopped.add((job, number))
            # else: the build is still being made; the controller stops again on its next sync
        except JenkinsError as exc:
            raise _engine_error(exc, "stopping the build", jenkins.url) from exc

    def _build_of(self, jenkins: JenkinsClient, queue_id: int) -> int | None:
        """The build a queue item that left became: its executor makes it within moments."""
        deadline = time.monotonic() + self.start_gap_seconds
        while True:
            item = jenkins.queue_item(queue_id)
            if item is None or item.number or item.cancelled or time.monotonic() > deadline:
                return item.number if item is not None else None
            time.sleep(min(0.2, self.start_gap_seconds / 10))

    def discard(self, execution: PipelineExecution, setting: PipelineSettingSpec) -> None:
        """The execution is deleted (history pruning): its job goes too, builds and all."""
        ref = execution.status.engine_ref
        if ref is None or not ref.jenkins_job:
            return
        jenkins = self.client_for(execution.metadata.namespace, setting)
        try:
            jenkins.delete_job(ref.jenkins_job)
        except JenkinsError as exc:
            raise _engine_error(exc, "deleting the job", jenkins.url) from exc

    def withdraw(self, execution: PipelineExecution, plan: Plan) -> None:
        self.stop(execution, plan, "withdrawn: no node holding the cache could take it")

    def step_log(self, execution: PipelineExecution, plan: Plan, stage: int, step: int) -> Iterator[str]:
        ref = execution.status.engine_ref
        target = next((s for s in plan.steps if s.stage_index == stage and s.step_index == step), None)
        if ref is None or not ref.jenkins_job or target is None:
            raise EngineError("LogNotFound", f"no build ran stage {stage} step {step}", retryable=False)
        jenkins = self.client_for(plan.namespace, plan.setting)
        try:
            number = ref.jenkins_build or (jenkins.job_state(ref.jenkins_job) or _NO_JOB).last_build
            if not number:
                raise EngineError("LogNotFound", "the build has not started", retryable=False)
            stages = jenkins.describe(ref.jenkins_job, number).get("stages") or []
            name = branch_stage_names(plan)[target.id]
            entry = next((s for s in stages if s.get("name") == name), None)
            if entry is None:
                raise EngineError("LogNotFound", f"stage {stage} step {step} has not started", retryable=False)
            yield from jenkins.stage_log(ref.jenkins_job, number, str(entry.get("id")))
        except JenkinsError as exc:
            raise _engine_error(exc, "reading the step's log", jenkins.url) from exc

    def archive_log(self, execution: PipelineExecution, plan: Plan, stage: int, step: int) -> str:
        """Copy a finished step's log to the log store; returns its key ('' with no store)."""
        store = self.log_store(plan.namespace, plan.setting)
        if store is None:
            return ""
        key = log_key(plan.namespace, plan.pipeline, plan.run, stage, step)
        target = next(s for s in plan.steps if s.stage_index == stage and s.step_index == step)
        # the archived copy is masked too (docs/security.md); the step masked its own output first
        masker, _ = step_masker(target, plan.setting, lambda name: self._secret(plan.namespace, name))
        try:
            log = masked(masker, self.step_log(execution, plan, stage, step))
            store.put(key, (chunk.encode() for chunk in log))
        except LogStoreError as exc:
            raise EngineError(exc.reason, exc.message) from exc
        return key


def _waiting(phase: str, message: str, job: str) -> RunObservation:
    return WorkflowObservation(name=job, phase=phase, state=State.BUILDING, started="", ended="",
                               message=message, steps={})


class _NoJob:
    last_build: Any = None


_NO_JOB = _NoJob()
