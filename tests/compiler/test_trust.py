"""The trust rules in the compiled output of both engines (docs/security.md): what a
pull_request run's pods get, which of its steps are skipped and why, and its cache copies.
Argo's side is checked in each form a run takes (compiler/forms.py): the one pod (the default),
pinned pod-per-step, and pod-per-step on a shared claim."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.compiler.views import containers, dependencies, init_containers, is_one_pod, volumes
from tests.helpers import argo_schema_errors
from translator.api.setting_types import PipelineSettingSpec
from translator.compiler.compile import compile_text
from translator.compiler.context import ExecutionContext
from translator.compiler.plan import Plan
from translator.compiler.trust_scripts import SEED_CACHE

PIPELINE = """
stages:
- name: Test
  cache: {paths: [node_modules]}
  steps:
  - runScriptConfig: {image: node:20, shellScript: npm test}
    envFrom: [{sourceName: npm-token, sourceKey: token, targetKey: NPM_TOKEN}]
  - runScriptConfig: {image: alpine, shellScript: nerdctl ps}
    privileged: true
- name: Publish
  steps:
  - publishImageConfig: {tag: example/web:1}
    env: {PLUGIN_PUSH: "true"}
- name: Deploy
  steps:
  - applyYamlConfig: {path: ./deploy.yaml}
  - applyAppConfig: {catalogTemplate: library-mysql, version: "1", name: db, targetNamespace: web}
  - publishCatalogConfig: {path: ./chart, catalogTemplate: web, version: "1", gitUrl: "https://git.example.com/c.git",
                           gitBranch: main}
