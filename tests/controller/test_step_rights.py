"""What pipeline steps may touch (finding 26, docs/engines.md "What pipeline steps may touch"):
`kubectl apply` with no namespace lands in the step's own namespace, where its account now has
`edit`; `applyAppConfig`'s helm asks for a namespace create only when the account may make one
(helm's install sends that create whenever --create-namespace is given, and RBAC refuses it)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from kubernetes import client

from tests.controller.harness import System, wait_for
from tests.kube_double.server import KubeDouble
from translator.compiler.scripts import APPLY_APP


def test_the_step_account_may_edit_its_own_namespace_and_the_projects(system: System) -> None:
    rbac = system.kube.rbac
    binding = wait_for(lambda: rbac.read_namespaced_role_binding("translator-deploy-team-pipeline", "team"),
                       what="the edit binding in the pipeline namespace")
    assert binding.role_ref.kind == "ClusterRole" and binding.role_ref.name == "edit"
    assert [(s.kind, s.name, s.namespace) for s in binding.subjects] == [("ServiceAccount", "pipeline", "team")]


def test_a_binding_to_someone_else_is_made_again_for_the_account() -> None:
    with KubeDouble() as kube:
        kube.create_namespace("app", {"devops.cubepaas.io/project": "team"})
        system = System(kube)
        rbac = system.kube.rbac
        rbac.create_namespaced_role_binding("app", {
            "metadata": {"name": "translator-deploy-team-pipeline"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
            "subjects": [{"kind": "ServiceAccount", "name": "pipeline", "namespace": "elsewhere"}]})
        try:
            system.start_controller()

            def rebound() -> bool:
                try:
                    found = rbac.read_namespaced_role_binding("translator-deploy-team-pipeline", "app")
                except client.ApiException:
                    return False
                return bool(found.subjects[0].namespace == "team")

            wait_for(rebound, what="the binding to name the pipeline's account")
        finally:
            system.close()


def _run_apply_app(tmp_path: Path, *, may_create_namespaces: bool) -> list[str]:
    """APPLY_APP under /bin/sh with stand-ins for kubectl and helm that record what they were asked."""
    calls = tmp_path / "calls"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "kubectl").write_text(
        f'#!/bin/sh\necho "kubectl $*" >> {calls}\n'
        f'[ "$1 $2" = "auth can-i" ] && {{ {"echo yes; exit 0" if may_create_namespaces else "echo no; exit 1"}; }}\n'
        "exit 0\n")
    (bin_dir / "helm").write_text(f'#!/bin/sh\necho "helm $*" >> {calls}\n')
    for tool in ("kubectl", "helm"):
        (bin_dir / tool).chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "HELM_CATALOG": "library", "HELM_CHART": "mysql",
           "HELM_REPO_URL": "https://charts.example.com", "HELM_VERSION": "1.0.0", "HELM_RELEASE": "db",
           "HELM_NAMESPACE": "app", "HELM_VALUES_FILE": "values.yaml", "TRANSLATOR_FILES": str(tmp_path)}
    result = subprocess.run(["/bin/sh", "-c", APPLY_APP], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return calls.read_text().splitlines()


def test_apply_app_asks_for_no_namespace_create_it_may_not_make(tmp_path: Path) -> None:
    calls = _run_apply_app(tmp_path, may_create_namespaces=False)
    install = next(c for c in calls if c.startswith("helm upgrade --install"))
    assert "--create-namespace" not in install and "--namespace app" in install
    assert "kubectl auth can-i create namespaces" in calls


def test_apply_app_creates_the_namespace_when_the_account_may(tmp_path: Path) -> None:
    calls = _run_apply_app(tmp_path, may_create_namespaces=True)
    install = next(c for c in calls if c.startswith("helm upgrade --install"))
    assert "--create-namespace" in install
