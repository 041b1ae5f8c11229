"""The simulator's one-pod runs: a Workflow whose entrypoint is a containerSet, as Argo runs it.

Read at v3.6.19 and v4.1.2 (the same in both):
- workflow/controller/container_set_template.go executeContainerSet: the template is one `Pod`
  node (here the root: the entrypoint, named after the Workflow), the pod is created first, then
  one `Container` node `<pod node>.<container>` per container, Pending, boundaryID the pod's node;
  a container without dependencies is a child of the pod node, else a child of each dependency;
- workflow/controller/operator.go podReconciliation / updateNodeStatusWithPodStatus: each
  Container node's phase follows its container's status: waiting -> Pending, running -> Running,
  terminated 0 -> Succeeded, 64 -> Error, other -> Failed with `<name>: <reason> (exit code N): <message>`;
  a failed pod fails the containers still running ("Pod Failed whilst container running");
- cmd/argoexec/commands/emissary.go: every container starts with the pod (so it is Running to
  Argo while it waits), its command starts once each dependency wrote exit code 0; a dependency's
  non-zero code ends it with that code, its command never run; SIGTERM ends it with 143;
- operator.go markAllContainersDeleted: a deleted pod errors the pod node ("pod deleted") and
  each container node ("container deleted");
- shutdown `Terminate`: the pod's containers get SIGTERM (143) and the pod node fails with
  "Stopped with strategy 'Terminate'";
- workflow/executor SaveLogs: each container's log is archived as `<key>/<container>.log`.
The pod's start costs `pod_start_seconds` (scheduling, sandbox, Argo's init container), once.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

from tests import argo_exec
from tests import argo_sim_rules as rules
from tests.argo_pod import workflow_pod_spec
from tests.kube_double.store import ApiError

FINISHED = ("Succeeded", "Failed", "Error", "Skipped", "Omitted")
STOP_MESSAGE = "Stopped with strategy 'Terminate'"
SIGTERM_EXIT = 143  # 128 + 15: emissary.go forwards SIGTERM to the command
UNSCHEDULABLE = "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."


def is_one_pod(wf: dict[str, Any]) -> bool:
    return "containerSet" in entry_template(wf)


def entry_template(wf: dict[str, Any]) -> dict[str, Any]:
    return next(t for t in wf["spec"]["templates"] if t["name"] == wf["spec"]["entrypoint"])


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class OnePod:
    """Mixed into ArgoSimulator: `_advance_pod` is its `_advance` for one-pod Workflows."""

    # provided by ArgoSimulator
    store: Any
    pods: Any
    res: Any
    paused: set[str]
    placements: list[tuple[str, str, str]]
    step_seconds: float
    pod_start_seconds: float
    lost: set[str]
    _started: dict[tuple[str, str], float]

    def _advance_pod(self, wf: dict[str, Any], new: dict[str, Any], nodes: dict[str, Any]) -> None:
        name, ns = wf["metadata"]["name"], wf["metadata"]["namespace"]
        template = entry_template(wf)
        containers = template["containerSet"]["containers"]
        status = new["status"]
        root = nodes.get(name)
        shutdown = wf["spec"].get("shutdown")
        pod = rules.pod_name(name, name, template["name"], name, self._pod_names(wf))  # type: ignore[attr-defined]
        if root is None:
            root = {"id": name, "name": name, "displayName": name, "type": "Pod", "templateName": template["name"],
                    "phase": "Pending", "startedAt": _stamp()}
            nodes[name] = root
        root = nodes[name] = dict(root)
        if root["phase"] == "Pending" and not root.get("hostNodeName"):
            if shutdown:
                root.update(phase="Failed", message=STOP_MESSAGE, finishedAt=_stamp())
            else:
                waiting = self._lock(wf, {"template": template["name"]}, name)  # type: ignore[attr-defined]
                target = None if waiting else self._place(wf)  # type: ignore[attr-defined]
                if waiting or target is None:
                    root["message"] = waiting or UNSCHEDULABLE
                else:
                    root.pop("message", None)
                    root["hostNodeName"] = target
                    refused = self._admission_refuses(wf, ns, pod)  # type: ignore[attr-defined]
                    if refused:  # workflowpod.go createWorkflowPod: a refused pod errors the node
                        root.update(phase="Error", message=refused, finishedAt=_stamp())
                    elif self._create_one_pod(wf, root, target, containers):
                        self._add_container_nodes(name, root, containers, nodes)
        elif root["phase"] not in FINISHED:
            self._step_containers(wf, root, containers, nodes, pod, shutdown=bool(shutdown))
        if root["phase"] in FINISHED:
            self._unlock(f"{ns}/{name}", name)  # type: ignore[attr-defined]
            # operator.go: the Workflow's phase follows its root node's (an Error pod node errors it)
            phase = root["phase"] if root["phase"] in ("Succeeded", "Error") else "Failed"
            status.update(phase=phase, finishedAt=_stamp())
            if shutdown:
                status["message"] = STOP_MESSAGE
            elif root.get("message"):
                status["message"] = root["message"]
        status["nodes"] = nodes

    def _create_one_pod(self, wf: dict[str, Any], root: dict[str, Any], target: str,
                        containers: list[dict[str, Any]]) -> bool:
        """Create the run's pod as Argo builds it (tests/argo_pod.py); False: the pod node is in Error."""
        name, ns = wf["metadata"]["name"], wf["metadata"]["namespace"]
        now = time.monotonic()
        self._started[(name, "")] = now
        for c in containers:
            self.placements.append((name, c["name"], target))
        pod = rules.pod_name(name, name, root["templateName"], name, self._pod_names(wf))  # type: ignore[attr-defined]
        spec, error = workflow_pod_spec(wf, root["templateName"], ns, self.store.objects)
        if error:
            root.update(phase="Error", message=error, finishedAt=_stamp())
            return False
        try:
            self.store.create(self.pods, ns, shared=True, body={"metadata": {  # its answer unread: no copy
                "name": pod, "labels": {"workflows.argoproj.io/workflow": name},
                "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
                                     "name": name, "uid": wf["metadata"]["uid"]}],
                "annotations": {"workflows.argoproj.io/node-name": name}},
                "spec": {**spec, "nodeName": target},  # the double's ServiceAccount admission mounts tokens
                "status": {"phase": "Pending"}})
        except ApiError as exc:
            if exc.code != 409:  # argo-workflows v3.7 operator.go executeTemplate: markNodeError
                root.update(phase="Error", message=str(exc), finishedAt=_stamp())
                return False
        return True

    def _add_container_nodes(self, name: str, root: dict[str, Any], containers: list[dict[str, Any]],
                             nodes: dict[str, Any]) -> None:
        for c in containers:
            cname = f"{name}.{c['name']}"
            nid = rules.node_id(name, cname)
            nodes[nid] = {"id": nid, "name": cname, "displayName": c["name"], "type": "Container",
                          "templateName": root["templateName"], "boundaryID": root["id"], "phase": "Pending",
                          "startedAt": _stamp()}
        for c in containers:
            child = rules.node_id(name, f"{name}.{c['name']}")
            parents = [rules.node_id(name, f"{name}.{d}") for d in c.get("dependencies") or []] or [root["id"]]
            for parent in parents:
                holder = nodes[parent] if parent != root["id"] else root
                holder.setdefault("children", []).append(child)

    def _step_containers(self, wf: dict[str, Any], root: dict[str, Any], containers: list[dict[str, Any]],
                         nodes: dict[str, Any], pod: str, *, shutdown: bool) -> None:
        name, ns = wf["metadata"]["name"], wf["metadata"]["namespace"]
        by_name = {c["name"]: nodes[rules.node_id(name, f"{name}.{c['name']}")] for c in containers}
        now = time.monotonic()
        if ("", "pods", ns, pod) not in self.store.objects:
            root.update(phase="Error", message="pod deleted", finishedAt=_stamp())
            for node in by_name.values():  # markAllContainersDeleted: every container, whatever its phase
                nodes[node["id"]] = {**node, "phase": "Error", "message": "container deleted",
                                     "finishedAt": node.get("finishedAt") or _stamp()}
            return
        if root["hostNodeName"] in self.lost:
            return  # the kubelet is gone: nobody reports the pod's containers any more
        if shutdown:
            for cname, node in by_name.items():
                if node["phase"] not in FINISHED:
                    nodes[node["id"]] = {**node, "phase": "Failed", "finishedAt": _stamp(),
                                         "message": f"{cname}: Error (exit code {SIGTERM_EXIT}): "}
            root.update(phase="Failed", message=STOP_MESSAGE, finishedAt=_stamp())
            return
        started = self._started.get((name, ""), now)
        if root["phase"] == "Pending":
            if now - started < self.pod_start_seconds:
                return
            # kubelet: the pod starts when every container can; the first that cannot gives the reason
            waiting = next((w for c in containers if (w := self._container_waiting(  # type: ignore[attr-defined]
                wf, {"template": root["templateName"]}, ns, pod, c)) is not None), None)
            if waiting is not None:  # operator.go getPendingReason: the kubelet's reason in the pod node
                root["message"] = f"{waiting[0]}: {waiting[1]}" if waiting[1] else waiting[0]
                return
            root.pop("message", None)
            root["phase"] = "Running"
            for node in by_name.values():  # every container starts with the pod; the emissary waits
                nodes[node["id"]] = {**node, "phase": "Running"}
            self._one_pod_status(ns, pod, {c["name"]: nodes[by_name[c["name"]]["id"]] for c in containers})
            return
        for c in containers:
            node = dict(nodes[rules.node_id(name, f"{name}.{c['name']}")])
            if node["phase"] in FINISHED:
                continue
            deps = [nodes[rules.node_id(name, f"{name}.{d}")] for d in c.get("dependencies") or []]
            failed = next((d for d in deps if d["phase"] in ("Failed", "Error")), None)
            if failed is not None:  # emissary: the dependency's code, the command never run
                code = _exit_code(failed.get("message", "")) or 1
                node.update(phase="Failed", finishedAt=_stamp(), message=f"{c['name']}: Error (exit code {code}): ")
            elif all(d["phase"] == "Succeeded" for d in deps):
                if (name, c["name"]) not in self._started:  # its command starts: its log begins
                    self.store.logs[(ns, pod, c["name"])] = f"step {c['name']} of {name} on {root['hostNodeName']}\n"
                began = self._started.setdefault((name, c["name"]), now)
                if c["name"] not in self.paused and now - began >= self.step_seconds:
                    ended = self._container_ended(wf, c, pod)
                    if ended is not None:
                        node.update(phase=ended[0], finishedAt=_stamp())
                        if ended[1]:
                            node["message"] = ended[1]
            nodes[node["id"]] = node
        states = [nodes[rules.node_id(name, f"{name}.{c['name']}")] for c in containers]
        self._one_pod_status(ns, pod, {c["name"]: n for c, n in zip(containers, states, strict=True)})
        if all(n["phase"] in FINISHED for n in states):
            bad = next((n for n in states if n["phase"] != "Succeeded"), None)
            root.update(phase="Failed" if bad else "Succeeded", finishedAt=_stamp())
            if bad is not None:
                root["message"] = bad.get("message", "")
            # executor.go SaveLogs: the wait container archives every container's log once they all ended;
            # a failed upload fails the wait container, and the pod node is Error with its message
            for c in containers:
                failure = self._archive_log(wf, {"template": root["templateName"]}, ns, pod,  # type: ignore[attr-defined]
                                            c["name"])
                if failure:
                    root.update(phase="Error", message=f"wait: Error (exit code 1): {failure}")
                    break

    def _one_pod_status(self, ns: str, pod: str, nodes: dict[str, dict[str, Any]]) -> None:
        """The pod's phase and each container's state, as the kubelet reports them: a containerSet's
        containers end one by one, the wait container once they all have."""
        # kubernetes pkg/kubelet/kubelet_pods.go: convertToAPIContainerStatuses (sorted by name); getPhase
        current = self.store.objects.get(("", "pods", ns, pod))
        if current is None:
            return
        ended = all(n["phase"] in FINISHED for n in nodes.values())
        states: dict[str, dict[str, Any]] = {}
        for cname, node in nodes.items():
            if node["phase"] in FINISHED:
                code = 0 if node["phase"] == "Succeeded" else (_exit_code(node.get("message", "")) or 1)
                states[cname] = {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error"}}
            else:
                states[cname] = {"running": {}}
        states["wait"] = {"terminated": {"exitCode": 0, "reason": "Completed"}} if ended else {"running": {}}
        images = {c["name"]: c.get("image", "") for c in current["spec"].get("containers") or []}
        phase = "Running"
        if ended:
            phase = "Succeeded" if all(n["phase"] == "Succeeded" for n in nodes.values()) else "Failed"
        status = {"phase": phase, "containerStatuses": [
            {"name": cname, "image": images.get(cname, ""), "imageID": "", "restartCount": 0,
             "ready": "running" in state, "started": "running" in state, "state": state}
            for cname, state in sorted(states.items())]}
        if current.get("status") != status:
            self.store.replace(self.pods, ns, pod, {**current, "status": status},  # type: ignore[attr-defined]
                               subresource="status", shared=True)  # its answer unread: no copy

    def _container_ended(self, wf: dict[str, Any], container: dict[str, Any], pod: str) -> tuple[str, str] | None:
        """(phase, message) of a container whose command ended; None while it runs."""
        name, ns, cname = wf["metadata"]["name"], wf["metadata"]["namespace"], container["name"]
        execute = self.execute  # type: ignore[attr-defined]
        if execute is not None and execute(name, cname):
            if (name, cname) not in self.ran:  # type: ignore[attr-defined]
                self._run_container(wf, container)
                return None
            run = self.ran[(name, cname)]  # type: ignore[attr-defined]
            if run is None:
                return None
            code, output = run
            self.store.logs[(ns, pod, cname)] = output
        else:
            code = 0 if self.outcome(name, cname) == "Succeeded" else 1  # type: ignore[attr-defined]
        if code == 0:
            return "Succeeded", ""
        return ("Error" if code == 64 else "Failed"), f"{cname}: Error (exit code {code}): "

    def _run_container(self, wf: dict[str, Any], container: dict[str, Any]) -> None:
        name = wf["metadata"]["name"]
        self.ran[(name, container["name"])] = None  # type: ignore[attr-defined]
        config_maps = rules.config_maps_of(self.store, wf)

        # the kubelet's Secrets (env and volumes) around the container (tests/argo_exec.py)
        own = {"container": container, "volumes": entry_template(wf).get("volumes") or []}  # the pod's volumes
        run_wf, run_template, refused = argo_exec.with_secrets(self.store, wf, own, config_maps)

        def run() -> None:
            self.ran[(name, container["name"])] = refused or rules.run_container(  # type: ignore[attr-defined]
                run_wf, run_template, config_maps)

        threading.Thread(target=run, daemon=True).start()

    def _next_change_pod(self, wf: dict[str, Any]) -> float:
        """The earliest moment something of a one-pod run may change."""
        name = wf["metadata"]["name"]
        root = ((wf.get("status") or {}).get("nodes") or {}).get(name)
        if root is None or root.get("phase") in FINISHED:
            return 0.0
        if root.get("phase") == "Pending":
            if not root.get("hostNodeName"):
                return time.monotonic() + 0.05
            return self._started.get((name, ""), 0.0) + self.pod_start_seconds
        nodes = (wf.get("status") or {}).get("nodes") or {}
        times = [t + self.step_seconds for (w, c), t in self._started.items() if w == name and c
                 and (nodes.get(rules.node_id(name, f"{name}.{c}")) or {}).get("phase") not in FINISHED]
        return min(times) if times else time.monotonic() + 0.05


def _exit_code(message: str) -> int:
    marker = "(exit code "
    if marker not in message:
        return 0
    digits = message.split(marker, 1)[1].split(")", 1)[0]
    return int(digits) if digits.isdigit() else 0
