"""The simulator refuses and runs what a real Argo controller refuses and runs (issue 10).

Each test is named after the real behaviour; tests/argo_sim_rules.py cites the Argo source
each rule follows. The last tests run the real controller against the simulator, so a compiled
Workflow Argo would refuse or run wrongly fails there as it would on a cluster.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.argo_sim import ArgoSimulator
from tests.argo_sim_rules import NO_ARTIFACT_STORAGE, PVCS, fnv32a
from tests.controller.harness import System, wait_for
from tests.helpers import SHARED
from tests.kube_double.server import KubeDouble
from tests.s3_server import ACCESS_KEY, SECRET_KEY, S3Server
from translator.api.resources_types import PipelineExecution
from translator.api.setting_types import PipelineSettingSpec
from translator.compiler.compile import compile_text
from translator.compiler.context import ExecutionContext
from translator.controller import runs

NS = "team"
WORKFLOWS = ("argoproj.io", "workflows")
ONE_STEP = "stages:\n- name: Build\n  steps:\n  - runScriptConfig: {image: alpine, shellScript: make}\n"
needs_schemas = pytest.mark.skipif(not (SHARED / "argo").exists(), reason="needs ../shared/argo (Argo's schemas)")


def _prepared(double: KubeDouble) -> KubeDouble:
    double.create_namespace(NS)
    # what the namespace preparation makes: the pods' service account (the API server refuses
    # a pod whose account does not exist; the simulator does too)
    store = double.store
    store.create(store.resource("", "serviceaccounts"), NS, {"metadata": {"name": "pipeline"}})
    return double


@pytest.fixture
def kube() -> Iterator[KubeDouble]:
    with KubeDouble() as double:
        yield _prepared(double)


@pytest.fixture
def minimal_crd_kube() -> Iterator[KubeDouble]:
    """The minimal Workflow CRD (v3.6/3.7 installs): the API server keeps spec whole, so what Argo's
    controller refuses reaches it. With v4's full CRD the API server itself refuses a duplicate
    mountPath (422, list-map key) and prunes unknown fields (tests/kube_double/test_double.py)."""
    with KubeDouble(argo_crd="minimal") as double:
        yield _prepared(double)


def _compiled(text: str = ONE_STEP, setting: dict[str, Any] | None = None, **ctx: Any) -> dict[str, Any]:
    """A pod-per-step run with a claim (the `pvc` form) unless the setting says otherwise: these rules
    are Argo's per step template (tests/test_argo_sim_pod.py has the one-pod ones)."""
    setting = {**(setting or {}), "argo": {"runForm": "pvc", **(setting or {}).get("argo", {})}}
    setting_spec = PipelineSettingSpec.model_validate(setting)
    result = compile_text(text, ExecutionContext(namespace=NS, **ctx), setting_spec)
    assert result.ok, [str(f) for f in result.findings]
    return {"workflow": result.objects[0], "config_map": result.objects[1]}


def _run(kube: KubeDouble, objects: dict[str, Any], *, timeout: float = 10, **sim: Any) -> dict[str, Any]:
    """Create the ConfigMap and the Workflow, let the simulator run it to its end; the Workflow."""
    store = kube.store
    if "config_map" in objects:
        store.create(store.resource("", "configmaps"), NS, objects["config_map"])
    wf = objects["workflow"]
    store.create(store.resource(*WORKFLOWS), NS, {k: v for k, v in wf.items() if k != "status"})
    simulator = ArgoSimulator(kube, step_seconds=0.01, **sim).start()
    try:
        def ended() -> dict[str, Any] | None:
            got = store.get(store.resource(*WORKFLOWS), NS, wf["metadata"]["name"])
            return got if got.get("status", {}).get("phase") in ("Succeeded", "Failed", "Error") else None
        return wait_for(ended, timeout, "the Workflow to end")  # type: ignore[no-any-return]
    finally:
        simulator.stop()


def _steps(wf: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n["displayName"]: n for n in wf["status"].get("nodes", {}).values() if n["type"] != "DAG"}


