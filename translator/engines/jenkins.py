"""The Jenkins engine: a Plan becomes a pipeline job (one per execution) and one build of it.

Jenkins has no watch, so the controller polls a Building Jenkins execution every
`poll_seconds`; each poll costs one request (`wfapi/describe`) once the build number is known.
Submitting again after a crash finds the job's queued or running build instead of starting a
second one. Finished steps' logs are copied to the log store under the key layout Argo's
archiving uses (`translator.logs.archive`).

The server is the setting's `jenkins.url` with the `username`/`token` of its
`credentialsSecret`; with no URL, the Jenkins the namespace preparation deployed
(`jenkins_server`), with the admin Secret it made.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from typing import Any

from kubernetes import client

from translator.api.resources_types import EngineRef, PipelineExecution, PipelineSettingSpec
from translator.api.states import Engine as EngineName
from translator.api.states import State
from translator.compiler.jenkins import render
from translator.compiler.plan import Plan
from translator.engines import jenkins_server
from translator.engines.base import EngineError, RunObservation
from translator.engines.jenkins_client import JenkinsClient, JenkinsError
from translator.kubeclient import Kube
from translator.logs.archive import LogStore, LogStoreError, log_key, store_from_secret
from translator.status.argo import WorkflowObservation
from translator.status.jenkins import observe


def _engine_error(exc: JenkinsError, doing: str, url: str) -> EngineError:
    if exc.status in (401, 403):
        return EngineError("JenkinsCredentials", f"{doing}: Jenkins at {url} refused the credentials "
                           f"(HTTP {exc.status}); check the setting's jenkins.credentialsSecret")
    if exc.transient:
        return EngineError("JenkinsUnavailable", f"{doing}: Jenkins at {url} is unavailable: {exc.message}")
    return EngineError("JenkinsError", f"{doing}: {exc.message}", retryable=False)


SECRET_TTL = 60.0  # a rotated credentials Secret is picked up within a minute


class JenkinsEngine:
    name = EngineName.JENKINS.value
    poll_seconds = 2.0

    def __init__(self, kube: Kube, *, attempts: int = 3, timeout: float = 10.0) -> None:
        self.kube = kube
        self.attempts, self.timeout = attempts, timeout
        self._clients: dict[tuple[str, str, str], JenkinsClient] = {}
        self._stopped: set[tuple[str, int]] = set()
        self._agent_nodes: dict[str, str] = {}
        self._secrets: dict[tuple[str, str], tuple[float, dict[str, str]]] = {}
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
        try:
            state = jenkins.job_state(out.job_name)
            number = state.last_build if state else None
            if state is None or (not state.in_queue and number is None):
                jenkins.put_job(out.job_name, out.config_xml)
                jenkins.build(out.job_name)
        except JenkinsError as exc:
            raise _engine_error(exc, "starting the build", jenkins.url) from exc
        return EngineRef(engine=self.name, workflow_namespace=plan.namespace, jenkins_job=out.job_name,
                         jenkins_build=number or 0)

    def observe(self, execution: PipelineExecution, plan: Plan) -> RunObservation | None:
        ref = execution.status.engine_ref
        if ref is None or not ref.jenkins_job:
            return None
        jenkins = self.client_for(plan.namespace, plan.setting)
        job = ref.jenkins_job
        try:
            number = ref.jenkins_build
            if not number:
                state = jenkins.job_state(job)
                if state is None:
                    return None  # the job was deleted: the run is lost
                if state.last_build is None:
                    if state.in_queue:
                        return WorkflowObservation(name=job, phase="Queued", state=State.BUILDING, started="",
                                                   ended="", message="waiting in Jenkins' queue", steps={})
                    return WorkflowObservation(name=job, phase="Cancelled", state=State.ABORTED, started="",
                                               ended="", message="the queued build was cancelled", steps={},
                                               shutdown="Abort")
                number = state.last_build
            describe = jenkins.describe(job, number)
        except JenkinsError as exc:
            if exc.status == 404:
                return None
            raise _engine_error(exc, "reading the build's status", jenkins.url) from exc
        obs = observe(describe, [s.id for s in plan.steps], build_name=f"{job} #{number}")
        if (job, number) in self._stopped and not obs.finished:
            obs = dataclasses.replace(obs, shutdown="Abort")
        node = self._agent_node(plan.namespace, job) if obs.steps and plan.cached else ""
        if node:  # wfapi names the agent, not the Kubernetes node: the agent pod says where it ran
            obs = dataclasses.replace(obs, steps={k: dataclasses.replace(v, host_node=v.host_node or node)
                                                  for k, v in obs.steps.items()})
        # a stage in wfapi means the agent pod runs: the build has its node
        return dataclasses.replace(obs, number=number, placed=bool(obs.steps))

    def _agent_node(self, namespace: str, job: str) -> str:
        """The node of the build's agent pod (label `jenkins/label=<run name>`), once known."""
        found = self._agent_nodes.get(job)
        if found:
            return found
        label = job.removeprefix(f"{namespace}-")
        try:
            pods = self.kube.call(self.kube.core.list_namespaced_pod, namespace,
                                  label_selector=f"jenkins/label={label}")
        except client.ApiException:
            return ""
        node = next((p.spec.node_name for p in pods.items if p.spec and p.spec.node_name), "")
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
        try:
            state = jenkins.job_state(ref.jenkins_job)
            if state is None:
                return
            number = ref.jenkins_build or state.last_build
            if number:
                jenkins.stop_build(ref.jenkins_job, number)
                self._stopped.add((ref.jenkins_job, number))
            elif state.in_queue and state.queue_id is not None:
                jenkins.cancel_queued(state.queue_id)
        except JenkinsError as exc:
            raise _engine_error(exc, "stopping the build", jenkins.url) from exc

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
            entry = next((s for s in stages if s.get("name") == target.id), None)
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
        try:
            store.put(key, (chunk.encode() for chunk in self.step_log(execution, plan, stage, step)))
        except LogStoreError as exc:
            raise EngineError(exc.reason, exc.message) from exc
        return key


class _NoJob:
    last_build: Any = None


_NO_JOB = _NoJob()
