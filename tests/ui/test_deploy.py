"""`translator ui` on the command line, sessions closing when idle, and the chart's UI objects."""

from __future__ import annotations

import logging
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from kubernetes import client

from tests.tools.get_helm import fetch
from translator.cli import main
from translator.ui.auth import Session, Sessions

CHART = Path(__file__).resolve().parents[2] / "charts" / "translator"


def _render(*args: str) -> list[dict[str, Any]]:
    out = subprocess.run([str(fetch()), "template", "t", str(CHART), "--namespace", "translator-system", *args],
                         check=True, capture_output=True, text=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def test_the_ui_command_is_registered_and_refuses_bad_settings_clearly(tmp_path: Path) -> None:
    runner = CliRunner()
    assert "Serve the web UI" in runner.invoke(main, ["ui", "--help"]).output
    short = tmp_path / "secret"
    short.write_text("tiny")
    result = runner.invoke(main, ["ui", "--api-server", "https://kube:6443", "--secret-file", str(short)])
    assert result.exit_code == 1 and "at least 16 bytes" in result.output
    result = runner.invoke(main, ["ui", "--api-server", "https://kube:6443", "--ca-file", str(tmp_path / "none")])
    assert result.exit_code == 1 and "no such CA file" in result.output
    result = runner.invoke(main, ["ui", "--api-server", "https://kube:6443", "--jenkins-url", "jenkins.team.svc"])
    assert result.exit_code == 1 and "--jenkins-url 'jenkins.team.svc': not an http:// or https:// URL" in result.output
    result = runner.invoke(main, ["ui", "--kubeconfig", str(tmp_path / "missing")])
    assert result.exit_code == 1 and "cannot find the API server" in result.output
    assert "Traceback" not in result.output


def test_the_ui_command_hands_its_links_to_the_app(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    served: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **_kw: served.append(app))
    root = logging.getLogger()  # the command sets up JSON logging on the root logger: put it back after
    monkeypatch.setattr(root, "handlers", list(root.handlers))
    monkeypatch.setattr(root, "level", root.level)
    result = CliRunner().invoke(main, ["ui", "--api-server", "https://kube:6443", "--argo-url",
                                       "https://argo.example.com", "--jenkins-url",
                                       "https://jenkins-{namespace}.example.com"])
    assert result.exit_code == 0, result.output
    config = served[0].state.ui.config
    assert (config.argo_url, config.jenkins_url) == ("https://argo.example.com",
                                                     "https://jenkins-{namespace}.example.com")
    monkeypatch.setenv("TRANSLATOR_UI_JENKINS_URL", "http://127.0.0.1:8080")  # the chart could set it so too
    assert CliRunner().invoke(main, ["ui", "--api-server", "https://kube:6443"]).exit_code == 0
    assert served[1].state.ui.config.jenkins_url == "http://127.0.0.1:8080"


def test_idle_sessions_are_closed_with_their_watches_but_not_while_a_page_is_live() -> None:
    closed: list[str] = []

    class Watches:
        def __init__(self, name: str) -> None:
            self.name = name

        def stop(self) -> None:
            closed.append(self.name)

    sessions = Sessions(client.Configuration(host="http://127.0.0.1:1"), idle_seconds=0.05)
    for name in ("idle", "live"):
        s = Session(key=name, user=name, groups=(), kube=None)  # type: ignore[arg-type]
        s.watches = Watches(name)
        sessions._sessions[name] = s
    time.sleep(0.1)
    assert sessions.sweep(busy=lambda s: s.user == "live") == 1
    assert closed == ["idle"] and len(sessions) == 1
    sessions.close_all()
    assert closed == ["idle", "live"] and len(sessions) == 0


def test_the_chart_makes_no_ui_by_default_and_its_user_roles_cover_what_the_ui_does() -> None:
    objects = _render()
    assert not any(o["metadata"]["name"].endswith("-ui") for o in objects)
    roles = {o["metadata"]["name"]: o for o in objects if o["kind"] == "ClusterRole"}

    def grants(role: str, verb: str, resource: str) -> bool:
        return any(verb in r["verbs"] and resource in r["resources"] for r in roles[role]["rules"])

    for resource in ("pipelines", "pipelineexecutions", "pipelinesettings"):  # the pages and their watches
        assert grants("t-translator-view", "list", resource) and grants("t-translator-view", "watch", resource)
    assert grants("t-translator-edit", "create", "pipelineexecutions")  # Run, Rerun
    assert grants("t-translator-edit", "patch", "pipelineexecutions")  # Stop
    assert grants("t-translator-edit", "update", "pipelines")  # the editor's Save


def test_the_ui_deployment_holds_no_credentials_and_is_reachable_through_its_service() -> None:
    objects = _render("--set", "ui.enabled=true", "--set", "ui.argoUrl=https://argo.example.com",
                      "--set", "ui.externalUrl=https://ci.example.com",
                      "--set", "ui.jenkinsUrl=https://jenkins-{namespace}.example.com")
    deployment = next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "t-translator-ui")
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["automountServiceAccountToken"] is False and container["securityContext"]["readOnlyRootFilesystem"]
    assert container["args"][:2] == ["ui", "--host=0.0.0.0"]
    assert "--argo-url=https://argo.example.com" in container["args"]
    assert "--jenkins-url=https://jenkins-{namespace}.example.com" in container["args"]
    assert {v["name"] for v in pod["volumes"]} == {"ca", "secret", "tmp"}
    assert next(v for v in pod["volumes"] if v["name"] == "ca")["configMap"]["name"] == "kube-root-ca.crt"
    service = next(o for o in objects if o["kind"] == "Service" and o["metadata"]["name"] == "t-translator-ui")
    assert service["spec"]["ports"][0]["port"] == 8090
    assert service["spec"]["selector"]["app.kubernetes.io/component"] == "ui"
    controller = next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"].endswith("-controller"))
    env = {e["name"]: e.get("value") for e in controller["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["TRANSLATOR_UI_URL"] == "https://ci.example.com"  # commit statuses link to run pages there