# ---------------------------------------------------------------- refusals at the first reconcile


def test_a_workflow_name_over_63_characters_is_an_invalid_spec(kube: KubeDouble) -> None:
    objects = _compiled()
    objects["workflow"]["metadata"]["name"] = "w" * 64
    wf = _run(kube, objects)
    assert wf["status"]["phase"] == "Failed" and not wf["status"].get("nodes")
    assert wf["status"]["message"] == (f'invalid spec: workflow name "{"w" * 64}" must not be more than 63 '
                                       "characters long (currently 64)")


def test_a_mount_path_used_twice_is_already_mounted(minimal_crd_kube: KubeDouble) -> None:
    objects = _compiled()
    mounts = objects["workflow"]["spec"]["templates"][2]["container"]["volumeMounts"]
    mounts.append({"name": "workspace", "mountPath": "/workspace"})
    wf = _run(minimal_crd_kube, objects)
    assert wf["status"]["phase"] == "Failed"
    assert wf["status"]["message"] == ("invalid spec: templates.build.container.volumeMounts[2].mountPath "
                                       "'/workspace' already mounted in container.volumeMounts.workspace")


@needs_schemas
def test_fields_unknown_to_the_simulated_version_fail_the_workflow(minimal_crd_kube: KubeDouble) -> None:
    """`synchronization.mutex` (singular) is in v3.6's schema and gone in v4.x."""
    kube = minimal_crd_kube
    objects = _compiled()
    objects["workflow"]["spec"]["templates"][2]["synchronization"] = {"mutex": {"name": "m"}}
    v41 = _run(kube, copy.deepcopy(objects))
    assert v41["status"]["phase"] == "Failed"
    assert v41["status"]["message"] == 'cannot unmarshall spec: unknown field "spec.templates[2].synchronization.mutex"'
    kube.store.delete(kube.store.resource(*WORKFLOWS), NS, "pipeline-1")
    kube.store.delete(kube.store.resource("", "configmaps"), NS, "pipeline-1-scripts")
    assert _run(kube, objects, version="v3.6")["status"]["phase"] == "Succeeded"


def test_only_supported_versions_are_simulated(kube: KubeDouble) -> None:
    with pytest.raises(ValueError, match=r"v3\.5 is not a supported version"):
        ArgoSimulator(kube, version="v3.5")


# ---------------------------------------------------------------- the artifact repository


def _archiving() -> dict[str, Any]:
    objects = _compiled()
    objects["workflow"]["spec"]["archiveLogs"] = True  # what the compiler wrote before finding 2
    return objects


@pytest.mark.parametrize("version", ["v3.6", "v4.1"])
def test_archiving_logs_with_no_artifact_repository_errors_every_step(kube: KubeDouble, version: str) -> None:
    wf = _run(kube, _archiving(), version=version)
    steps = _steps(wf)
    assert steps["clone"]["phase"] == "Error" and wf["status"]["phase"] == "Failed"
    assert steps["clone"]["message"] == f"Error (exit code 1): {NO_ARTIFACT_STORAGE[version[:2]]}"
    assert steps["build"]["phase"] == "Omitted"


def test_archiving_logs_works_with_the_namespaces_default_repository(kube: KubeDouble) -> None:
    kube.store.create(kube.store.resource("", "configmaps"), NS, {"metadata": {
        "name": "artifact-repositories", "annotations": {"workflows.argoproj.io/default-artifact-repository": "k"}},
        "data": {"k": yaml.safe_dump({"s3": {"endpoint": "m:9000", "bucket": "b"}})}})
    wf = _run(kube, _archiving())
    assert wf["status"]["phase"] == "Succeeded"
    assert wf["status"]["artifactRepositoryRef"]["artifactRepository"]["s3"]["bucket"] == "b"


