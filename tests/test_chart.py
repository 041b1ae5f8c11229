"""The Helm chart, rendered by helm itself (`make chart` lints it and validates every object with
kubernetes-validate --strict); here: what the rendered objects must say."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.tools.get_helm import fetch

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
