"""What a real Argo controller refuses or does differently, for the simulator (tests/argo_sim.py).

Each rule follows Argo Workflows' own code (read at v3.6.19, v3.7.18, v4.0.10 and v4.1.2 in
the argo-workflows mirror) and says where; where Argo is kinder than these rules, the rule is
stricter on purpose and says so. Nothing here imports the code under test: pod names and node
ids are computed from Argo's algorithm, not by translator.status.

- refusals at the first reconcile: fields unknown to the simulated version, names over 63
  characters, a mount path used twice in one container;
- the artifact repository: resolved at the start (a named one that does not exist errors the
  Workflow), and a step that must archive its log with nowhere to put it ends in Error;
- workspace claims: created from `volumeClaimTemplates`, deleted by `volumeClaimGC`;
- mutexes: `<namespace>/Mutex/<name>` keys, a step Pending until it holds all of its own;
- pod names and node ids (v2 pod names);
- running a container's command for real, with a real `sh`, in a scratch directory.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from tests.helpers import ARGO_VERSIONS, SHARED
from tests.kube_double.store import Resource, Store

POD_NAME_FORMAT = "workflows.argoproj.io/pod-name-format"  # workflow/common/common.go
WORKFLOW_LABEL = "workflows.argoproj.io/workflow"  # workflow/common/common.go LabelKeyWorkflow
PVCS = Resource("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim")
LOCATIONS = ("s3", "gcs", "oss", "azure", "artifactory", "hdfs", "http", "git", "raw")

# pkg/apis/workflow/v1alpha1/workflow_types.go ArtifactLocation.Get: the message changed in v4.0
NO_ARTIFACT_STORAGE = {
    "v3": "You need to configure artifact storage. More information on how to do this can be found in the docs: "
          "https://argo-workflows.readthedocs.io/en/latest/configure-artifact-repository/",
    "v4": "artifact storage is not configured; see the docs for setup instructions: "
          "https://argo-workflows.readthedocs.io/en/latest/configure-artifact-repository/",
}


# ---------------------------------------------------------------------- names


def fnv32a(text: str) -> int:
    """Go hash/fnv New32a: offset basis 2166136261, prime 16777619, xor then multiply, per byte."""
    h = 2166136261
    for b in text.encode():
        h = (h ^ b) * 16777619 % 2**32
    return h


def node_id(workflow: str, node_name: str) -> str:
    # pkg/apis/workflow/v1alpha1/workflow_types.go: Workflow.NodeID
    return workflow if node_name == workflow else f"{workflow}-{fnv32a(node_name)}"


def pod_name(workflow: str, node_name: str, template: str, nid: str, version: str = "v2") -> str:
    # workflow/util/pod_name.go: GeneratePodName (identical in v3.6 to v4.1)
    if version == "v1":
        return nid
    if workflow == node_name:
        return workflow
    prefix = f"{workflow}-{template}" if template else workflow
    prefix = prefix[: 253 - 10 - 1]  # ensurePodNamePrefixLength: maxPrefixLength - 1
    return f"{prefix}-{fnv32a(node_name)}"


# ---------------------------------------------------------------------- refusals


@lru_cache(maxsize=len(ARGO_VERSIONS))
def _definitions(version: str) -> dict[str, Any]:
    path = SHARED / "argo" / ("" if version == ARGO_VERSIONS[-1] else f"versions/{version}") / "workflow-schema.json"
    definitions: dict[str, Any] = json.loads(path.read_text())["definitions"]
    return definitions


def _unknown(value: Any, node: dict[str, Any], where: str, definitions: dict[str, Any]) -> str:
    """The path of the first key of `value` its schema `node` does not name, or ""."""
    if "$ref" in node:
        node = definitions[node["$ref"].rsplit("/", 1)[1]]
    if isinstance(value, dict) and "properties" in node:
        for key, child in value.items():
            if key not in node["properties"]:
                return f"{where}.{key}".lstrip(".")
            found = _unknown(child, node["properties"][key], f"{where}.{key}", definitions)
            if found:
                return found
    elif isinstance(value, dict) and isinstance(node.get("additionalProperties"), dict):
        for key, child in value.items():
            found = _unknown(child, node["additionalProperties"], f"{where}.{key}", definitions)
            if found:
                return found
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        for i, child in enumerate(value):
            found = _unknown(child, node["items"], f"{where}[{i}]", definitions)
            if found:
                return found
    return ""


def _unknown_fields(wf: dict[str, Any], version: str) -> str:
    """Stricter than Argo: its controller decodes with runtime.DefaultUnstructuredConverter
    (workflow/util/util.go FromUnstructured), which drops unknown fields silently, so a field a
    version does not know (say `synchronization.mutexes` on an older one) is simply not applied.
    Here it fails the Workflow, so the loss shows. Needs ../shared (each version's JSON schema);
    checks field names only (the tests check types and patterns with the full schemas)."""
    if not (SHARED / "argo").exists():
        return ""
    definitions = _definitions(version)
    root = {"$ref": "#/definitions/io.argoproj.workflow.v1alpha1.WorkflowSpec"}
    found = _unknown(wf.get("spec") or {}, root, "spec", definitions)
    return f'cannot unmarshall spec: unknown field "{found}"' if found else ""


def refusal(wf: dict[str, Any], version: str) -> str:
    """The message Argo fails a new Workflow with, or "" when it runs it."""
    # workflow/controller/controller.go processNextItem: "cannot unmarshall spec: ..." (see _unknown_fields)
    unknown = _unknown_fields(wf, version)
    if unknown:
        return unknown
    name = wf["metadata"]["name"]
    # workflow/validate/validate.go ValidateWorkflow (v3.x) / Workflow (v4.x): maxCharsInObjectName;
    # operator.go setExecWorkflow: markWorkflowFailed("invalid spec: ...")
    if len(name) > 63:
        return f'invalid spec: workflow name "{name}" must not be more than 63 characters long (currently {len(name)})'
    # workflow/validate/validate.go validateLeaf: one container, one volume per mountPath; a
    # containerSet's set-level mounts are added to each container (container_set_template_types.go
    # GetContainers), so each container is checked with them (stricter than ContainerSet.Validate)
    for tmpl in wf["spec"].get("templates") or []:
        shared = list((tmpl.get("containerSet") or {}).get("volumeMounts") or [])
        leaves = [("container", tmpl.get("container") or {})] + [
            (f"containerSet.containers[{j}]", c) for j, c in enumerate((tmpl.get("containerSet") or {}).get(
                "containers") or [])]
        for where, container in leaves:
            seen: dict[str, str] = {}
            for i, mount in enumerate([*(container.get("volumeMounts") or []), *(shared if where != "container"
                                                                                  else [])]):
                path = mount.get("mountPath", "")
                if path in seen:
                    return (f"invalid spec: templates.{tmpl['name']}.{where}.volumeMounts[{i}].mountPath "
                            f"'{path}' already mounted in {seen[path]}")
                seen[path] = f"container.volumeMounts.{mount.get('name', '')}"
    return ""


def simulated_version(version: str) -> str:
    if version not in ARGO_VERSIONS:
        raise ValueError(f"Argo {version} is not a supported version ({', '.join(ARGO_VERSIONS)})")
    return version


def mutex_keys(template: dict[str, Any], namespace: str, version: str) -> list[str]:
    """The mutexes a template holds while it runs: `mutexes`, and the singular `mutex` where the
    version still has it (v3.6, v3.7); workflow/sync/lock_name.go getMutexLockName."""
    sync = template.get("synchronization") or {}
    mutexes = list(sync.get("mutexes") or [])
    if sync.get("mutex") and version.startswith("v3"):
        mutexes.append(sync["mutex"])
    return [f"{m.get('namespace') or namespace}/Mutex/{m['name']}" for m in mutexes]


# ---------------------------------------------------------------------- artifact repository


def resolve_repository(store: Store, wf: dict[str, Any], *, controller_namespace: str,
                       default: dict[str, Any] | None) -> tuple[dict[str, Any] | None, str]:
    """(repository, error) as the controller resolves it at the start of a Workflow.
    workflow/artifactrepositories/artifactrepositories.go Resolve; operator.go operate:
    markWorkflowError("failed to resolve artifact repository: ...")."""
    ref = wf["spec"].get("artifactRepositoryRef")
    ns = wf["metadata"]["namespace"]
    if ref:
        places = [ns, controller_namespace]
    else:
        places = [ns]
    for place in places:
        cm = store.objects.get(("", "configmaps", place, (ref or {}).get("configMap") or "artifact-repositories"))
        if cm is None:
            continue  # IsNotFound: try the next
        key = (ref or {}).get("key") or (cm["metadata"].get("annotations") or {}).get(
            "workflows.argoproj.io/default-artifact-repository", "")
        if key not in (cm.get("data") or {}):
            continue  # "config map missing key": try the next
        return yaml.safe_load(cm["data"][key]) or {}, ""
    if ref:
        shown = f"{ref.get('configMap', '')}#{ref.get('key', '')}"  # ArtifactRepositoryRef.String
        return None, ("failed to resolve artifact repository: failed to find any artifact repository "
                      f'for artifact repository ref "{shown}"')
    return default, ""  # {Default: true}: the controller's configured repository, maybe none


def _has_location(location: dict[str, Any] | None) -> bool:
    # workflow_types.go ArtifactLocation.HasLocation; S3Artifact.HasLocation needs endpoint, bucket and key
    if not location:
        return False
    s3 = location.get("s3")
    if s3 is not None:
        return bool(s3.get("endpoint") and s3.get("bucket") and s3.get("key"))
    return any(location.get(k) for k in LOCATIONS)


def archive_logs_error(wf: dict[str, Any], template: dict[str, Any], repo: dict[str, Any] | None,
                       version: str) -> str:
    """Why the wait container cannot save the step's log, or "" when it can (or need not)."""
    location = template.get("archiveLocation") or {}
    if _has_location(location):
        return ""  # workflowpod.go addArchiveLocation: an explicit location is used as it is
    # workflowpod.go IsArchiveLogs: controller(on) > template > workflow > controller(off)
    archive = bool((repo or {}).get("archiveLogs"))
    if not archive:
        if wf["spec"].get("archiveLogs") is not None:
            archive = bool(wf["spec"]["archiveLogs"])
        if location.get("archiveLogs") is not None:
            archive = bool(location["archiveLogs"])
    if not archive:
        return ""
    if any((repo or {}).get(k) for k in LOCATIONS):
        return ""
    # executor.go SaveLogs -> saveArtifactFromFile -> ArchiveLocation.GetKey/Get fails; wait.go returns the
    # error, HandleError writes it as the termination message; operator.go inferFailedReason:
    # a failed wait container makes the node Error, "<reason> (exit code 1): <message>"
    return f"Error (exit code 1): {NO_ARTIFACT_STORAGE[version[:2]]}"


# ---------------------------------------------------------------------- workspace claims


def create_claims(store: Store, wf: dict[str, Any]) -> list[dict[str, Any]]:
    """operator.go createPVCs: one claim `<workflow>-<template name>` per volumeClaimTemplate,
    labelled with the Workflow and owned by it; the volumes recorded in status."""
    store.register(PVCS)
    name, ns = wf["metadata"]["name"], wf["metadata"]["namespace"]
    volumes = []
    for tmpl in wf["spec"].get("volumeClaimTemplates") or []:
        claim = f"{name}-{tmpl['metadata']['name']}"
        body = {"metadata": {"name": claim, "labels": {**(tmpl["metadata"].get("labels") or {}), WORKFLOW_LABEL: name},
                             "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
                                                  "name": name, "uid": wf["metadata"]["uid"], "controller": True}]},
                "spec": tmpl.get("spec") or {}}
        if ("", "persistentvolumeclaims", ns, claim) not in store.objects:
            store.create(PVCS, ns, body)
        volumes.append({"name": tmpl["metadata"]["name"], "persistentVolumeClaim": {"claimName": claim}})
    return volumes