def test_a_named_artifact_repository_that_does_not_exist_errors_the_workflow(kube: KubeDouble) -> None:
    objects = _archiving()
    objects["workflow"]["spec"]["artifactRepositoryRef"] = {"configMap": "repos", "key": "logs"}
    wf = _run(kube, objects)
    assert wf["status"]["phase"] == "Error" and not wf["status"].get("nodes")
    assert wf["status"]["message"] == ("failed to resolve artifact repository: failed to find any artifact "
                                       'repository for artifact repository ref "repos#logs"')


def test_a_step_with_its_own_archive_location_archives_there(kube: KubeDouble, s3_server: S3Server) -> None:
    client = s3_server.client()
    if not client.bucket_exists("sim-rules-logs"):
        client.make_bucket("sim-rules-logs")
    kube.store.create(kube.store.resource("", "secrets"), NS, {"metadata": {"name": "logs"}, "stringData": {
        "accesskey": ACCESS_KEY, "secretkey": SECRET_KEY}})
    wf = _run(kube, _compiled(setting={"logs": {"endpoint": s3_server.endpoint, "bucket": "sim-rules-logs",
                                                "insecure": True, "credentialsSecret": "logs"}}))
    assert wf["status"]["phase"] == "Succeeded"
    assert client.stat_object("sim-rules-logs", f"{NS}/pipeline/1/1/0/main.log").size > 0


# ---------------------------------------------------------------- workspace claims


@pytest.mark.parametrize(("strategy", "outcome", "kept"), [
    (None, "Succeeded", False), (None, "Failed", True),  # Argo's default: OnWorkflowSuccess
    ("OnWorkflowCompletion", "Failed", False), ("OnWorkflowCompletion", "Succeeded", False),
])
def test_volume_claim_gc_deletes_the_workspace_claim_by_its_strategy(
    kube: KubeDouble, strategy: str | None, outcome: str, kept: bool,
) -> None:
    objects = _compiled()
    spec = objects["workflow"]["spec"]
    spec.pop("volumeClaimGC", None)
    spec.pop("archiveLogs", None)
    if strategy:
        spec["volumeClaimGC"] = {"strategy": strategy}
    claims: list[bool] = []

    def outcome_of(_wf: str, task: str) -> str:
        claims.append(("", "persistentvolumeclaims", NS, "pipeline-1-workspace") in kube.store.objects)
        return outcome if task == "build" else "Succeeded"

    wf = _run(kube, objects, outcome=outcome_of)
    assert all(claims) and claims, "the claim exists while the steps run"
    assert (("", "persistentvolumeclaims", NS, "pipeline-1-workspace") in kube.store.objects) is kept
    assert bool(wf["status"].get("persistentVolumeClaims")) is kept
    if kept:
        claim = kube.store.get(PVCS, NS, "pipeline-1-workspace")
        assert claim["metadata"]["labels"]["workflows.argoproj.io/workflow"] == "pipeline-1"
        assert claim["metadata"]["ownerReferences"][0]["uid"] == wf["metadata"]["uid"]


# ---------------------------------------------------------------- mutexes


CACHED = """
stages:
- name: build
  steps:
  - runScriptConfig: {image: a, shellScript: b}
    cache: {paths: [/root/.m2, node_modules]}
  - runScriptConfig: {image: a, shellScript: c}
    cache: {paths: [/root/.gradle]}
  - runScriptConfig: {image: a, shellScript: d}
    cache: {paths: [/root/.m2]}
"""


def _start(kube: KubeDouble, namespace: str, *runs_: dict[str, Any], **sim: Any) -> ArgoSimulator:
    store = kube.store
    if ("", "serviceaccounts", namespace, "pipeline") not in store.objects:
        store.create(store.resource("", "serviceaccounts"), namespace, {"metadata": {"name": "pipeline"}})
    for objects in runs_:
        objects["workflow"]["spec"].pop("archiveLogs", None)
        objects["config_map"]["metadata"]["namespace"] = objects["workflow"]["metadata"]["namespace"] = namespace
        store.create(store.resource("", "configmaps"), namespace, objects["config_map"])
        store.create(store.resource(*WORKFLOWS), namespace, objects["workflow"])
    return ArgoSimulator(kube, step_seconds=0.01, **sim).start()


