"""What the simulator adds around a container it runs (tests/argo_exec.py) and pod refusals:
each behaviour named after what the kubelet or Argo does."""

from __future__ import annotations

import base64
import time
from typing import Any

from tests import argo_sim_rules as rules
from tests.argo_exec import with_secrets
from tests.argo_sim import ArgoSimulator
from tests.kube_double.server import KubeDouble
from tests.kube_double.store import Store


def _store(**secrets: dict[str, str]) -> Store:
    store = Store()
    store.objects[("", "configmaps", "team", "wf-scripts")] = {
        "data": {"s.sh": 'echo "out $X"\ncat "$(dirname "$0")/../docker/config.json"\necho\necho "err" >&2\nexit 4\n'}}
    for name, data in secrets.items():
        store.objects[("", "secrets", "team", name)] = {
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}
    return store


def _wf(env: list[dict[str, Any]]) -> dict[str, Any]:
    return {"metadata": {"name": "wf", "namespace": "team"}, "spec": {
        "volumes": [{"name": "scripts", "configMap": {"name": "wf-scripts"}},
                    {"name": "docker", "secret": {"secretName": "push",
                                                  "items": [{"key": ".dockerconfigjson", "path": "config.json"}]}}],
        "templates": [{"name": "s", "container": {
            "command": ["sh", "/translator/scripts/s.sh"], "env": env,
            "volumeMounts": [{"name": "scripts", "mountPath": "/translator/scripts"},
                             {"name": "docker", "mountPath": "/translator/docker"}]}}]}}


def _run(store: Store, wf: dict[str, Any]) -> tuple[int, str]:
    template = wf["spec"]["templates"][0]
    config_maps = rules.config_maps_of(store, wf)
    run_wf, run_template, refused = with_secrets(store, wf, template, config_maps)
    return refused or rules.run_container(run_wf, run_template, config_maps)


def test_a_secret_key_ref_is_the_variables_value_and_a_secret_volume_its_keys() -> None:
    store = _store(k={"x": "from-secret"}, push={".dockerconfigjson": '{"auths": {}}'})
    env = [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "k", "key": "x"}}}]
    assert _run(store, _wf(env)) == (4, 'out from-secret\n{"auths": {}}\nerr\n')


def test_a_missing_secret_is_a_create_container_config_error_and_nothing_runs() -> None:
    env = [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "k", "key": "x"}}}]
    code, log = _run(_store(push={".dockerconfigjson": "{}"}), _wf(env))
    assert code == 1 and log.startswith('CreateContainerConfigError: secret "k" not found') and "out" not in log
    code, log = _run(_store(k={"y": "1"}, push={".dockerconfigjson": "{}"}), _wf(env))
    assert log.startswith("CreateContainerConfigError: couldn't find key x")


def test_a_pod_the_api_server_refuses_fails_its_node() -> None:
    with KubeDouble() as kube:
        kube.create_namespace("team")
        sim = ArgoSimulator(kube).start()
        try:
            res = kube.store.resource("argoproj.io", "workflows")
            kube.store.create(res, "team", {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
                                            "metadata": {"name": "wf"}, "spec": {
                "entrypoint": "main", "serviceAccountName": "nobody", "templates": [
                    {"name": "main", "dag": {"tasks": [{"name": "a", "template": "a"}]}},
                    {"name": "a", "container": {"image": "alpine"}}]}})
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                wf = kube.store.get(res, "team", "wf")
                if (wf.get("status") or {}).get("phase") in ("Failed", "Error"):
                    break
                time.sleep(0.05)
            node = next(n for n in wf["status"]["nodes"].values() if n["type"] == "Pod")
            assert node["phase"] == "Error"
            assert "error looking up service account team/nobody" in node["message"]
        finally:
            sim.stop()
