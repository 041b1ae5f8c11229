"""The Helm chart, rendered by helm itself (`make chart` lints it and validates every object with
kubernetes-validate --strict); here: what the rendered objects must say."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml
from click.testing import CliRunner

from tests.controller.harness import System
from tests.kube_double.server import KubeDouble
from tests.tools.get_helm import fetch
from translator.cli import main
from translator.controller import runs

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "charts" / "translator"


def _render(*args: str) -> list[dict[str, Any]]:
    helm = fetch()
    out = subprocess.run([str(helm), "template", "t", str(CHART), "--namespace", "translator-system", *args],
                         check=True, capture_output=True, text=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def _one(objects: list[dict[str, Any]], kind: str, suffix: str) -> dict[str, Any]:
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"].endswith(suffix))


def test_chart_crds_are_the_generated_ones() -> None:
    generated = sorted(p.name for p in (ROOT / "crds").glob("*.yaml"))
    assert generated == sorted(p.name for p in (CHART / "crds").glob("*.yaml"))
    for name in generated:
        assert (CHART / "crds" / name).read_text() == (ROOT / "crds" / name).read_text(), name


def test_controller_deployment_is_locked_down() -> None:
    objects = _render()
    deployment = _one(objects, "Deployment", "-controller")
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["resources"]["requests"]["cpu"] and container["resources"]["requests"]["memory"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert "--default-engine=argo" in container["args"] and "--leader-elect" in container["args"]
    assert {p["name"] for p in _one(objects, "Service", "-translator")["spec"]["ports"]} == {"metrics", "webhook"}
    assert not any(o["kind"] == "Deployment" and "minio" in o["metadata"]["name"] for o in objects)


def test_rbac_is_least_privilege() -> None:
    objects = _render("-f", str(CHART / "ci" / "full-values.yaml"))
    bindings = [o for o in objects if o["kind"] in ("ClusterRoleBinding", "RoleBinding")]
    assert all(b["roleRef"]["name"] not in ("cluster-admin", "admin", "edit") for b in bindings)
    for role in (o for o in objects if o["kind"] in ("ClusterRole", "Role")):
        for rule in role["rules"]:
            assert "*" not in rule["verbs"] and "*" not in rule["resources"] and "*" not in rule["apiGroups"], rule
            if "bind" in rule["verbs"] or "escalate" in rule["verbs"]:
                assert rule.get("resourceNames") == ["edit"], rule
    controller = _one(objects, "ClusterRole", "-controller")
    secrets = next(r for r in controller["rules"] if r["resources"] == ["secrets"])
    assert sorted(secrets["verbs"]) == ["create", "get", "update"]  # never list or watch every Secret


def test_non_default_values_reach_the_objects() -> None:
    objects = _render("-f", str(CHART / "ci" / "full-values.yaml"))
    deployment = _one(objects, "Deployment", "-controller")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert deployment["spec"]["replicas"] == 2
    assert container["image"] == "registry.example.com/ci/translator:2026.11"
    assert {"--default-engine=jenkins", "--namespace=team-a", "--namespace=team-b", "--webhook-port=9443",
            "--lease-name=translator-ha"} <= set(container["args"])
    minio = _one(objects, "Deployment", "-minio")
    assert minio["spec"]["template"]["spec"]["containers"][0]["args"][:2] == ["server", "/data"]
    registry_svc = _one(objects, "Service", "-registry")
    assert registry_svc["spec"]["type"] == "NodePort" and registry_svc["spec"]["ports"][0]["nodePort"] == 31500
    tls = _one(objects, "Secret", "-registry-tls")
    assert tls["type"] == "kubernetes.io/tls" and tls["data"]["tls.crt"]
    agent = _one(objects, "DaemonSet", "-cache-agent")
    args = agent["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--host-root=/mnt/ci-cache" in args and "--max-bytes=107374182400" in args
    assert agent["spec"]["template"]["spec"]["volumes"][0]["hostPath"]["path"] == "/mnt/ci-cache"


def test_every_value_is_documented_in_the_chart_readme() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    readme = (CHART / "README.md").read_text()

    def keys(node: Any, prefix: str = "") -> list[str]:
        if isinstance(node, dict) and node:
            return [k for key, value in node.items() for k in keys(value, f"{prefix}{key}.")]
        return [prefix.rstrip(".")]

    def documented(key: str) -> bool:  # the key, or an enclosing one (`controller.resources`)
        parts = key.split(".")
        return any(f"`{'.'.join(parts[:i])}`" in readme for i in range(len(parts), 0, -1))

    missing = [k for k in keys(values) if not documented(k)]
    assert not missing, f"undocumented values: {missing}"


@pytest.mark.parametrize("values", [None, "full-values.yaml"])
def test_helm_lint_strict(values: str | None) -> None:
    args = [str(fetch()), "lint", "--strict", str(CHART)]
    if values:
        args += ["-f", str(CHART / "ci" / values)]
    result = subprocess.run(args, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------------------- RBAC against what the code does

AGGREGATE = "rbac.authorization.k8s.io/aggregate-to-"
KINDS = {"pipelines", "pipelineexecutions", "pipelinesettings", "sourcecodeproviderconfigs", "sourcecodecredentials",
         "sourcecoderepositories", "cacheinventories"}


def _request(method: str, path: str) -> tuple[str, str, str]:
    """(verb, apiGroup, resource[/subresource]) of one API request, as the authorizer sees it."""
    url = urlparse(path)
    parts = url.path.strip("/").split("/")
    group, rest = ("", parts[2:]) if parts[0] == "api" else (parts[1], parts[3:])
    if rest[:1] == ["namespaces"] and len(rest) > 2:
        rest = rest[2:]
    resource = "/".join([rest[0], *rest[2:3]])
    named = len(rest) > 1
    verb = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(
        method, "get" if named else ("watch" if "watch=" in url.query else "list"))
    return verb, group, resource


def _allows(rules: list[dict[str, Any]], verb: str, group: str, resource: str) -> bool:
    return any(group in r["apiGroups"] and resource in r["resources"] and verb in r["verbs"] for r in rules)


def _user_roles() -> dict[str, list[dict[str, Any]]]:
    """Rules of the chart's ClusterRoles by the Kubernetes role they are aggregated into."""
    roles: dict[str, list[dict[str, Any]]] = {"view": [], "edit": [], "admin": []}
    for role in _render():
        for key, value in (role["metadata"].get("labels") or {}).items():
            if role["kind"] == "ClusterRole" and key.startswith(AGGREGATE) and value == "true":
                roles[key.removeprefix(AGGREGATE)] += role["rules"]
    return roles