def collect_claims(store: Store, wf: dict[str, Any], phase: str) -> list[dict[str, Any]]:
    """operator.go deletePVCs, when the Workflow ends: OnWorkflowSuccess (the default) keeps the
    claims of a run that did not succeed; OnWorkflowCompletion deletes them whatever the end.
    Returns the claims left in status."""
    claims = list((wf.get("status") or {}).get("persistentVolumeClaims") or [])
    strategy = (wf["spec"].get("volumeClaimGC") or {}).get("strategy") or "OnWorkflowSuccess"
    if strategy == "OnWorkflowSuccess" and phase != "Succeeded":
        return claims
    if strategy not in ("OnWorkflowSuccess", "OnWorkflowCompletion"):
        return claims  # "unknown volume gc strategy": logged, nothing deleted
    ns = wf["metadata"]["namespace"]
    for claim in claims:
        key = ("", "persistentvolumeclaims", ns, claim["persistentVolumeClaim"]["claimName"])
        if key in store.objects:
            store.delete(PVCS, ns, key[3])
    return []


# ---------------------------------------------------------------------- running a container


def config_maps_of(store: Store, wf: dict[str, Any]) -> dict[str, dict[str, str] | None]:
    """The data of each ConfigMap the Workflow's volumes and its templates' own name (None: it does not exist)."""
    ns = wf["metadata"]["namespace"]
    out: dict[str, dict[str, str] | None] = {}
    for volume in [*(wf["spec"].get("volumes") or []),
                   *(v for t in wf["spec"]["templates"] for v in t.get("volumes") or [])]:
        if "configMap" in volume:
            cm = store.objects.get(("", "configmaps", ns, volume["configMap"]["name"]))
            out[volume["configMap"]["name"]] = dict(cm.get("data") or {}) if cm is not None else None
    return out


