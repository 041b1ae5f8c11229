"""An Argo controller stand-in: advances Workflow status in the API double the way Argo does.

What it writes has the shape of the real controller's output in ../shared/argo/status-samples
(checked by tests/test_argo_sim.py): a DAG root node, one `Pod` node per task named
`<workflow>.<task>` with `displayName`, `templateName`, `boundaryID`, `hostNodeName`, times
and phase; `Skipped` nodes for `when: "false"` (phase Skipped) and for tasks whose
dependencies failed (phase Omitted); fail-fast (no new task after a failure); `spec.shutdown`
terminating running pods with Argo's message; `Error` for a pod that vanished. It also creates
the Pod objects (with logs) so the controller can read step logs and placement.

It plays one Argo version (`version`, v3.6 to v4.1) and applies that controller's rules from
tests/argo_sim_rules.py: refusals at the first reconcile (unknown fields, long names, a mount
path used twice), the artifact repository (a step that must archive its log with no store
ends in Error), workspace claims and `volumeClaimGC`, mutexes (a step stays Pending, "Waiting
for <key> lock", while another holds one of its own), v2 pod names and node ids. Tasks for
which `execute(workflow, task)` is true run their container command with a real `sh`; their
exit code decides the step and their output is the pod's log.

Runtime behaviours, each in its own method below with the source it follows: pods the kubelet
cannot start (a missing image, a missing Secret) stay Pending with the container's waiting
reason in the node's message; a pod whose service account does not exist is refused; a
shutdown deletes pending pods at once and terminates running ones; completed pods are deleted
by the Workflow's podGC after Argo's delay; a step's log is archived where its template says,
and a failed upload (no bucket, wrong credentials) ends the node in Error; with `offload` the
node status moves to "Argo's database" and the Workflow keeps only its version.
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from minio import Minio
from minio.error import S3Error
from urllib3.exceptions import HTTPError

from tests import argo_exec
from tests import argo_sim_rules as rules
from tests.argo_pod import workflow_pod_spec
from tests.argo_sim_pod import UNSCHEDULABLE, OnePod, is_one_pod
from tests.kube_double.server import KubeDouble
from tests.kube_double.store import ApiError

FINISHED = ("Succeeded", "Failed", "Error", "Skipped", "Omitted")
STOP_MESSAGE = "Stopped with strategy 'Terminate'"
# argo-workflows v3.7 workflow/controller/exec_control.go: applyExecutionControl (two spaces, as Argo writes it)
NODE_STOP_MESSAGE = "workflow shutdown with strategy:  Terminate"
# argo-workflows v3.7 config/config.go: GetPodGCDeleteDelayDuration (podGCDeleteDelayDuration unset)
POD_GC_DELAY = 5.0
__all__ = ["UNSCHEDULABLE", "ArgoSimulator"]


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


node_id = rules.node_id


def pod_name(workflow: str, node: dict[str, Any], version: str = "v2") -> str:
    return rules.pod_name(workflow, node["name"], node.get("templateName", ""), node["id"], version)


class ArgoSimulator(OnePod):
    def __init__(self, kube: KubeDouble, *, nodes: tuple[str, ...] = ("node-a", "node-b", "node-c"),
                 step_seconds: float = 0.05, tick: float = 0.01,
                 outcome: Callable[[str, str], str] | None = None, version: str = "v4.1",
                 artifact_repository: dict[str, Any] | None = None, controller_namespace: str = "argo",
                 execute: Callable[[str, str], bool] | None = None, pod_names: str = "v2",
                 pod_gc_delay: float = POD_GC_DELAY, pod_start_seconds: float = 0.0) -> None:
        self.kube = kube
        self.version = rules.simulated_version(version)
        self.artifact_repository = artifact_repository  # the controller's configured default; None: none
        self.controller_namespace = controller_namespace
        self.execute = execute
        self.pod_names = pod_names  # the controller's POD_NAMES
        self.pod_start_seconds = pod_start_seconds  # scheduling, sandbox, Argo's init container: per pod
        self.lost: set[str] = set()  # nodes whose kubelet stopped reporting (lose_node)
        self.ran: dict[tuple[str, str], tuple[int, str] | None] = {}  # (workflow, task) -> (exit code, output)
        self.locks: dict[str, tuple[str, str]] = {}  # mutex key -> holder (workflow, node id)
        self.store = kube.store
        self.nodes = nodes
        self.step_seconds = step_seconds
        self.tick = tick
        self.outcome = outcome or (lambda _wf, _task: "Succeeded")
        self.paused: set[str] = set()  # tasks held Running until released
        self.busy: set[str] = set()  # nodes with no room: pods that may only go there stay Pending
        self.placements: list[tuple[str, str, str]] = []  # (workflow, task, node)
        self.missing_images: set[str] = set()  # images no registry has: their pods never start
        self.offload = False  # keep node status in "Argo's database" (persistence.nodeStatusOffLoad)
        self.offloaded: dict[str, dict[str, Any]] = {}  # that database: workflow uid -> nodes
        self.pod_gc_delay = pod_gc_delay
        self._gc_due: list[tuple[float, str, str]] = []  # (when, namespace, pod) podGC deletes
        self._pull_failed: set[tuple[str, str]] = set()  # pods whose image pull already failed once
        self._started: dict[tuple[str, str], float] = {}
        self._rr = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self.res = self.store.resource("argoproj.io", "workflows")
        self.pods = self.store.resource("", "pods")

    def start(self) -> ArgoSimulator:
        nodes = self.store.resource("", "nodes")
        with self.store.lock:
            for node in self.nodes:  # the cluster's nodes, Ready
                if ("", "nodes", "", node) not in self.store.objects:
                    self.store.create(nodes, "", {"metadata": {"name": node}, "status": {"conditions": [
                        {"type": "Ready", "status": "True", "reason": "KubeletReady"}]}})
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        done: set[str] = set()  # uids of finished workflows: never looked at again
        due: dict[str, tuple[float, str]] = {}  # uid -> (when something can change, resourceVersion seen)
        while not self._stop.is_set():
            with self.store.lock:
                keys = [k for k in self.store.objects.of("argoproj.io", "workflows")
                        if self.store.objects[k]["metadata"]["uid"] not in done]
                for holder in {h[0] for h in self.locks.values()}:
                    if ("argoproj.io", "workflows", *holder.split("/", 1)) not in self.store.objects:
                        self._unlock(holder, "")  # the Workflow was deleted
            for key in keys:
                with self.store.lock:  # one workflow at a time: the API keeps answering meanwhile
                    wf = self.store.objects.get(key)
                    if wf is None:
                        continue
                    uid = wf["metadata"]["uid"]
                    if (wf.get("status") or {}).get("phase") in ("Succeeded", "Failed", "Error"):
                        done.add(uid)
                        due.pop(uid, None)
                        continue
                    when, rv = due.get(uid, (0.0, ""))
                    if rv == wf["metadata"]["resourceVersion"] and time.monotonic() < when and not self.paused:
                        continue  # nothing can have changed: no time passed, nobody wrote it
                    try:
                        self._advance(wf)
                    except ApiError:
                        pass
                    after = self.store.objects.get(key)
                    if after is not None:
                        due[uid] = (self._next_change(after), after["metadata"]["resourceVersion"])
            self._collect_pods()
            time.sleep(self.tick)

    # ------------------------------------------------------------------ placement

    def _place(self, wf: dict[str, Any], task: dict[str, Any] | None = None,
               nodes: dict[str, Any] | None = None) -> str | None:
        """The scheduler: required node affinity filters, preferred terms rank; None: unschedulable.
        A template's own affinity replaces the Workflow's (workflow/controller/workflowpod.go
        addSchedulingConstraints), with `{{inputs.parameters.*}}` substituted from the task's
        arguments (workflow/common/util.go SubstituteParams); `matchFields` on `metadata.name`
        names nodes exactly. A node that is not Ready is tainted unreachable/not-ready NoSchedule
        (kubernetes nodelifecycle TaintNodesByCondition): nothing new goes there."""
        # kubernetes pkg/scheduler/framework/plugins/nodeaffinity/node_affinity.go: Filter (required terms);
        # Score sums matching terms' weights (here: the heaviest term wins; other score plugins are not modelled)
        affinity = (wf["spec"].get("affinity") or {}).get("nodeAffinity") or {}
        if task is not None and self._template(wf, task).get("affinity"):
            affinity = self._resolved(self._template(wf, task)["affinity"], task, nodes or {}).get("nodeAffinity") or {}
        allowed = [n for n in self.nodes if n not in self.busy and n not in self.lost]
        required = (affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get("nodeSelectorTerms")
        if required:
            values = {v for term in required for expr in [*term.get("matchExpressions", []),
                                                          *term.get("matchFields", [])]
                      for v in expr.get("values", [])}
            allowed = [n for n in allowed if n in values]
        if not allowed:
            return None
        terms = affinity.get("preferredDuringSchedulingIgnoredDuringExecution") or []
        for term in sorted(terms, key=lambda t: -t["weight"]):
            for expr in term["preference"]["matchExpressions"]:
                for value in expr.get("values", []):
                    if value in allowed:
                        return value
        self._rr += 1
        return allowed[self._rr % len(allowed)]

    def _resolved(self, value: Any, task: dict[str, Any], nodes: dict[str, Any]) -> Any:
        """`value` with the task's input parameters put in; an argument naming another task's output
        takes that node's output (operator.go resolveDependencyReferences)."""
        params: dict[str, str] = {}
        by_display = {n.get("displayName"): n for n in nodes.values()}
        for arg in (task.get("arguments") or {}).get("parameters") or []:
            text = str(arg.get("value", ""))
            if text.startswith("{{tasks.") and text.endswith("}}"):
                other, _, _, pname = text[2:-2].split(".")[1:5]
                outputs = ((by_display.get(other) or {}).get("outputs") or {}).get("parameters") or []
                text = next((o.get("value", "") for o in outputs if o["name"] == pname), "")
            params[arg["name"]] = text
        raw = json.dumps(value)
        for pname, pvalue in params.items():
            raw = raw.replace("{{inputs.parameters." + pname + "}}", pvalue)
        return json.loads(raw)

    def _bound_host(self, wf: dict[str, Any], host: set[str]) -> str | None:
        """The node a ReadWriteOnce claim binds the run to: local storage with WaitForFirstConsumer
        (kind's local-path) is on the first pod's node, so every later pod goes there."""
        claims = wf["spec"].get("volumeClaimTemplates") or []
        rwo = any("ReadWriteOnce" in (c.get("spec") or {}).get("accessModes", []) for c in claims)
        return next(iter(host)) if rwo and host else None

    def _create_pod(self, wf: dict[str, Any], node: dict[str, Any], target: str) -> None:
        name, ns = wf["metadata"]["name"], wf["metadata"]["namespace"]
        tname = node["displayName"]
        self._started[(name, tname)] = time.monotonic()
        self.placements.append((name, tname, target))
        pod = pod_name(name, node, self._pod_names(wf))
        refused = self._admission_refuses(wf, ns, pod)
        spec, error = workflow_pod_spec(wf, node["templateName"], ns, self.store.objects)  # tests/argo_pod.py
        if refused or error:
            node.update(phase="Error", message=refused or error, finishedAt=_stamp())
            return
        try:
            # argo-workflows v3.7 workflow/controller/workflowpod.go: createWorkflowPod (workflow label,
            # node-name annotation, owned by the Workflow; main and wait containers, the init one left out)
            self.store.create(self.pods, ns, shared=True, body={"metadata": {  # its answer unread: no copy
                "name": pod, "labels": {"workflows.argoproj.io/workflow": name},
                "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
                                     "name": name, "uid": wf["metadata"]["uid"]}],
                "annotations": {"workflows.argoproj.io/node-name": node["name"]}},
                "spec": {**spec, "nodeName": target},  # the double's ServiceAccount admission mounts tokens
                "status": {"phase": "Pending"}})
        except ApiError as exc:
            if exc.code != 409:  # argo-workflows v3.7 operator.go executeTemplate: markNodeError
                node.update(phase="Error", message=str(exc), finishedAt=_stamp())
                return
        self._maybe_execute(wf, node)
        self.store.logs[(ns, pod)] = f"step {tname} of {name} on {target}\n"

    # ------------------------------------------------------------------ one step of Argo

    def _advance(self, wf: dict[str, Any]) -> None:
        name, ns = wf["metadata"]["name"], wf["metadata"]["namespace"]
        new = {**wf, "status": dict(wf.get("status") or {})}
        status = new["status"]
        nodes: dict[str, Any] = {k: dict(v) for k, v in self._hydrate(wf, status).items()}
        dag = next(t for t in wf["spec"]["templates"] if t["name"] == wf["spec"]["entrypoint"])
        root_id = name
        if not status.get("phase"):
            if not self._first_reconcile(new):
                self.store.replace(self.res, ns, name, new, shared=True)  # its answer unread: no copy
                return
            status.update(phase="Running", startedAt=_stamp())
            if not is_one_pod(wf):
                nodes[root_id] = {"id": root_id, "name": name, "displayName": name, "type": "DAG",
                                  "templateName": dag["name"], "phase": "Running", "startedAt": _stamp(),
                                  "children": []}
        if is_one_pod(wf):
            self._advance_pod(wf, new, nodes)
            if status.get("phase") in ("Succeeded", "Failed", "Error"):
                self._workflow_ended(wf, status["phase"])
            self._dehydrate(wf, status)
            if new != wf:
                self.store.replace(self.res, ns, name, new, shared=True)  # its answer unread: no copy
            return
        shutdown = wf["spec"].get("shutdown")
        host = {n.get("hostNodeName") for n in nodes.values() if n.get("hostNodeName")}
        failed = any(n.get("phase") in ("Failed", "Error") for n in nodes.values() if n["type"] == "Pod")
        by_task = {n["displayName"]: n for n in nodes.values() if n.get("boundaryID") == root_id}
        now = time.monotonic()
        for task in dag["dag"]["tasks"]:
            tname = task["name"]
            node = by_task.get(tname)
            nname = f"{name}.{tname}"
            nid = node_id(name, nname)
            if node is None:
                if shutdown:
                    continue
                deps = [by_task.get(d) for d in task.get("dependencies") or []]
                if any(d is None or d["phase"] not in FINISHED for d in deps):
                    continue
                base = {"id": nid, "name": nname, "displayName": tname, "templateName": task["template"],
                        "boundaryID": root_id, "startedAt": _stamp()}
                if any(d["phase"] in ("Failed", "Error", "Omitted") for d in deps if d):
                    node = {**base, "type": "Skipped", "phase": "Omitted", "finishedAt": _stamp(),
                            "message": "omitted: depends condition not met"}
                elif failed:
                    continue  # fail fast: nothing new starts after a failure
                elif task.get("when") == "false":
                    node = {**base, "type": "Skipped", "phase": "Skipped", "finishedAt": _stamp(),
                            "message": "when 'false' evaluated false"}
                else:
                    waiting = self._lock(wf, task, nid)
                    target = None if waiting else self._bound_host(wf, host) or self._place(wf, task, nodes)
                    node = {**base, "type": "Pod", "phase": "Pending"}
                    if waiting:
                        node["message"] = waiting
                    elif target is None:
                        node["message"] = UNSCHEDULABLE
                    else:
                        host = {target}
                        node["hostNodeName"] = target
                        self._create_pod(wf, node, target)
                nodes[nid] = node
                by_task[tname] = node
                # a new list, not an append: the nodes are shallow copies of the stored Workflow's
                nodes[root_id]["children"] = [*nodes[root_id].get("children", [])]
                if not task.get("dependencies"):
                    nodes[root_id]["children"] = [*nodes[root_id]["children"], nid]
                else:
                    for d in task["dependencies"]:
                        parent = nodes[by_task[d]["id"]]
                        parent["children"] = [*parent.get("children", []), nid]
                continue
            if node["phase"] in FINISHED:
                continue
            node = dict(node)
            pod = pod_name(name, node, self._pod_names(wf))
            if node["phase"] == "Pending" and not node.get("hostNodeName") and not shutdown:
                waiting = self._lock(wf, task, node["id"])
                if waiting:
                    node["message"] = waiting
                    nodes[node["id"]] = node
                    by_task[tname] = node
                    continue
                target = self._bound_host(wf, host) or self._place(wf, task, nodes)
                if target is not None:
                    host = {target}
                    node["hostNodeName"] = target
                    node.pop("message", None)
                    self._create_pod(wf, node, target)
                nodes[node["id"]] = node
                by_task[tname] = node
                continue
            if shutdown:
                self._terminate(wf, task, node, ns, pod)
            elif ("", "pods", ns, pod) not in self.store.objects:
                node.update(phase="Error", message="pod deleted", finishedAt=_stamp())
            elif node.get("hostNodeName") in self.lost:
                pass  # the kubelet is gone: nobody reports the pod any more
            elif node["phase"] == "Pending":
                if now - self._started.get((name, tname), now) >= self.pod_start_seconds:
                    self._start_pod(wf, task, node, ns, pod)
                    if node["phase"] == "Running":
                        self._started[(name, tname)] = now  # the step's own time starts with its container
            elif tname not in self.paused and now - self._started.get((name, tname), now) >= self.step_seconds:
                ended = self._main_ended(wf, task)
                if ended is not None:
                    node.update(phase=ended[0], finishedAt=_stamp())
                    if ended[1]:
                        node["message"] = ended[1]
                    outputs = rules.output_parameters(self._template(wf, task), node)
                    if outputs and ended[0] == "Succeeded":
                        node["outputs"] = {"parameters": outputs}
                    self._pod_ended(wf, task, node, ns, pod)
            nodes[node["id"]] = node
            by_task[tname] = node
        pods = [n for n in nodes.values() if n.get("boundaryID") == root_id]
        for n in pods:
            if n["phase"] in FINISHED:
                self._unlock(f"{ns}/{name}", n["id"])
        all_done = len(pods) == len(dag["dag"]["tasks"]) and all(n["phase"] in FINISHED for n in pods)
        stuck = (failed or shutdown) and all(n["phase"] in FINISHED for n in pods)
        if all_done or stuck:
            bad = any(n["phase"] in ("Failed", "Error") for n in pods) or shutdown
            phase = "Failed" if bad else "Succeeded"
            status.update(phase=phase, finishedAt=_stamp())
            status["persistentVolumeClaims"] = rules.collect_claims(self.store, new, phase)
            if not status["persistentVolumeClaims"]:
                del status["persistentVolumeClaims"]
            if shutdown:
                status["message"] = STOP_MESSAGE
            nodes[root_id].update(phase=phase, finishedAt=_stamp())
            self._workflow_ended(wf, phase)
        status["nodes"] = nodes
        self._dehydrate(wf, status)
        if new != wf:
            self.store.replace(self.res, ns, name, new, shared=True)  # its answer unread: no copy

    def _next_change(self, wf: dict[str, Any]) -> float:
        """The earliest moment a Running pod of `wf` may finish; now if anything else is pending."""
        if is_one_pod(wf):
            return self._next_change_pod(wf)
        times = []
        for node in self._hydrate(wf, wf.get("status") or {}).values():
            if node.get("type") != "Pod" or node.get("phase") in FINISHED:
                continue
            if node.get("phase") == "Pending":
                if not node.get("hostNodeName") or node.get("message"):
                    return time.monotonic() + 0.05
                started = self._started.get((wf["metadata"]["name"], node["displayName"])) or 0.0
                return started + self.pod_start_seconds
            started = self._started.get((wf["metadata"]["name"], node["displayName"]))
            times.append((started or 0.0) + self.step_seconds)
        return min(times) if times else 0.0

    # ------------------------------------------------------------------ runtime: admission, kubelet, podGC

    def _template(self, wf: dict[str, Any], task: dict[str, Any]) -> dict[str, Any]:
        return next(t for t in wf["spec"]["templates"] if t["name"] == task["template"])

    def _exists(self, kind: str, ns: str, name: str) -> dict[str, Any] | None:
        return self.store.objects.get(("", kind, ns, name))

    def _admission_refuses(self, wf: dict[str, Any], ns: str, pod: str) -> str:
        """Why the API server refuses the pod, as Argo then writes it into the node's message."""
        account = wf["spec"].get("serviceAccountName") or "default"
        # kubernetes plugin/pkg/admission/serviceaccount/admission.go: the pod's account must exist (the
        # `default` one is made in every namespace by the serviceaccounts controller); argo-workflows v3.7
        # workflow/controller/workflowpod.go: createWorkflowPod -> a non-transient error marks the node Error
        if account != "default" and self._exists("serviceaccounts", ns, account) is None:
            return (f'pods "{pod}" is forbidden: error looking up service account {ns}/{account}: '
                    f'serviceaccount "{account}" not found')
        return ""

    def _container_waiting(self, wf: dict[str, Any], task: dict[str, Any], ns: str, pod: str,
                           container: dict[str, Any] | None = None) -> tuple[str, str] | None:
        """(reason, message) of the main container the kubelet cannot start yet; None when it starts.
        `container`: one container of a containerSet, checked as the template's own."""
        template = self._template(wf, task)
        if container is not None:
            template = {**template, "container": container}
        # kubernetes pkg/kubelet/volumemanager: no container starts before every volume is mounted; a
        # missing Secret or ConfigMap leaves them all waiting "ContainerCreating" (a FailedMount event).
        # argo-workflows v3.7 workflow/controller/workflowpod.go: createSecretVolumesAndMounts mounts the
        # archive location's Secrets into the wait container.
        for volume in [*(wf["spec"].get("volumes") or []), *(template.get("volumes") or [])]:
            for kind, field, plural in (("secret", "secretName", "secrets"), ("configMap", "name", "configmaps")):
                source = volume.get(kind)
                if source and not source.get("optional") and self._exists(plural, ns, source.get(field, "")) is None:
                    return "ContainerCreating", ""
        s3 = ((template.get("archiveLocation") or {}).get("s3")) or {}
        for ref in (s3.get("accessKeySecret"), s3.get("secretKeySecret")):
            if ref and self._exists("secrets", ns, ref["name"]) is None:
                return "ContainerCreating", ""
        container = template.get("container") or {}
        image = container.get("image", "")
        # kubernetes pkg/kubelet/images/image_manager.go: EnsureImageExists -> ErrImagePull, then
        # ImagePullBackOff "Back-off pulling image %q" while the back-off lasts
        if image in self.missing_images:
            if (ns, pod) in self._pull_failed:
                return "ImagePullBackOff", f'Back-off pulling image "{image}"'
            self._pull_failed.add((ns, pod))
            ref = image if "/" in image else f"docker.io/library/{image}"
            ref = ref if ":" in ref.rsplit("/", 1)[-1] else f"{ref}:latest"
            return "ErrImagePull", (f'failed to pull and unpack image "{ref}": failed to resolve reference '
                                    f'"{ref}": {ref}: not found')
        # kubernetes pkg/kubelet/kubelet_pods.go: makeEnvironmentVariables -> CreateContainerConfigError
        for env in container.get("env") or []:
            source = env.get("valueFrom") or {}
            for kind, plural, title in (("secretKeyRef", "secrets", "Secret"), ("configMapKeyRef", "configmaps",
                                                                                  "ConfigMap")):
                ref = source.get(kind)
                if not ref or ref.get("optional"):
                    continue
                found = self._exists(plural, ns, ref["name"])
                if found is None:
                    return "CreateContainerConfigError", f'{title.lower()} "{ref["name"]}" not found'
                data = {**(found.get("data") or {}), **(found.get("stringData") or {})}
                if ref["key"] not in data:
                    return "CreateContainerConfigError", f"couldn't find key {ref['key']} in {title} {ns}/{ref['name']}"
        return None

    def _pod_status(self, ns: str, pod: str, phase: str, main: dict[str, Any], wait: dict[str, Any]) -> None:
        """The pod's phase and its two containers' states (the kubelet lists them sorted by name)."""
        # kubernetes pkg/kubelet/kubelet_pods.go: convertToAPIContainerStatuses (SortedContainerStatuses)
        current = self._exists("pods", ns, pod)
        if current is None:
            return
        images = {c["name"]: c.get("image", "") for c in current["spec"].get("containers") or []}
        status = {"phase": phase, "containerStatuses": [
            {"name": name, "image": images.get(name, ""), "imageID": "", "restartCount": 0,
             "ready": "running" in state, "started": "running" in state, "state": state}
            for name, state in (("main", main), ("wait", wait))]}
        if current.get("status") != status:
            self.store.replace(self.pods, ns, pod, {**current, "status": status}, subresource="status", shared=True)

    def _start_pod(self, wf: dict[str, Any], task: dict[str, Any], node: dict[str, Any], ns: str, pod: str) -> None:
        """The kubelet starts the pod, or leaves it Pending with the reason Argo copies into the node."""
        waiting = self._container_waiting(wf, task, ns, pod)
        if waiting is None:
            if node.get("message"):  # it waited: the step's time starts now
                self._started[(wf["metadata"]["name"], node["displayName"])] = time.monotonic()
            # argo-workflows v3.7 workflow/controller/operator.go: assessNodeStatus clears the pending message
            node["phase"] = "Running"
            node.pop("message", None)
            self._pod_status(ns, pod, "Running", {"running": {}}, {"running": {}})
            return
        reason, message = waiting
        # argo-workflows v3.7 workflow/controller/operator.go: getPendingReason ("<reason>: <message>")
        node["message"] = f"{reason}: {message}" if message else reason
        wait_state = {"running": {}} if reason != "ContainerCreating" else {"waiting": {"reason": reason}}
        self._pod_status(ns, pod, "Pending", {"waiting": {"reason": reason, "message": message}}, wait_state)

    def _terminate(self, wf: dict[str, Any], task: dict[str, Any], node: dict[str, Any], ns: str, pod: str) -> None:
        """Shutdown: argo-workflows v3.7 workflow/controller/exec_control.go: applyExecutionControl fails the
        node at once; workflow/controller/pod/queue.go: a Pending pod is deleted, a running one is sent
        SIGTERM (its wait container still saves the log) and is left to the podGC."""
        was_pending = node["phase"] == "Pending"
        node.update(phase="Failed", message=NODE_STOP_MESSAGE, finishedAt=_stamp())
        if self._exists("pods", ns, pod) is None:
            return
        if was_pending:
            self.store.delete(self.pods, ns, pod)
            return
        self._pod_status(ns, pod, "Failed", {"terminated": {"exitCode": 143, "reason": "Error"}},
                         {"terminated": {"exitCode": 0, "reason": "Completed"}})
        self._pod_ended(wf, task, node, ns, pod, terminated=True)

    def _pod_ended(self, wf: dict[str, Any], task: dict[str, Any], node: dict[str, Any], ns: str, pod: str,
                   *, terminated: bool = False) -> None:
        """The main container exited: the wait container archives its log, then the podGC may delete it."""
        # a step whose log had nowhere to go already ended in Error (tests/argo_sim_rules.py)
        failure = "" if node["phase"] == "Error" else self._archive_log(wf, task, ns, pod)
        if failure and node["phase"] == "Succeeded":
            # argo-workflows v3.7 workflow/controller/operator.go: inferFailedReason, a failed wait container
            # after a successful main one makes the node Error with the wait container's message
            node.update(phase="Error", message=f"wait: Error (exit code 1): {failure}")
        if not terminated:
            main, wait = int(node["phase"] != "Succeeded"), int(bool(failure))
            self._pod_status(ns, pod, "Failed" if main or wait else "Succeeded",
                             {"terminated": {"exitCode": main}}, {"terminated": {"exitCode": wait}})
        strategy = ((wf["spec"].get("podGC") or {}).get("strategy")) or ""
        # argo-workflows v3.7 workflow/controller/pod/cleanup.go: determinePodCleanupAction (per pod)
        if strategy == "OnPodCompletion" or (strategy == "OnPodSuccess" and node["phase"] == "Succeeded"):
            self._gc_due.append((time.monotonic() + self._gc_delay(wf), ns, pod))

    def _workflow_ended(self, wf: dict[str, Any], phase: str) -> None:
        strategy = ((wf["spec"].get("podGC") or {}).get("strategy")) or ""
        # argo-workflows v3.7 workflow/controller/pod/cleanup.go: determinePodCleanupAction (per workflow)
        if strategy == "OnWorkflowCompletion" or (strategy == "OnWorkflowSuccess" and phase == "Succeeded"):
            ns, name = wf["metadata"]["namespace"], wf["metadata"]["name"]
            when = time.monotonic() + self._gc_delay(wf)
            for (_g, _plural, pns, pname) in self.store.objects.of("", "pods"):
                obj = self.store.objects[("", "pods", pns, pname)]
                if pns == ns and (obj["metadata"].get("labels") or {}).get("workflows.argoproj.io/workflow") == name:
                    self._gc_due.append((when, ns, pname))

    def _gc_delay(self, wf: dict[str, Any]) -> float:
        """argo-workflows v3.7 workflow/controller/pod_cleanup.go: getPodGCDelay (podGC.deleteDelayDuration,
        else the controller's podGCDeleteDelayDuration)."""
        text = str(((wf["spec"].get("podGC") or {}).get("deleteDelayDuration")) or "")
        if text.endswith("s") and text[:-1].replace(".", "", 1).isdigit():
            return float(text[:-1])
        return self.pod_gc_delay

    def _collect_pods(self) -> None:
        # argo-workflows v3.7 workflow/controller/pod/controller.go: commonPodEvent (a completed pod is queued
        # for deletion after the podGC delay, then deleted)
        now = time.monotonic()
        due = [d for d in self._gc_due if d[0] <= now]
        if not due:
            return
        self._gc_due = [d for d in self._gc_due if d[0] > now]
        with self.store.lock:
            for _when, ns, pod in due:
                if self._exists("pods", ns, pod) is not None:
                    self.store.delete(self.pods, ns, pod)

    # ------------------------------------------------------------------ runtime: log archive

    def _archive_log(self, wf: dict[str, Any], task: dict[str, Any], ns: str, pod: str,
                     container: str = "main") -> str:
        """Upload a container's log where the template's archiveLocation says; the error, or "" when done.

        argo-workflows v3.7 workflow/executor/executor.go: SaveLogs -> saveContainerLogs writes
        `<key>/<container>.log` for each main container (`main`; a containerSet's every container);
        workflow/artifacts/s3/s3.go: saveS3Artifact makes no bucket unless
        createBucketIfNotPresent is set, and a refused put is "failed to put file: <error>".
        """
        location = self._template(wf, task).get("archiveLocation") or {}
        s3 = location.get("s3") or {}
        if not location.get("archiveLogs") or not s3.get("endpoint"):
            return ""

        def secret(ref: dict[str, str] | None) -> str:
            found = self._exists("secrets", ns, ref["name"]) if ref else None
            value = ((found or {}).get("data") or {}).get(ref["key"]) if ref else None
            return base64.b64decode(value).decode() if value else ""

        import urllib3

        http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=2, read=5), retries=urllib3.Retry(total=0))
        client = Minio(s3["endpoint"], access_key=secret(s3.get("accessKeySecret")),
                       secret_key=secret(s3.get("secretKeySecret")), secure=not s3.get("insecure"),
                       http_client=http)
        data = (self.store.logs.get((ns, pod, container)) if container != "main" else None)
        data = (data if data is not None else self.store.logs.get((ns, pod), "")).encode()
        try:
            if s3.get("createBucketIfNotPresent") is not None and not client.bucket_exists(s3["bucket"]):
                client.make_bucket(s3["bucket"])
            client.put_object(s3["bucket"], f"{s3['key']}/{container}.log", io.BytesIO(data), len(data))
        except S3Error as exc:
            return f"failed to put file: {exc.message}"
        except (HTTPError, ValueError) as exc:
            return f"failed to put file: {exc}"
        finally:
            http.clear()
        return ""

    # ------------------------------------------------------------------ runtime: offloaded node status

    def _hydrate(self, wf: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
        """argo-workflows v3.7 workflow/hydrator/hydrator.go: Hydrate reads offloaded nodes back by version."""
        if status.get("offloadNodeStatusVersion"):
            return dict(self.offloaded.get(wf["metadata"]["uid"], {}))
        return dict(status.get("nodes") or {})

    def _dehydrate(self, wf: dict[str, Any], status: dict[str, Any]) -> None:
        """argo-workflows v3.7 workflow/hydrator/hydrator.go: Dehydrate with offloading on: the nodes go to
        the database (persist/sqldb/offload_node_status_repo.go: version "fnv:<hash of the nodes>"), the
        Workflow keeps `status.offloadNodeStatusVersion` and neither `nodes` nor `compressedNodes`."""
        if not self.offload:
            return
        nodes = status.pop("nodes", None) or {}
        status.pop("compressedNodes", None)
        self.offloaded[wf["metadata"]["uid"]] = nodes
        status["offloadNodeStatusVersion"] = f"fnv:{zlib.crc32(json.dumps(nodes, sort_keys=True).encode())}"

    # ------------------------------------------------------------------ test helpers

    def write_log(self, namespace: str, workflow: str, task: str, text: str) -> None:
        """The step's container writes `text` to its log (followers see it at once; a one-pod run's
        container writes its own log, as the kubelet keeps one per container)."""
        with self.store.lock:
            wf = self.store.objects[("argoproj.io", "workflows", namespace, workflow)]
            nodes = self._hydrate(wf, wf["status"])
            node = nodes[node_id(workflow, f"{workflow}.{task}")]
            key: tuple[str, ...] = (namespace, pod_name(workflow, node, self._pod_names(wf)))
            if node["type"] == "Container":  # a one-pod run: the container's own log in the run's pod
                key = (namespace, pod_name(workflow, nodes[node["boundaryID"]], self._pod_names(wf)), task)
            self.store.logs[key] = self.store.logs.get(key, "") + text
            self.store.lock.notify_all()

    def delete_pod(self, namespace: str, workflow: str, task: str) -> None:
        """Delete the pod that runs `task` (in a one-pod run: the run's pod)."""
        with self.store.lock:
            wf = self.store.objects[("argoproj.io", "workflows", namespace, workflow)]
            node = self._hydrate(wf, wf["status"])[node_id(workflow, f"{workflow}.{task}")]
            if node["type"] == "Container":
                node = self._hydrate(wf, wf["status"])[node["boundaryID"]]
            self.store.delete(self.pods, namespace, pod_name(workflow, node, self._pod_names(wf)))

    def lose_node(self, node: str) -> None:
        """The node's kubelet stops reporting: its pods make no progress and keep their last status
        (Argo's view of them goes stale), and the node lifecycle controller marks the Node's Ready
        condition Unknown (kubernetes pkg/controller/nodelifecycle: tryUpdateNodeHealth, reason
        NodeStatusUnknown, "Kubelet stopped posting node status."). Pods are evicted only after
        their tolerationSeconds (300 by default), which this simulator never reaches."""
        with self.store.lock:
            self.lost.add(node)
            obj = self.store.objects.get(("", "nodes", "", node))
            if obj is not None:
                status = {**(obj.get("status") or {}), "conditions": [
                    {"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown",
                     "message": "Kubelet stopped posting node status.", "lastTransitionTime": _stamp()}]}
                self.store.replace(self.store.resource("", "nodes"), "", node, {**obj, "status": status},
                                   subresource="status")

    # ------------------------------------------------------------------ Argo's rules (tests/argo_sim_rules.py)

    def _pod_names(self, wf: dict[str, Any]) -> str:
        # workflow/util/pod_name.go GetWorkflowPodNameVersion: the Workflow's annotation, else POD_NAMES
        return (wf["metadata"].get("annotations") or {}).get(rules.POD_NAME_FORMAT) or self.pod_names

    def _first_reconcile(self, new: dict[str, Any]) -> bool:
        """What the controller does before the first node: False when it ended the Workflow."""
        status = new["status"]
        # operator.go operate: setWfPodNamesAnnotation on a new Workflow
        new["metadata"] = {**new["metadata"], "annotations": {
            **(new["metadata"].get("annotations") or {}), rules.POD_NAME_FORMAT: self.pod_names}}
        refused = rules.refusal(new, self.version)
        if refused:  # markWorkflowFailed
            status.update(phase="Failed", message=refused, startedAt=_stamp(), finishedAt=_stamp())
            return False
        repo, error = rules.resolve_repository(self.store, new, controller_namespace=self.controller_namespace,
                                               default=self.artifact_repository)
        if error:  # markWorkflowError
            status.update(phase="Error", message=error, startedAt=_stamp(), finishedAt=_stamp())
            return False
        status["artifactRepositoryRef"] = {"default": repo is self.artifact_repository,
                                           **({"artifactRepository": repo} if repo is not None else {})}
        claims = rules.create_claims(self.store, new)
        if claims:
            status["persistentVolumeClaims"] = claims
        return True

    def _lock(self, wf: dict[str, Any], task: dict[str, Any], nid: str) -> str:
        """Take the step's mutexes, all or none; the waiting message when another node holds one.
        workflow/sync/sync_manager.go TryAcquire (checks every lock, then acquires them together);
        lock_name.go getMutexLockName (`<namespace>/Mutex/<name>`, the namespace defaulting to the
        Workflow's); semaphore.go checkAcquire (the message); operator.go executeTemplate: the node
        stays Pending with no pod until it holds them."""
        holder = (f'{wf["metadata"]["namespace"]}/{wf["metadata"]["name"]}', nid)
        keys = rules.mutex_keys(self._template(wf, task), wf["metadata"]["namespace"], self.version)
        for key in keys:
            if self.locks.get(key, holder) != holder:
                return f"Waiting for {key} lock. Lock status: 0/1"
        for key in keys:
            self.locks[key] = holder
        return ""

    def _unlock(self, workflow: str, nid: str) -> None:
        # operator.go: syncManager.Release when the node is fulfilled; ReleaseAll when the Workflow goes
        for key in [k for k, h in self.locks.items() if h[0] == workflow and nid in (h[1], "")]:
            del self.locks[key]

    def _maybe_execute(self, wf: dict[str, Any], node: dict[str, Any]) -> None:
        name, tname = wf["metadata"]["name"], node["displayName"]
        if self.execute is None or not self.execute(name, tname):
            return
        template = next(t for t in wf["spec"]["templates"] if t["name"] == node["templateName"])
        config_maps = rules.config_maps_of(self.store, wf)
        # the kubelet's Secrets (env and volumes) around the container (tests/argo_exec.py)
        run_wf, run_template, refused = argo_exec.with_secrets(self.store, wf, template, config_maps)

        def run() -> None:
            self.ran[(name, tname)] = refused or rules.run_container(run_wf, run_template, config_maps)

        threading.Thread(target=run, daemon=True).start()

    def _main_ended(self, wf: dict[str, Any], task: dict[str, Any]) -> tuple[str, str] | None:
        """(phase, message) of a step whose main container ended; None while it runs."""
        name, tname = wf["metadata"]["name"], task["name"]
        if self.execute is not None and self.execute(name, tname):
            if (name, tname) not in self.ran:
                return None
            code, output = self.ran[(name, tname)]
            pod = pod_name(name, {"name": f"{name}.{tname}", "templateName": task["template"],
                                  "id": node_id(name, f"{name}.{tname}")}, self._pod_names(wf))
            self.store.logs[(wf["metadata"]["namespace"], pod)] = output
            result = "Succeeded" if code == 0 else "Failed"
        else:
            result, code = self.outcome(name, tname), 1
        if result != "Succeeded":
            return result, f"Error (exit code {code})"  # operator.go inferFailedReason: main container
        repo = ((wf.get("status") or {}).get("artifactRepositoryRef") or {}).get("artifactRepository")
        error = rules.archive_logs_error(wf, self._template(wf, task), repo, self.version)
        return ("Error", error) if error else ("Succeeded", "")
