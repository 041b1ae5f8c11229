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
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from tests import argo_sim_rules as rules
from tests.kube_double.server import KubeDouble
from tests.kube_double.store import ApiError

FINISHED = ("Succeeded", "Failed", "Error", "Skipped", "Omitted")
STOP_MESSAGE = "Stopped with strategy 'Terminate'"
UNSCHEDULABLE = "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


node_id = rules.node_id


def pod_name(workflow: str, node: dict[str, Any], version: str = "v2") -> str:
    return rules.pod_name(workflow, node["name"], node.get("templateName", ""), node["id"], version)


class ArgoSimulator:
    def __init__(self, kube: KubeDouble, *, nodes: tuple[str, ...] = ("node-a", "node-b", "node-c"),
                 step_seconds: float = 0.05, tick: float = 0.01,
                 outcome: Callable[[str, str], str] | None = None, version: str = "v4.1",
                 artifact_repository: dict[str, Any] | None = None, controller_namespace: str = "argo",
                 execute: Callable[[str, str], bool] | None = None, pod_names: str = "v2") -> None:
        self.kube = kube
        self.version = rules.simulated_version(version)
        self.artifact_repository = artifact_repository  # the controller's configured default; None: none
        self.controller_namespace = controller_namespace
        self.execute = execute
        self.pod_names = pod_names  # the controller's POD_NAMES
        self.ran: dict[tuple[str, str], tuple[int, str]] = {}  # (workflow, task) -> (exit code, output)
        self.locks: dict[str, tuple[str, str]] = {}  # mutex key -> holder (workflow, node id)
        self.store = kube.store
        self.nodes = nodes
        self.step_seconds = step_seconds
        self.tick = tick
        self.outcome = outcome or (lambda _wf, _task: "Succeeded")
        self.paused: set[str] = set()  # tasks held Running until released
        self.busy: set[str] = set()  # nodes with no room: pods that may only go there stay Pending
        self.placements: list[tuple[str, str, str]] = []  # (workflow, task, node)
        self._started: dict[tuple[str, str], float] = {}
        self._rr = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self.res = self.store.resource("argoproj.io", "workflows")
        self.pods = self.store.resource("", "pods")

    def start(self) -> ArgoSimulator:
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
                keys = [k for k, o in self.store.objects.items()
                        if k[1] == "workflows" and k[0] == "argoproj.io" and o["metadata"]["uid"] not in done]
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
            time.sleep(self.tick)

    # ------------------------------------------------------------------ placement

    def _place(self, wf: dict[str, Any]) -> str | None:
        """The scheduler: required node affinity filters, preferred terms rank; None: unschedulable."""
        affinity = (wf["spec"].get("affinity") or {}).get("nodeAffinity") or {}
        allowed = [n for n in self.nodes if n not in self.busy]
        required = (affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get("nodeSelectorTerms")
        if required:
            values = {v for term in required for expr in term["matchExpressions"] for v in expr.get("values", [])}
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

    def _create_pod(self, wf: dict[str, Any], node: dict[str, Any], target: str) -> None:
        name, ns = wf["metadata"]["name"], wf["metadata"]["namespace"]
        tname = node["displayName"]
        self._started[(name, tname)] = time.monotonic()
        self.placements.append((name, tname, target))
        self._maybe_execute(wf, node)
        pod = pod_name(name, node, self._pod_names(wf))
        try:
            self.store.create(self.pods, ns, {"metadata": {
                "name": pod, "labels": {"workflows.argoproj.io/workflow": name},
                "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
                                     "name": name, "uid": wf["metadata"]["uid"]}],
                "annotations": {"workflows.argoproj.io/node-name": node["name"]}},
                "spec": {"nodeName": target, "containers": [{"name": "main", "image": "x"}]},
                "status": {"phase": "Pending"}})
        except ApiError:
            pass
        self.store.logs[(ns, pod)] = f"step {tname} of {name} on {target}\n"

    # ------------------------------------------------------------------ one step of Argo

    def _advance(self, wf: dict[str, Any]) -> None:
        name, ns = wf["metadata"]["name"], wf["metadata"]["namespace"]
        new = {**wf, "status": dict(wf.get("status") or {})}
        status = new["status"]
        nodes: dict[str, Any] = {k: dict(v) for k, v in (status.get("nodes") or {}).items()}
        dag = next(t for t in wf["spec"]["templates"] if t["name"] == wf["spec"]["entrypoint"])
        root_id = name
        if not status.get("phase"):
            if not self._first_reconcile(new):
                self.store.replace(self.res, ns, name, new)
                return
            status.update(phase="Running", startedAt=_stamp())
            nodes[root_id] = {"id": root_id, "name": name, "displayName": name, "type": "DAG",
                              "templateName": dag["name"], "phase": "Running", "startedAt": _stamp(), "children": []}
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
                    target = None if waiting else next(iter(host)) if host else self._place(wf)  # the workspace
                    node = {**base, "type": "Pod", "phase": "Pending"}                          # binds the node
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
                nodes[root_id].setdefault("children", [])
                if not task.get("dependencies"):
                    nodes[root_id]["children"].append(nid)
                else:
                    for d in task["dependencies"]:
                        parent = by_task[d]
                        nodes[parent["id"]].setdefault("children", []).append(nid)
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
                target = next(iter(host)) if host else self._place(wf)
                if target is not None:
                    host = {target}
                    node["hostNodeName"] = target
                    node.pop("message", None)
                    self._create_pod(wf, node, target)
                nodes[node["id"]] = node
                by_task[tname] = node
                continue
            if shutdown:
                node.update(phase="Failed", message=STOP_MESSAGE, finishedAt=_stamp())
            elif ("", "pods", ns, pod) not in self.store.objects:
                node.update(phase="Error", message="pod deleted", finishedAt=_stamp())
            elif node["phase"] == "Pending":
                node["phase"] = "Running"
            elif tname not in self.paused and now - self._started.get((name, tname), now) >= self.step_seconds:
                ended = self._main_ended(wf, task)
                if ended is not None:
                    node.update(phase=ended[0], finishedAt=_stamp())
                    if ended[1]:
                        node["message"] = ended[1]
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
        status["nodes"] = nodes
        if new != wf:
            self.store.replace(self.res, ns, name, new)

    def _next_change(self, wf: dict[str, Any]) -> float:
        """The earliest moment a Running pod of `wf` may finish; now if anything else is pending."""
        times = []
        for node in ((wf.get("status") or {}).get("nodes") or {}).values():
            if node.get("type") != "Pod" or node.get("phase") in FINISHED:
                continue
            if node.get("phase") == "Pending":
                return 0.0 if node.get("hostNodeName") else time.monotonic() + 0.05
            started = self._started.get((wf["metadata"]["name"], node["displayName"]))
            times.append((started or 0.0) + self.step_seconds)
        return min(times) if times else 0.0

    # ------------------------------------------------------------------ test helpers

    def delete_pod(self, namespace: str, workflow: str, task: str) -> None:
        with self.store.lock:
            wf = self.store.objects[("argoproj.io", "workflows", namespace, workflow)]
            node = wf["status"]["nodes"][node_id(workflow, f"{workflow}.{task}")]
            self.store.delete(self.pods, namespace, pod_name(workflow, node, self._pod_names(wf)))

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

    def _template(self, wf: dict[str, Any], task: dict[str, Any]) -> dict[str, Any]:
        return next(t for t in wf["spec"]["templates"] if t["name"] == task["template"])

    def _maybe_execute(self, wf: dict[str, Any], node: dict[str, Any]) -> None:
        name, tname = wf["metadata"]["name"], node["displayName"]
        if self.execute is None or not self.execute(name, tname):
            return
        template = next(t for t in wf["spec"]["templates"] if t["name"] == node["templateName"])
        config_maps = rules.config_maps_of(self.store, wf)

        def run() -> None:
            self.ran[(name, tname)] = rules.run_container(wf, template, config_maps)

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