def run_container(wf: dict[str, Any], template: dict[str, Any], config_maps: dict[str, dict[str, str] | None], *,
                  timeout: float = 60) -> tuple[int, str]:
    """Run the template's container command with this machine's shell, as the container would:
    the ConfigMap volumes written out with their mode, the other volumes as empty directories,
    every mount path (and the working directory) moved under a scratch directory, env values set.
    The script's own text is not rewritten: it runs exactly as written, by a real `sh`."""
    container = template["container"]
    # workflowpod.go getVolByName: the template's own volumes first, then the Workflow's
    volumes = {v["name"]: v for v in [*(wf["spec"].get("volumes") or []), *(template.get("volumes") or [])]}
    with tempfile.TemporaryDirectory(prefix="argo-sim-") as scratch:
        root = Path(scratch)
        mounts = [m["mountPath"] for m in container.get("volumeMounts") or []]
        for mount in container.get("volumeMounts") or []:
            target = root / mount["mountPath"].lstrip("/")
            target.mkdir(parents=True, exist_ok=True)
            source = (volumes.get(mount["name"]) or {}).get("configMap")
            if source is None:
                continue
            data = config_maps.get(source["name"])
            if data is None:  # kubelet: the pod never starts
                return 1, (f'MountVolume.SetUp failed for volume "{mount["name"]}" : '
                           f'configmap "{source["name"]}" not found')
            for key, text in data.items():
                (target / key).write_text(text)
                (target / key).chmod(source.get("defaultMode", 0o644) & (stat.S_IRWXU | stat.S_IRWXG | stat.S_IRWXO))

        def moved(path: str) -> str:
            inside = any(path == m or path.startswith(m.rstrip("/") + "/") for m in mounts)
            return str(root / path.lstrip("/")) if inside else path

        argv = [moved(a) for a in (container.get("command") or []) + (container.get("args") or [])]
        cwd = Path(moved(container.get("workingDir") or scratch))
        cwd.mkdir(parents=True, exist_ok=True)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": scratch}
        env.update({e["name"]: e["value"] for e in container.get("env") or [] if "value" in e})
        try:
            done = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            return 137, (exc.stdout or b"").decode(errors="replace") + "\n(killed: the simulator's time limit)\n"
        except OSError as exc:  # the runtime cannot start the command: kubelet's StartError, exit 128
            return 128, f"exec: {exc}\n"
        return done.returncode, done.stdout.decode(errors="replace")


# ---------------------------------------------------------------------- outputs


def output_parameters(template: dict[str, Any], node: dict[str, Any]) -> list[dict[str, Any]]:
    """The output parameters a finished pod reports. workflow/executor/executor.go
    SaveParameters reads each `valueFrom.path` from the main container's filesystem. The one
    file the compiler has a step write is its node's name (the downward API's spec.nodeName),
    so a path parameter here holds the node the pod ran on; any other kind is not modelled and
    refuses (stricter: an unmodelled output is an error, not an empty value)."""
    out = []
    for param in (template.get("outputs") or {}).get("parameters") or []:
        source = param.get("valueFrom") or {}
        if "path" not in source:
            raise NotImplementedError(f"output parameter {param['name']}: only valueFrom.path is modelled")
        out.append({"name": param["name"], "value": node.get("hostNodeName", ""), "valueFrom": source})
    return out
