"""The Pod Argo's controller makes for one container or containerSet template, as far as the trust
rules and the one-pod form need it: its service account, its token, its volumes and the
containers that mount them.

# argo-workflows v3.7 workflow/controller/workflowpod.go: createWorkflowPod, setupServiceAccount,
#   addVolumeReferences, addInitContainers
- the pod runs as the template's `serviceAccountName`, else the Workflow's;
- `automountServiceAccountToken: false` (template, else Workflow) is set on the pod;
- with an executor account (`executor.serviceAccountName`, template else Workflow) its token
  Secret (the account's first `secrets` entry, else its `workflows.argoproj.io/service-account-token.name`
  annotation, else `<account>.service-account-token`: util/secrets TokenNameForServiceAccount) is
  the volume `exec-sa-token`, mounted at /var/run/secrets/kubernetes.io/serviceaccount in the
  executor's own containers (`init`, `wait`) only (newExecContainer); an account that does not
  exist fails the node; no executor account with automount false is refused
  ("executor.serviceAccountName must not be empty if automountServiceAccountToken is false");
- the pod's volumes are Argo's own and the template's `volumes` (createVolumes), then every volume
  the template's mounts and its user init containers name, taken from the template's `volumes`,
  the Workflow's `volumes` or its `volumeClaimTemplates` (a missing one: "volume '<name>' not found
  in workflow spec"); the template's mounts are main's, or for a containerSet only the set's own
  `volumeMounts` (pkg/apis/workflow/v1alpha1 Template.GetVolumeMounts), which every container
  of the set also gets (ContainerSetTemplate.GetContainers);
- the template's `initContainers` run after Argo's `init`; containers are `wait` and `main`, or
  `wait` and the set's containers by their names.
"""

from __future__ import annotations

import copy
from typing import Any

EXECUTOR_IMAGE = "quay.io/argoproj/argoexec:v3.7.0"
TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
TOKEN_ANNOTATION = "workflows.argoproj.io/service-account-token.name"


def workflow_pod_spec(wf: dict[str, Any], template_name: str, namespace: str,
                      objects: dict[tuple[str, str, str, str], dict[str, Any]]) -> tuple[dict[str, Any], str]:
    """(pod spec, "") or ({}, the error Argo puts on the node)."""
    spec = wf["spec"]
    template = next(t for t in spec["templates"] if t["name"] == template_name)
    argo_dir = {"name": "var-run-argo", "mountPath": "/var/run/argo"}
    init = {"name": "init", "image": EXECUTOR_IMAGE, "volumeMounts": [dict(argo_dir)]}
    wait = {"name": "wait", "image": EXECUTOR_IMAGE, "volumeMounts": [dict(argo_dir)]}
    if "containerSet" in template:
        shared = copy.deepcopy(template["containerSet"].get("volumeMounts") or [])
        mains = [{**{k: copy.deepcopy(v) for k, v in c.items() if k != "dependencies"},
                  "volumeMounts": [*copy.deepcopy(c.get("volumeMounts") or []), *copy.deepcopy(shared)]}
                 for c in template["containerSet"]["containers"]]
        referenced = shared
    else:
        mains = [{**copy.deepcopy(template.get("container") or {"image": "x"}), "name": "main"}]
        referenced = list(mains[0].get("volumeMounts") or [])
    for main in mains:
        main.setdefault("volumeMounts", []).append(dict(argo_dir))
    user_init = copy.deepcopy(template.get("initContainers") or [])
    own = copy.deepcopy(template.get("volumes") or [])
    volumes: list[dict[str, Any]] = [{"name": "var-run-argo", "emptyDir": {}}, *own]
    known = {v["name"]: v for v in spec.get("volumes") or []}
    for claim in spec.get("volumeClaimTemplates") or []:
        name = claim["metadata"]["name"]
        known.setdefault(name, {"name": name, "persistentVolumeClaim": {
            "claimName": f"{name}-{wf['metadata']['name']}"}})
    known.update({v["name"]: v for v in own})  # getVolByName: the template's own first
    for mount in [*referenced, *(m for c in user_init for m in c.get("volumeMounts") or [])]:
        if any(v["name"] == mount["name"] for v in volumes):
            continue
        if mount["name"] not in known:
            return {}, f"volume '{mount['name']}' not found in workflow spec"
        volumes.append(copy.deepcopy(known[mount["name"]]))
    pod: dict[str, Any] = {"initContainers": [init, *user_init], "containers": [wait, *mains], "volumes": volumes}
    account = template.get("serviceAccountName") or spec.get("serviceAccountName") or ""
    if account:
        pod["serviceAccountName"] = account
    automount = template.get("automountServiceAccountToken", spec.get("automountServiceAccountToken"))
    if automount is False:
        pod["automountServiceAccountToken"] = False
    executor = ((template.get("executor") or spec.get("executor")) or {}).get("serviceAccountName", "")
    if executor:
        found = objects.get(("", "serviceaccounts", namespace, executor))
        if found is None:
            return {}, f'serviceaccounts "{executor}" not found'
        token = ((found.get("secrets") or [{}])[0].get("name")
                 or (found["metadata"].get("annotations") or {}).get(TOKEN_ANNOTATION)
                 or f"{executor}.service-account-token")
        volumes.append({"name": "exec-sa-token", "secret": {"secretName": token}})
        for container in (init, wait):
            container["volumeMounts"].append({"name": "exec-sa-token", "mountPath": TOKEN_PATH, "readOnly": True})
    elif automount is False:
        return {}, "executor.serviceAccountName must not be empty if automountServiceAccountToken is false"
    return pod, ""