"""
PR = {"event": "pull_request", "ref": "refs/pull/42/head", "namespace": "team", "pipeline": "web"}
SETTING = {"registryCredentialsSecret": "registry-push", "gitCredentialsSecret": "git-clone",
           "localRegistry": "registry.local:5000", "cache": {"hostPathRoot": "/cache"}}


FORMS = ("pod", "pinned", "pvc")


def _setting(form: str = "auto", **pull_requests: Any) -> PipelineSettingSpec:
    return PipelineSettingSpec.model_validate({**SETTING, "argo": {"runForm": form}, "pullRequests": pull_requests})


def _compile(engine: str = "argo", setting: PipelineSettingSpec | None = None, **ctx: Any) -> Any:
    result = compile_text(PIPELINE, ExecutionContext(**{**PR, **ctx}), setting or _setting(), engine=engine)
    assert result.ok, [str(f) for f in result.findings]
    return result


def _skips(plan: Plan) -> dict[str, str]:
    return {s.id: s.skip_reason for s in plan.steps if s.skipped}


def _pod(result: Any) -> dict[str, Any]:
    """The agent pod YAML inside the Jenkinsfile's podTemplate, read back from its Groovy literal(s)
    (single-quoted, only backslash escapes; a long one is chunks joined with `+`: compiler/jenkins)."""
    text = result.jenkins.jenkinsfile
    i = text.index("yaml: ", text.index("podTemplate(")) + len("yaml: ")
    parts, depth = [], 0
    while True:
        ch = text[i]
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "'":
            out, i = [], i + 1
            while text[i] != "'":
                if text[i] != "\\":
                    out.append(text[i])
                    i += 1
                elif text[i + 1] == "u":
                    out.append(chr(int(text[i + 2:i + 6], 16)))
                    i += 6
                else:
                    out.append({"n": "\n", "t": "\t", "r": "\r"}.get(text[i + 1], text[i + 1]))
                    i += 2
            parts.append("".join(out))
            if depth == 0:
                break
        i += 1
        if depth == 0 and ch == ")":
            break
    pod: dict[str, Any] = yaml.safe_load("".join(parts))
    return pod


@pytest.mark.parametrize("form", FORMS)
def test_a_pull_request_runs_pods_mount_no_service_account_token(form: str) -> None:
    result = _compile(setting=_setting(form))
    spec = result.objects[0]["spec"]
    assert is_one_pod(result.objects[0]) is (form == "pod")
    assert spec["automountServiceAccountToken"] is False
    assert spec["serviceAccountName"] == "translator-untrusted"  # an account with Argo's executor rights only
    assert spec["executor"] == {"serviceAccountName": "translator-untrusted"}  # the wait container's, not main's
    for template in spec["templates"]:
        assert "automountServiceAccountToken" not in template and "serviceAccountName" not in template
    for container in containers(result.objects[0]).values():
        assert not [m for m in container["volumeMounts"] if m["mountPath"].startswith("/var/run/secrets")]
    assert argo_schema_errors(result.objects[0]) == []
    pod = _pod(_compile("jenkins"))
    assert pod["spec"]["automountServiceAccountToken"] is False
    assert pod["spec"]["serviceAccountName"] == "translator-untrusted"


def test_a_push_run_keeps_the_pipeline_account_and_its_token() -> None:
    spec = _compile(event="push", ref="refs/heads/master").objects[0]["spec"]
    assert spec["serviceAccountName"] == "pipeline"
    assert "automountServiceAccountToken" not in spec and "executor" not in spec
    pod = _pod(_compile("jenkins", event="push", ref="refs/heads/master"))
    assert pod["spec"]["serviceAccountName"] == "pipeline" and "automountServiceAccountToken" not in pod["spec"]


@pytest.mark.parametrize("form", FORMS)
def test_deploy_and_privileged_steps_are_skipped_with_their_reason_on_both_engines(form: str) -> None:
    argo = _compile(setting=_setting(form))
    assert _skips(argo.plan) == {
        "test-2": "a privileged step does not run on a pull_request run (PipelineSetting spec.pullRequests.privileged)",
        "publish": "a privileged step does not run on a pull_request run "
                   "(PipelineSetting spec.pullRequests.privileged)",
        **{f"deploy-{i}": f"{kind} does not run on a pull_request run (PipelineSetting spec.pullRequests.deploySteps)"
           for i, kind in ((1, "applyYamlConfig"), (2, "applyAppConfig"), (3, "publishCatalogConfig"))},
    }
    wf = argo.objects[0]
    if form == "pod":  # a skipped step never reaches the one pod: no container, nothing depends on it
        assert set(containers(wf)) == {"clone", "test-1"}
        assert dependencies(wf) == {"clone": [], "test-1": ["clone"]}
    else:
        tasks = {t["name"]: t for t in wf["spec"]["templates"][0]["dag"]["tasks"]}
        assert {n for n, t in tasks.items() if t.get("when") == "false"} == set(_skips(argo.plan))
    assert not [c for c in containers(wf).values() if (c.get("securityContext") or {}).get("privileged")
                and form == "pod"]  # the one pod holds no privileged container at all
    assert argo.plan.stages[3].skipped  # every step of Deploy is skipped
    jenkins = _compile("jenkins")
    assert not [c["name"] for c in _pod(jenkins)["spec"]["containers"]  # the agent pod holds none either
                if (c.get("securityContext") or {}).get("privileged")]
    jenkinsfile = jenkins.jenkins.jenkinsfile
    assert "echo('skipped: applyYamlConfig does not run on a pull_request run (PipelineSetting " \
           "spec.pullRequests.deploySteps); applyAppConfig does not run" in jenkinsfile  # the Deploy stage's
    assert "echo('skipped: a privileged step does not run on a pull_request run" in jenkinsfile
    assert "kubectl apply" not in jenkinsfile and "helm upgrade" not in jenkinsfile


def test_the_setting_can_allow_deploy_and_privileged_steps_on_pull_requests() -> None:
    result = _compile(setting=_setting(deploySteps=True, privileged=True))
    assert _skips(result.plan) == {}
    publish = next(s for s in result.plan.steps if s.id == "publish")
    assert publish.mounts_registry_credentials and not [v for v in publish.env if v.name == "PLUGIN_PUSH"][1:]


@pytest.mark.parametrize("form", FORMS)
def test_publish_image_on_a_pull_request_builds_without_credentials_or_push(form: str) -> None:
    result = _compile(setting=_setting(form, privileged=True))
    publish = next(s for s in result.plan.steps if s.id == "publish")
    assert not publish.skipped and not publish.mounts_registry_credentials
    push = [v.value for v in publish.env if v.name == "PLUGIN_PUSH"]
    assert push == ["false"]  # the user's PLUGIN_PUSH: "true" is dropped, not merely shadowed
    assert "push=${PLUGIN_PUSH:-true}" in publish.script
    assert "registry-credentials" not in volumes(result.objects[0])
    container = containers(result.objects[0])["publish"]
    assert {"name": "PLUGIN_PUSH", "value": "false"} in container["env"]
    assert not [m for m in container["volumeMounts"] if m["name"] == "registry-credentials"]
    assert "publishImage builds without pushing on a pull_request run" in " ".join(result.plan.warnings)
    pod = _pod(_compile("jenkins", setting=_setting(privileged=True)))
    assert "registry-credentials" not in {v["name"] for v in pod["spec"]["volumes"]}


def test_env_from_stays_withheld_on_pull_requests() -> None:
    test = next(s for s in _compile().plan.steps if s.id == "test-1")
    assert not [v for v in test.env if v.secret_name]
    assert "NPM_TOKEN" not in {v.name for v in test.env}


@pytest.mark.parametrize("form", FORMS)
def test_a_pull_request_never_mounts_the_pipeline_cache_writable(form: str) -> None:
    """The step mounts only the pull request's copy; the pipeline's cache is mounted only into
    the init container that seeds the copy, read-only (one for the one pod, one per cached step
    of a pod-per-step run)."""
    wf = _compile(setting=_setting(form)).objects[0]
    all_volumes = volumes(wf)
    default = "/cache/team/web/"
    copies = "/cache/.pull-requests/team/web/pr-42/"
    for name, container in containers(wf).items():
        host = {all_volumes[m["name"]]["hostPath"]["path"] for m in container["volumeMounts"]
                if "hostPath" in all_volumes.get(m["name"], {}) and m["name"] != "workspace"}  # pinned: node-local
        assert all(p.startswith(copies) for p in host), (name, host)
        assert host or name != "test-1"
    (seed,) = init_containers(wf, "test-1")
    for mount in seed["volumeMounts"]:
        path = all_volumes[mount["name"]]["hostPath"]["path"]
        assert path.startswith(copies) or (path.startswith(default) and mount["readOnly"] is True)
    assert {all_volumes[m["name"]]["hostPath"]["path"][: len(default)] for m in seed["volumeMounts"]
            if m.get("readOnly")} == {default}
    assert seed["name"] not in containers(wf)  # one pod: the init container's name is no step's
    assert init_containers(wf, "clone") == ([seed] if form == "pod" else [])
    assert argo_schema_errors(wf) == []

    pod = _pod(_compile("jenkins"))
    jvolumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    for container in pod["spec"]["containers"]:
        for mount in container["volumeMounts"]:
            host = (jvolumes[mount["name"]].get("hostPath") or {}).get("path", "")
            assert not host.startswith(default), (container["name"], host)
    (jseed,) = pod["spec"]["initContainers"]
    assert all(m.get("readOnly") for m in jseed["volumeMounts"]
               if jvolumes[m["name"]]["hostPath"]["path"].startswith(default))


@pytest.mark.parametrize(("ref", "scope"), [
    ("refs/pull/42/head", "pr-42"), ("refs/merge-requests/7/head", "pr-7"),
    ("refs/heads/feature", "pr-"),  # a generic webhook's ref: hashed
])
def test_a_pull_requests_caches_are_scoped_to_it(ref: str, scope: str) -> None:
    step = next(s for s in _compile(ref=ref).plan.steps if s.caches)
    (cache,) = step.caches
    assert cache.host_path.startswith(f"/cache/.pull-requests/team/web/{scope}")
    assert cache.seed_host_path.startswith("/cache/team/web/")
    other = next(s for s in _compile(ref="refs/pull/43/head").plan.steps if s.caches).caches[0]
    assert other.host_path != cache.host_path and other.seed_host_path == cache.seed_host_path


@pytest.mark.parametrize("form", FORMS)
def test_a_push_run_mounts_the_pipeline_cache_itself(form: str) -> None:
    step = next(s for s in _compile(event="push").plan.steps if s.caches)
    assert step.caches[0].host_path.startswith("/cache/team/web/") and not step.caches[0].seed_host_path
    wf = _compile(event="push", setting=_setting(form)).objects[0]
    assert not [t for t in wf["spec"]["templates"] if "initContainers" in t]


def test_the_seed_copies_the_pipeline_cache_once_and_never_writes_it(tmp_path: Path) -> None:
    """The init container's script on real directories: the copy starts as the pipeline's cache,
    is seeded only while empty, and what the step writes lands in the copy alone."""
    import subprocess

    from tests.step_runner import shells

    for shell, path in shells(tmp_path):
        default, copy = tmp_path / shell.replace("/", "_") / "default", tmp_path / shell.replace("/", "_") / "copy"
        (default / "pkg").mkdir(parents=True)
        (default / "pkg" / "index.js").write_text("trusted\n")
        copy.mkdir()
        argv = [shell, "-c", SEED_CACHE, "seed-cache", str(default), str(copy)]
        first = subprocess.run(argv, env=path, capture_output=True, text=True, check=False)
        assert first.returncode == 0, first.stderr
        assert (copy / "pkg" / "index.js").read_text() == "trusted\n"
        (copy / "pkg" / "index.js").write_text("planted by the pull request\n")  # what the step does
        (default / "pkg" / "new.js").write_text("later on the default branch\n")
        again = subprocess.run(argv, env=path, capture_output=True, text=True, check=False)
        assert again.returncode == 0 and again.stdout == ""  # not empty: not seeded again
        assert (default / "pkg" / "index.js").read_text() == "trusted\n"
        assert not (copy / "pkg" / "new.js").exists()
