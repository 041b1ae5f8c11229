"""The API double's ServiceAccount admission, through the official client over HTTP: the
behaviours the no-token rule for pull requests is checked against (see admission.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, config

from tests.kube_double.admission import TOKEN_PATH
from tests.kube_double.server import KubeDouble


@pytest.fixture
def core() -> Iterator[client.CoreV1Api]:
    with KubeDouble() as double:
        double.create_namespace("team")
        yield client.CoreV1Api(config.new_client_from_config(config_file=double.kubeconfig))


def _pod(name: str, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"containers": [{"name": "main", "image": "alpine"}], **spec}}


def _token_mounts(pod: client.V1Pod) -> list[str]:
    containers = [*(pod.spec.init_containers or []), *pod.spec.containers]
    return [c.name for c in containers for m in c.volume_mounts or [] if m.mount_path == TOKEN_PATH]


def test_every_namespace_gets_a_default_service_account(core: client.CoreV1Api) -> None:
    core.create_namespace({"metadata": {"name": "other"}})
    assert core.read_namespaced_service_account("default", "other").metadata.name == "default"


def test_a_pod_gets_its_accounts_token_mounted_in_every_container(core: client.CoreV1Api) -> None:
    pod = core.create_namespaced_pod("team", _pod("p", initContainers=[{"name": "init", "image": "alpine"}]))
    assert pod.spec.service_account_name == "default"
    assert _token_mounts(pod) == ["init", "main"]
    (volume,) = [v for v in pod.spec.volumes if v.name.startswith("kube-api-access-")]
    assert volume.projected.sources[0].service_account_token.path == "token"


def test_automount_false_on_the_pod_wins_over_the_account(core: client.CoreV1Api) -> None:
    core.create_namespaced_service_account("team", {"metadata": {"name": "ci"}, "automountServiceAccountToken": True})
    pod = core.create_namespaced_pod("team", _pod("p", serviceAccountName="ci", automountServiceAccountToken=False))
    assert _token_mounts(pod) == [] and not pod.spec.volumes


def test_automount_false_on_the_account_holds_when_the_pod_says_nothing(core: client.CoreV1Api) -> None:
    core.create_namespaced_service_account("team", {"metadata": {"name": "ci"}, "automountServiceAccountToken": False})
    assert _token_mounts(core.create_namespaced_pod("team", _pod("p", serviceAccountName="ci"))) == []
    pod = core.create_namespaced_pod("team", _pod("q", serviceAccountName="ci", automountServiceAccountToken=True))
    assert _token_mounts(pod) == ["main"]


def test_a_mount_already_at_the_token_path_is_left_alone(core: client.CoreV1Api) -> None:
    main = {"name": "main", "image": "alpine", "volumeMounts": [{"name": "mine", "mountPath": TOKEN_PATH}]}
    pod = core.create_namespaced_pod("team", {"metadata": {"name": "p"}, "spec": {
        "containers": [main], "volumes": [{"name": "mine", "emptyDir": {}}]}})
    assert [m.name for m in pod.spec.containers[0].volume_mounts] == ["mine"]
    assert [v.name for v in pod.spec.volumes] == ["mine"]


def test_a_pod_naming_a_missing_account_is_forbidden(core: client.CoreV1Api) -> None:
    with pytest.raises(client.ApiException) as err:
        core.create_namespaced_pod("team", _pod("p", serviceAccountName="nobody"))
    assert err.value.status == 403 and "error looking up service account team/nobody" in err.value.body