def test_aggregated_roles_give_namespace_users_the_seven_kinds() -> None:
    roles = _user_roles()
    assert all(_allows(roles["view"], verb, "devops.cubepaas.io", kind)
               for kind in KINDS for verb in ("get", "list", "watch"))
    for rules in roles.values():  # status is the controller's and the cache agent's to write
        for rule in rules:
            assert all(r in KINDS or (r.endswith("/status") and rule["verbs"] == ["get"]) for r in rule["resources"])
    assert not _allows(roles["edit"], "create", "devops.cubepaas.io", "pipelinesettings")
    assert _allows(roles["admin"], "create", "devops.cubepaas.io", "pipelinesettings")


def test_a_namespace_editor_may_run_rerun_and_stop() -> None:
    """The requests `translator run`, `rerun` and `stop` make are exactly what Kubernetes' `edit`
    role (which includes `view`) holds once the chart's roles are aggregated into it."""
    roles = _user_roles()
    editor = roles["view"] + roles["edit"]
    with KubeDouble() as double:
        system = System(double)
        try:
            system.apply_pipeline("web")
            double.log_requests = True
            args = ["--kubeconfig", double.kubeconfig, "-n", "team"]
            first = CliRunner().invoke(main, ["run", "web", *args]).output.split()[0].split("/")[1]
            assert CliRunner().invoke(main, ["rerun", first, *args]).exit_code == 0
            assert CliRunner().invoke(main, ["stop", first, *args]).exit_code == 0
            needed = {_request(m, p) for m, p in double.request_log}
        finally:
            system.close()
    g = "devops.cubepaas.io"
    assert needed == {("get", g, "pipelines"), ("get", g, "pipelineexecutions"), ("create", g, "pipelineexecutions"),
                      ("patch", g, "pipelineexecutions")}
    assert all(_allows(editor, *request) for request in needed)
    assert not any(_allows(roles["view"], *request) for request in needed if request[0] != "get")


def test_the_controller_may_block_the_deletion_of_every_owner_it_names() -> None:
    """OwnerReferencesPermissionEnforcement: setting `blockOwnerDeletion` on a reference needs
    `update` on the owner's `finalizers` subresource. Every such reference the controller writes
    in a run (through the API double) is covered by the chart's controller ClusterRole."""
    with KubeDouble() as double:
        system = System(double)
        system.start_controller()
        try:
            system.apply_pipeline("web")
            runs.create_run(system.kube, "team", "web")
            system.wait_state("web-1", "Success")
            with double.store.lock:
                blocking = {(ref["apiVersion"], ref["kind"]) for (_, plural, _, _), obj in double.store.objects.items()
                            if plural != "pods"  # Argo's controller makes the pods, under its own RBAC
                            for ref in obj["metadata"].get("ownerReferences") or [] if ref.get("blockOwnerDeletion")}
                owners = {(api_version.split("/")[0], next(r.plural for r in double.store.resources.values()
                                                           if r.kind == kind and r.api_version == api_version))
                          for api_version, kind in blocking}
        finally:
            system.close()
    assert owners == {("devops.cubepaas.io", "pipelineexecutions")}  # the Workflow's and its ConfigMap's owner
    controller = _one(_render(), "ClusterRole", "-controller")["rules"]
    for group, plural in owners:
        assert _allows(controller, "update", group, f"{plural}/finalizers"), plural