def _nodes(kube: KubeDouble, namespace: str, name: str) -> dict[str, dict[str, Any]]:
    return _steps(kube.store.get(kube.store.resource(*WORKFLOWS), namespace, name))


def test_a_step_waits_pending_for_a_mutex_another_step_holds(kube: KubeDouble) -> None:
    """Steps sharing a cache directory take turns; a step using another directory runs at once."""
    sim = _start(kube, NS, _compiled(CACHED, pipeline="web"))
    sim.paused = {"build-1"}
    try:
        def holding() -> dict[str, dict[str, Any]] | None:
            nodes = _nodes(kube, NS, "web-1")
            return nodes if {t: n["phase"] for t, n in nodes.items() if t != "clone"} == {
                "build-1": "Running", "build-2": "Succeeded", "build-3": "Pending"} else None
        nodes = wait_for(holding, 10, "build-3 to wait for build-1's lock")
        lock = nodes["build-3"]["message"].split()[2]
        assert nodes["build-3"]["message"] == f"Waiting for {lock} lock. Lock status: 0/1"
        assert sim.locks[lock] == (f"{NS}/web-1", nodes["build-1"]["id"])  # /root/.m2's lock
        assert lock.startswith(f"{NS}/Mutex/translator-cache-web-") and not nodes["build-3"].get("hostNodeName")
        sim.paused = set()
        wait_for(lambda: all(n["phase"] == "Succeeded" for n in _nodes(kube, NS, "web-1").values()), 10)
        assert not sim.locks
    finally:
        sim.stop()


def test_two_teams_pipelines_of_one_name_never_share_a_lock(kube: KubeDouble) -> None:
    """Both teams' Workflows in one shared namespace (`argo.namespace`); each lock is in its team's."""
    kube.create_namespace("argo")
    text = "stages:\n- name: build\n  steps:\n  - runScriptConfig: {image: a, shellScript: b}\n" \
           "    cache: {paths: [/root/.m2]}\n"
    shared = {"argo": {"namespace": "argo"}}
    runs_ = []
    for team, run in (("team-a", 1), ("team-b", 2)):
        result = compile_text(text, ExecutionContext(namespace=team, pipeline="web", run=run),
                              PipelineSettingSpec.model_validate(shared))
        runs_.append({"workflow": result.objects[0], "config_map": result.objects[1]})
    sim = _start(kube, "argo", *runs_)
    sim.paused = {"build"}
    try:
        wait_for(lambda: [_nodes(kube, "argo", w).get("build", {}).get("phase") for w in ("web-1", "web-2")]
                 == ["Running", "Running"], 10, "both builds to run at once")
        assert sorted(k.split("/")[0] for k in sim.locks) == ["team-a", "team-b"]
    finally:
        sim.stop()


# ---------------------------------------------------------------- pod names, node ids


def test_pods_and_nodes_are_named_by_argos_v2_rule(kube: KubeDouble) -> None:
    objects = _compiled(execution="e" * 63)
    wf = _run(kube, objects)
    name = wf["metadata"]["name"]
    assert name == "e" * 63 and wf["metadata"]["annotations"]["workflows.argoproj.io/pod-name-format"] == "v2"
    pods = {k[3] for k in kube.store.objects if k[1] == "pods"}
    for task in ("clone", "build"):
        node = _steps(wf)[task]
        assert node["id"] == f"{name}-{fnv32a(f'{name}.{task}')}"
        assert f"{name}-{task}-{fnv32a(f'{name}.{task}')}" in pods  # not cut to 52 characters


# ---------------------------------------------------------------- running the command for real


