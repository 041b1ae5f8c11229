"""What the Jenkins double knows of a job's script: the Groovy calls it makes, the agent pod the
kubernetes plugin would start for it, and what each `sh` / `writeFile` needs of that pod's
filesystems. A model of the real plugins, each rule citing the source it follows.

The parser reads the subset of Groovy a scripted pipeline of calls and closures is written in:
`name(args) { body }`, named and positional arguments, single-quoted string literals (and their
`+` concatenation), numbers, identifiers and `'key': { closure }` map entries. Anything else is a
compilation error, as in a real Jenkins (the build fails before any stage starts).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

AGENT = "jnlp"  # kubernetes-plugin KubernetesCloud.JNLP_NAME
AGENT_WORKDIR = "/home/jenkins/agent"  # kubernetes-plugin ContainerTemplate.DEFAULT_WORKING_DIR
AGENT_IMAGE_USER = 1000  # jenkins/inbound-agent's Dockerfile: USER jenkins (uid 1000)


class ScriptError(Exception):
    """The script does not compile (workflow-cps CpsFlowExecution.start: MultipleCompilationErrorsException)."""


@dataclass
class Call:
    name: str
    args: list[tuple[str | None, Any]] = field(default_factory=list)
    body: list[Call] | None = None

    def arg(self, key: str | None, index: int = 0) -> Any:
        positional = [v for k, v in self.args if k is None]
        for k, v in self.args:
            if k == key:
                return v
        return positional[index] if key is None and len(positional) > index else None


@dataclass
class Closure:
    body: list[Call]


_TOKEN = re.compile(r"""
    (?P<ws>\s+|//[^\n]*)
  | (?P<str>'(?:[^'\\\n]|\\.)*')
  | (?P<num>\d+)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_.]*)
  | (?P<punct>[(){}\[\],:+])
