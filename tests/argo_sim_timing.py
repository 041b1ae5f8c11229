"""A discrete-event model of where a compiled Workflow's time goes on a cluster: pod starts and
volume attachment. Pure (no threads, no clock): it reads the Workflow's own shape (a
containerSet's containers and their dependencies, or a DAG's tasks, `when`, affinity and
volumes) and returns when each step ran, so benchmarks/run_overhead.py can compare forms.

The model, each part from its source:
- every pod pays `pod_start` before its first container runs: scheduling, sandbox creation,
  image already present, Argo's `init` container (Kubernetes' pod-startup SLO: p99 <= 5 s for
  stateless pods, kubernetes/community sig-scalability/slos/pod_startup_latency.md); a
  containerSet is one pod however many containers (argo-workflows container_set_template.go);
- the scheduler spreads pods of no affinity over the nodes (kube-scheduler's default
  PodTopologySpread by hostname, ScheduleAnyway): modelled as round-robin; a required node
  affinity (a pinned step) goes to that node;
- a `ReadWriteOnce` claim on network block storage is attached to one node at a time
  (kubernetes pkg/controller/volume/attachdetach/reconciler: a volume whose access modes do not
  allow multi-attach is attached elsewhere only after it is detached; the pod's event is
  `Multi-Attach error for volume ... Volume is already exclusively attached to one node and
  can't be attached to another`); the detach waits for every pod using it on the old node to
  end; each attach costs `attach` seconds; with local storage (kind's local-path,
  WaitForFirstConsumer) every pod of the run is bound to the first pod's node instead;
- `emptyDir` and `hostPath` volumes cost nothing to attach.
The steps' own time is `step_seconds` each. Argo's controller latency is left out (the same in
every form).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Cluster:
    nodes: int = 10
    pod_start: float = 3.0
    attach: float = 20.0
    step_seconds: float = 30.0
    storage: str = "network"  # "network": RWO claims attach per node; "local": bound to the first node


@dataclass
class Timeline:
    end: float = 0.0  # the last step done, from the run's start
    work: float = 0.0  # the critical path of the steps' own time
    pods: int = 0
    attach_waits: int = 0  # pods that waited for an attach or a detach
    multi_attach: int = 0  # Multi-Attach events
    nodes: set[int] = field(default_factory=set)
    stages: int = 0

    @property
    def overhead(self) -> float:
        return self.end - self.work


def _entry(wf: dict[str, Any]) -> dict[str, Any]:
    return next(t for t in wf["spec"]["templates"] if t["name"] == wf["spec"]["entrypoint"])


def _levels(deps: dict[str, list[str]]) -> dict[str, int]:
    """Each task's depth (0: no dependencies): stages, as the compiler wrote them."""
    level: dict[str, int] = {}

    def depth(name: str) -> int:
        if name not in level:
            level[name] = 1 + max((depth(d) for d in deps[name]), default=-1)
        return level[name]

    for name in deps:
        depth(name)
    return level


def _rwo_claim(wf: dict[str, Any]) -> bool:
    return any("ReadWriteOnce" in (c.get("spec") or {}).get("accessModes", [])
               for c in wf["spec"].get("volumeClaimTemplates") or [])


def run(wf: dict[str, Any], cluster: Cluster) -> Timeline:
    """When the Workflow's steps run on `cluster`; see the module docstring for the model."""
    entry = _entry(wf)
    if "containerSet" in entry:
        deps = {c["name"]: list(c.get("dependencies") or []) for c in entry["containerSet"]["containers"]}
        stages = max(_levels(deps).values(), default=-1) + 1
        work = stages * cluster.step_seconds
        return Timeline(end=cluster.pod_start + work, work=work, pods=1, nodes={0}, stages=stages)
    tasks = {t["name"]: t for t in entry["dag"]["tasks"]}
    deps = {name: list(t.get("dependencies") or []) for name, t in tasks.items()}
    levels = _levels(deps)
    running = {n for n, t in tasks.items() if t.get("when") != "false"}
    run_levels = {levels[n] for n in running}
    timeline = Timeline(work=len(run_levels) * cluster.step_seconds, stages=len(run_levels))
    rwo = _rwo_claim(wf)
    attached: int | None = None  # the node the claim is attached to
    users: dict[int, float] = {}  # node -> when its last pod using the claim ends
    ends: dict[str, float] = {}
    node_of: dict[str, int] = {}
    rr = 0
    pending = set(tasks)
    while pending:
        ready = sorted((max((ends[d] for d in deps[n]), default=0.0), n) for n in pending
                       if all(d in ends for d in deps[n]))
        at, name = ready[0]
        pending.discard(name)
        if name not in running:
            ends[name] = at
            continue
        anchor = _pinned_to(tasks[name])
        if anchor is not None:
            node = node_of[anchor]
        elif rwo and cluster.storage == "local" and node_of:
            node = next(iter(node_of.values()))
        else:
            node, rr = rr % cluster.nodes, rr + 1
        start = at
        if rwo and cluster.storage == "network":
            if attached is None:
                start, timeline.attach_waits = at + cluster.attach, timeline.attach_waits + 1
            elif attached != node:
                timeline.multi_attach += 1
                timeline.attach_waits += 1
                start = max(at, users.get(attached, 0.0)) + cluster.attach
            attached = node
        end = start + cluster.pod_start + cluster.step_seconds
        users[node] = max(users.get(node, 0.0), end)
        ends[name] = end
        node_of[name] = node
        timeline.pods += 1
        timeline.nodes.add(node)
    timeline.end = max(ends.values(), default=0.0)
    return timeline


def _pinned_to(task: dict[str, Any]) -> str | None:
    """The task whose node this one takes (a `{{tasks.X.outputs.parameters.node}}` argument)."""
    for arg in (task.get("arguments") or {}).get("parameters") or []:
        value = str(arg.get("value", ""))
        if value.startswith("{{tasks.") and value.endswith(".outputs.parameters.node}}"):
            return value[len("{{tasks."):].split(".", 1)[0]
    return None