def test_a_step_runs_its_command_with_a_real_shell(kube: KubeDouble) -> None:
    objects = _compiled("stages:\n- name: Build\n  steps:\n  - runScriptConfig:\n      image: alpine\n"
                        "      shellScript: |\n        echo compiling\n        false\n        echo testing\n")
    objects["workflow"]["spec"].pop("archiveLogs", None)
    wf = _run(kube, objects, execute=lambda _wf, task: task == "build")
    build = _steps(wf)["build"]
    assert build["phase"] == "Failed" and build["message"] == "Error (exit code 1)"
    log = next(text for (ns, pod), text in kube.store.logs.items() if pod.startswith("pipeline-1-build-"))
    assert "+ echo compiling\ncompiling\n+ false\n" in log and "testing" not in log


# ---------------------------------------------------------------- the controller against the simulator


def _system(double: KubeDouble, setting: dict[str, Any] | None = None) -> System:
    """The controller, and a simulator that runs every step's command but the clone's for real."""
    sys_ = System(double, namespace=NS, setting=setting, execute=lambda _wf, task: task != "clone")
    sys_.start_controller()
    return sys_


@pytest.fixture
def system() -> Iterator[System]:
    with KubeDouble() as double:
        sys_ = _system(double)
        try:
            yield sys_
        finally:
            sys_.close()


def _pipeline(steps: list[dict[str, Any]], **stage: Any) -> dict[str, Any]:
    return {"stages": [{"name": "Build", "steps": steps, **stage}]}


def test_a_run_whose_first_command_fails_fails() -> None:
    """Finding 1 end to end: `go build` failing before a passing `go test` is a failed run."""
    with KubeDouble() as double:
        system = _system(double, {"argo": {"archiveLogs": False}})
        try:
            system.apply_pipeline("go", _pipeline([{"runScriptConfig": {
                "image": "golang", "shellScript": "go_build() { return 2; }\ngo_build ./...\necho go test\n"}}]))
            runs.create_run(system.kube, NS, "go")
            ex = system.wait_state("go-1", "Failed", "Success")
            step = ex["status"]["stages"][1]["steps"][0]
            assert ex["status"]["executionState"] == "Failed", ex["status"]
            assert step["state"] == "Failed" and "exit code 2" in step["message"], step
        finally:
            system.close()


def test_a_default_setting_run_succeeds_with_long_names_and_duplicate_cache_paths(system: System) -> None:
    """Findings 2, 4, 5, 7, 9 end to end: no log store configured (the default), a 62-character
    pipeline (its first execution's name is 64), `node_modules` and `./node_modules` cached;
    the run succeeds, its step log is readable from the pod, and its claim is gone."""
    name = "p" * 62
    config = _pipeline([{"runScriptConfig": {"image": "alpine", "shellScript": "echo built"}}],
                       cache={"paths": ["node_modules", "./node_modules"]})
    system.apply_pipeline(name, config)
    runs.create_run(system.kube, NS, name)
    ex = system.wait_state(f"{name}-1", "Failed", "Success")
    assert ex["status"]["executionState"] == "Success", ex["status"]
    wf = system.workflows()[0]
    assert len(wf["metadata"]["name"]) == 63 and wf["status"]["phase"] == "Succeeded"
    assert not any(k[1] == "persistentvolumeclaims" for k in system.double.store.objects)
    assert system.controller is not None
    execution = PipelineExecution.model_validate(system.execution(f"{name}-1"))
    plan = compile_text(yaml.safe_dump(config), ExecutionContext(namespace=NS, pipeline=name,
                                                                 execution=f"{name}-1")).plan
    assert plan is not None  # the step's log, from the pod the status names
    assert "+ echo built\nbuilt\n" in "".join(system.controller.registry.get("argo").step_log(execution, plan, 1, 0))


def test_a_failed_run_leaves_no_workspace_claim(system: System) -> None:
    system.apply_pipeline("web", _pipeline([{"runScriptConfig": {"image": "alpine", "shellScript": "exit 3"}}]))
    runs.create_run(system.kube, NS, "web")
    system.wait_state("web-1", "Failed")
    wait_for(lambda: system.workflows()[0]["status"]["phase"] == "Failed")
    assert not any(k[1] == "persistentvolumeclaims" for k in system.double.store.objects)