""", re.VERBOSE)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", "'": "'", "$": "$", "b": "\b", "f": "\f", '"': '"'}


def _unquote(literal: str) -> str:
    out, i, body = [], 0, literal[1:-1]
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = body[i + 1]
        if nxt == "u":
            out.append(chr(int(body[i + 2:i + 6], 16)))
            i += 6
        elif nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        else:
            raise ScriptError(f"unexpected escape \\{nxt}")
    return "".join(out)


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            line = text.count("\n", 0, pos) + 1
            raise ScriptError(f"WorkflowScript: {line}: unexpected token: {text[pos:pos + 20]!r}")
        pos = m.end()
        kind = m.lastgroup or ""
        if kind != "ws":
            out.append((kind, m.group()))
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0

    def peek(self, value: str | None = None) -> bool:
        return self.i < len(self.toks) and (value is None or self.toks[self.i][1] == value)

    def take(self, value: str | None = None) -> tuple[str, str]:
        if self.i >= len(self.toks) or (value is not None and self.toks[self.i][1] != value):
            got = self.toks[self.i][1] if self.i < len(self.toks) else "end of script"
            raise ScriptError(f"WorkflowScript: expecting {value or 'more'}, found {got!r}")
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def calls(self, until: str | None) -> list[Call]:
        out = []
        while self.peek() and not self.peek(until or "\0"):
            out.append(self.call())
        return out

    def call(self) -> Call:
        kind, name = self.take()
        if kind != "ident":
            raise ScriptError(f"WorkflowScript: unexpected {name!r}")
        call = Call(name)
        if self.peek("("):
            self.take("(")
            while not self.peek(")"):
                call.args.append(self.argument())
                if self.peek(","):
                    self.take(",")
            self.take(")")
        if self.peek("{"):
            self.take("{")
            call.body = self.calls("}")
            self.take("}")
        return call

    def argument(self) -> tuple[str | None, Any]:
        kind, value = self.toks[self.i]
        nxt = self.toks[self.i + 1][1] if self.i + 1 < len(self.toks) else ""
        if kind in ("ident", "str") and nxt == ":":
            self.i += 2
            return (value if kind == "ident" else _unquote(value)), self.value()
        return None, self.value()

    def value(self) -> Any:
        kind, tok = self.take()
        if kind == "str":
            text = _unquote(tok)
            while self.peek("+"):
                self.take("+")
                more = self.value()
                if not isinstance(more, str):
                    raise ScriptError("WorkflowScript: + of a string and a non-string")
                text += more
            return text
        if kind == "num":
            return int(tok)
        if kind == "ident":
            return tok
        if tok == "(":
            inner = self.value()
            self.take(")")
            return inner
        if tok == "{":
            body = self.calls("}")
            self.take("}")
            return Closure(body)
        raise ScriptError(f"WorkflowScript: unexpected {tok!r}")


def parse(script: str) -> list[Call]:
    parser = _Parser(script)
    calls = parser.calls(None)
    if parser.peek():
        raise ScriptError("WorkflowScript: unexpected text after the last call")
    return calls


# ---------------------------------------------------------------------- the stages a build runs


@dataclass
class Stage:
    name: str
    leaf: bool  # holds no nested stage: it runs steps (sh, writeFile, echo)
    skipped: bool = False  # Utils.markStageSkippedForConditional(name) inside
    container: str = ""
    directory: str = ""  # the `dir` around the `sh` ('' = the node's workspace)
    script: str | None = None
    files: list[tuple[str, str]] = field(default_factory=list)  # (path, text) written by writeFile
    children: list[str] = field(default_factory=list)  # names of the nested stages (for an outer one)


@dataclass
class JobModel:
    stages: list[Stage]
    pod_yaml: str = ""
    label: str = ""
    namespace: str = ""  # podTemplate(namespace:)
    timestamps: bool = False  # a `timestamps {}` step (timestamper TimestamperStep)


def _join(base: str, path: str) -> str:
    return path if path.startswith("/") else f"{base.rstrip('/')}/{path}"


def model(script: str) -> JobModel:
    job = JobModel(stages=[])

    def walk(calls: list[Call], ctx: dict[str, Any], owner: Stage | None) -> None:
        for call in calls:
            name = call.name.rsplit(".", 1)[-1]
            if name == "podTemplate":
                job.pod_yaml, job.label = call.arg("yaml") or "", call.arg("label") or ""
                job.namespace = call.arg("namespace") or ""
            if name == "timestamps":
                job.timestamps = True
            if name == "markStageSkippedForConditional":
                found = next((s for s in job.stages if s.name == call.arg(None)), None)
                if found is not None:
                    found.skipped = True
            inner = dict(ctx)
            if name == "container":
                inner["container"] = call.arg(None) or call.arg("name")
            if name == "dir":
                inner["dir"] = _join(ctx.get("dir", ""), str(call.arg(None) or call.arg("path")))
            if name == "writeFile" and owner is not None:
                owner.files.append((_join(ctx.get("dir", ""), str(call.arg("file"))), str(call.arg("text"))))
            if name == "sh" and owner is not None:
                owner.script = str(call.arg("script") if call.arg("script") is not None else call.arg(None))
                owner.container, owner.directory = ctx.get("container", ""), ctx.get("dir", "")
            target = owner
            if name == "stage":
                stage = Stage(name=str(call.arg(None) or call.arg("name")), leaf=True)
                job.stages.append(stage)
                if owner is not None:
                    owner.leaf = False
                    owner.children.append(stage.name)
                target = stage
            walk(call.body or [], inner, target)
            for _key, value in call.args:
                if isinstance(value, Closure):
                    walk(value.body, inner, target)

    walk(parse(script), {}, None)
    return job


# ---------------------------------------------------------------------- the agent pod


def sanitize_label(label: str) -> str:
    """kubernetes-plugin PodTemplateUtils.sanitizeLabel: the last 57 characters, made label-safe."""
    value = label[-(63 - 1 - 5):] if len(label) > 63 - 1 - 5 else label
    value = re.sub(r"[^_a-zA-Z0-9-]", "_", value)
    value = re.sub(r"^[^a-zA-Z0-9]", "x", value)
    return re.sub(r"[^a-zA-Z0-9]$", "x", value)


def agent_pod(job: JobModel, *, cloud_namespace: str, pod_name: str) -> dict[str, Any]:
    """The pod kubernetes-plugin starts for the job (PodTemplateBuilder.build): the YAML's pod,
    `jenkins/label` overwritten by the template's sanitised label (PodTemplate.recomputeLabelDerivedFields),
    the namespace from the YAML, else `podTemplate(namespace:)`, else the cloud's, and a default `jnlp`
    container (with none of the YAML's mounts) when the YAML declares none."""
    pod = yaml.safe_load(job.pod_yaml) if job.pod_yaml else {}
    pod = pod or {}
    meta = pod.setdefault("metadata", {})
    meta["name"] = pod_name
    meta["labels"] = {**(meta.get("labels") or {}), "jenkins/label": sanitize_label(job.label),
                      "jenkins/label-digest": "0" * 40}
    meta["namespace"] = meta.get("namespace") or job.namespace or cloud_namespace
    spec = pod.setdefault("spec", {})
    containers = spec.setdefault("containers", [])
    if not any(c.get("name") == AGENT for c in containers):
        containers.append({"name": AGENT, "workingDir": AGENT_WORKDIR,
                           "volumeMounts": [{"name": "workspace-volume", "mountPath": AGENT_WORKDIR}]})
        spec.setdefault("volumes", []).append({"name": "workspace-volume", "emptyDir": {}})
    for c in containers:
        if c["name"] == AGENT:
            c.setdefault("image", "jenkins/inbound-agent")  # PodTemplateBuilder.DEFAULT_AGENT_IMAGE
    return pod


def _mount_of(container: dict[str, Any], path: str) -> tuple[str, str] | None:
    """(volume, mountPath) of the deepest mount holding `path` in `container`, if any."""
    best = None
    for m in container.get("volumeMounts") or []:
        root = m["mountPath"].rstrip("/") or "/"
        if (path == root or path.startswith(root + "/")) and (best is None or len(root) > len(best[1])):
            best = (m["name"], root)
    return best


def _uid(container: dict[str, Any], pod: dict[str, Any], default: int) -> int:
    for ctx in (container.get("securityContext") or {}, pod.get("spec", {}).get("securityContext") or {}):
        if ctx.get("runAsUser") is not None:
            return int(ctx["runAsUser"])
    return default


def filesystem_error(job: JobModel, stage: Stage, *, job_name: str) -> str:
    """Why the stage's `writeFile` / `sh` cannot work in the agent pod ('' when they can).

    The agent (in `jnlp`) writes durable-task's control directory `<workspace>@tmp/durable-*` and the
    script in it (durable-task FileMonitoringTask.FileMonitoringController: WorkspaceList.tempDir;
    BourneShellScript writes script.sh there), and every `writeFile`, through its own filesystem; the
    step's container must see the same files (the same volume at the same path) and write its log and
    exit code into that directory. An agent path outside the agent's mounts is the image's filesystem,
    whose directories belong to root (the agent runs as uid 1000)."""
    pod = agent_pod(job, cloud_namespace="jenkins", pod_name="x")
    containers = {c["name"]: c for c in pod["spec"]["containers"]}
    agent = containers[AGENT]
    agent_uid = _uid(agent, pod, AGENT_IMAGE_USER)
    step = containers.get(stage.container)
    if stage.container and step is None:
        return f"container {stage.container!r} does not exist in the pod"  # kubernetes-plugin ContainerStepExecution

    def shared(path: str, what: str) -> str:
        on_agent = _mount_of(agent, path)
        if on_agent is None:
            return "" if agent_uid == 0 else f"java.nio.file.AccessDeniedException: {path} ({what})"
        if step is not None and _mount_of(step, path) != on_agent:
            return f"{what} {path} is not visible in container {stage.container!r}"
        return ""

    for path, _text in stage.files:
        if error := shared(path, "writeFile"):
            return error
    if stage.script is None:
        return ""
    workspace = stage.directory or f"{AGENT_WORKDIR}/workspace/{job_name}"
    control = f"{workspace}@tmp/durable-0a1b2c3d"
    for path, what in ((workspace, "workspace"), (control, "durable-task control directory")):
        if error := shared(path, what):
            return error
    step_uid = _uid(step, pod, 0) if step is not None else agent_uid
    if step_uid not in (0, agent_uid):  # the control directory is the agent's, mode 0755
        return f"process apparently never started in {control}"  # durable-task BourneShellScript.ShellController
    return ""
