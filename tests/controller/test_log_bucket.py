"""The log bucket on Argo (finding 3): a fresh S3 server has no bucket and Argo makes none, so the
controller makes it before the Workflow; a store that refuses says so in the run's condition."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from tests.controller.harness import System, wait_for
from tests.kube_double.server import KubeDouble
from tests.s3_server import ACCESS_KEY, SECRET_KEY, S3Server
from translator.controller import runs

_names = itertools.count()


@pytest.fixture
def bucket(s3_server: S3Server) -> str:
    """A bucket name the session's S3 server has never seen (it lives for the whole session)."""
    name = f"fresh-logs-{next(_names)}"
    assert not s3_server.client().bucket_exists(name)
    return name


def _system(kube: KubeDouble, s3: S3Server, bucket: str, *, secret_key: str = SECRET_KEY) -> System:
    system = System(kube, setting={"logs": {"endpoint": s3.endpoint, "bucket": bucket, "insecure": True,
                                            "credentialsSecret": "log-store"}})
    system.secret("log-store", {"accesskey": ACCESS_KEY, "secretkey": secret_key})
    return system


@pytest.fixture
def double() -> Iterator[KubeDouble]:
    with KubeDouble() as kube:
        yield kube


def test_a_run_archives_its_logs_into_a_bucket_the_controller_made(double: KubeDouble, s3_server: S3Server,
                                                                   bucket: str) -> None:
    system = _system(double, s3_server, bucket)
    try:
        system.start_controller()
        system.apply_pipeline("web")
        runs.create_run(system.kube, "team", "web")
        system.wait_state("web-1", "Success")
        client = s3_server.client()
        assert client.bucket_exists(bucket)
        keys = sorted(o.object_name or "" for o in client.list_objects(bucket, recursive=True))
        # one pod per run: Argo's executor writes `<key>/<container>.log` for each step's container
        assert keys == ["team/web/1/build-1.log", "team/web/1/build-2.log", "team/web/1/clone.log",
                        "team/web/1/ship.log"]
        assert client.get_object(bucket, "team/web/1/ship.log").read().decode().startswith("step ship of web-1")
    finally:
        system.close()


def test_the_bucket_is_made_when_the_setting_is_prepared(double: KubeDouble, s3_server: S3Server,
                                                         bucket: str) -> None:
    system = _system(double, s3_server, bucket)
    try:
        system.start_controller()
        wait_for(lambda: s3_server.client().bucket_exists(bucket), what="the bucket, before any run")
    finally:
        system.close()


def test_a_store_refusing_the_bucket_holds_the_run_with_a_clear_condition(double: KubeDouble, s3_server: S3Server,
                                                                          bucket: str) -> None:
    system = _system(double, s3_server, bucket, secret_key="wrong")
    try:
        system.start_controller(provision_deadline_seconds=3)
        system.apply_pipeline("web")
        runs.create_run(system.kube, "team", "web")

        def provisioned() -> dict[str, str]:
            conds = system.execution("web-1").get("status", {}).get("conditions", [])
            return next((c for c in conds if c["type"] == "Provisioned"), {})

        cond = wait_for(lambda: provisioned().get("reason") == "LogBucketNotReady" and provisioned())
        assert cond["status"] == "False"
        assert f"the log store s3://{bucket} at {s3_server.endpoint} refused the credentials" in cond["message"]
        assert system.workflows() == []  # no Workflow whose every step would end in Error
        ex = system.wait_state("web-1", "Failed", timeout=15)
        cond = next(c for c in ex["status"]["conditions"] if c["type"] == "Provisioned")
        assert cond["reason"] == "LogBucketNotReady" and "retrying" not in cond["message"]
    finally:
        system.close()
