"""The leader Lease's namespace (finding 29): `translator controller --kubeconfig …`, as the README
shows it, on a cluster without that namespace stops at once with one line, instead of retrying a
404 for ever and never leading."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.kube_double.server import KubeDouble
from translator.controller.leader import LeaderElector, LeaseNamespaceMissing
from translator.kubeclient import Kube

CONTROLLER = [sys.executable, "-c", "from translator.cli import main; main()", "controller", "--metrics-port", "0"]


def test_a_missing_lease_namespace_stops_the_controller_with_one_line() -> None:
    with KubeDouble() as kube:
        result = subprocess.run([*CONTROLLER, "--kubeconfig", kube.kubeconfig], capture_output=True, text=True,
                                timeout=60)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines == ["translator controller: the leader Lease's namespace 'translator-system' does not exist: "
                     "create it (kubectl create namespace translator-system), choose another with "
                     "--lease-namespace, or run a single replica with --no-leader-elect"], result.stderr


def test_another_lease_namespace_is_named_in_the_refusal() -> None:
    with KubeDouble() as kube:
        result = subprocess.run([*CONTROLLER, "--kubeconfig", kube.kubeconfig, "--lease-namespace", "ops"],
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "namespace 'ops' does not exist" in result.stderr


def test_the_check_passes_where_the_namespace_exists() -> None:
    from kubernetes import config

    with KubeDouble() as kube:
        api = Kube(config.new_client_from_config(config_file=kube.kubeconfig))
        elector = LeaderElector(api, namespace="translator-system", name="l", identity="me")
        with pytest.raises(LeaseNamespaceMissing):
            elector.check()
        kube.create_namespace("translator-system")
        elector.check()
        assert elector._try() is True  # and the Lease can be made there
