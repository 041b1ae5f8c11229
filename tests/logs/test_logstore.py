"""The log store against a real S3 server (SeaweedFS on loopback, credentials enforced)."""

from __future__ import annotations

import tracemalloc
import uuid
from collections.abc import Iterator

import pytest

from tests.s3_server import ACCESS_KEY, SECRET_KEY, S3Server
from translator.logs.archive import LogStore, LogStoreError, log_key, store_from_secret


def _store(server: S3Server, bucket: str | None = None, **kw: str) -> LogStore:
    return LogStore(endpoint=server.endpoint, bucket=bucket or "logs-shared",
                    access_key=kw.get("access_key", ACCESS_KEY), secret_key=kw.get("secret_key", SECRET_KEY),
                    secure=False)


def test_key_layout_names_namespace_pipeline_run_stage_step() -> None:
    assert log_key("team", "web", 12, 1, 0) == "team/web/12/1/0/main.log"


def test_archive_and_read_back_creating_the_missing_bucket(s3_server: S3Server) -> None:
    store = _store(s3_server, f"logs-{uuid.uuid4().hex[:8]}")
    assert not s3_server.client().bucket_exists(store.bucket)
    key = log_key("team", "web", 1, 1, 0)
    store.put(key, iter([b"+ make\n", "ünïcode ok\n".encode()]))
    assert s3_server.client().bucket_exists(store.bucket)
    assert store.exists(key)
    assert b"".join(store.get(key)).decode() == "+ make\nünïcode ok\n"


def test_a_missing_log_is_a_clear_error(s3_server: S3Server) -> None:
    store = _store(s3_server)
    store.ensure_bucket()
    assert not store.exists("team/web/9/1/0/main.log")
    with pytest.raises(LogStoreError) as err:
        b"".join(store.get("team/web/9/1/0/main.log"))
    assert err.value.reason == "LogNotFound"
    assert "team/web/9/1/0/main.log" in err.value.message


def test_wrong_credentials_are_reported_as_such(s3_server: S3Server) -> None:
    store = _store(s3_server, secret_key="not-the-secret")
    with pytest.raises(LogStoreError) as err:
        store.put("a/main.log", iter([b"x"]))
    assert err.value.reason == "LogStoreCredentials"
    assert "refused the credentials" in err.value.message and "SignatureDoesNotMatch" in err.value.message


def test_unreachable_store_is_reported(s3_server: S3Server) -> None:
    store = LogStore(endpoint="127.0.0.1:1", bucket="logs", access_key="a", secret_key="b", secure=False)
    store._client._http.connection_pool_kw["retries"] = 0  # fail fast
    with pytest.raises(LogStoreError) as err:
        store.ensure_bucket()
    assert err.value.reason == "LogStoreUnreachable"


def test_store_from_secret_needs_an_endpoint() -> None:
    with pytest.raises(LogStoreError, match="names no log store"):
        store_from_secret("", "logs", {}, insecure=True)
    store = store_from_secret("s3:9000", "logs", {"accesskey": "a", "secretkey": "b"}, insecure=True)
    assert (store.access_key, store.secret_key, store.secure) == ("a", "b", False)


def test_a_large_log_is_streamed_both_ways(s3_server: S3Server) -> None:
    """60 MB go up and come back without the process ever holding more than a few parts."""
    store = _store(s3_server)
    line = b"0123456789" * 10 + b"\n"  # 101 bytes
    total_lines = 60 * 1024 * 1024 // len(line)

    def produce() -> Iterator[bytes]:
        for _ in range(total_lines // 1000):
            yield line * 1000

    tracemalloc.start()
    try:
        store.put("team/web/1/1/0/main.log", produce())
        _, peak_up = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        size = 0
        for chunk in store.get("team/web/1/1/0/main.log"):
            size += len(chunk)
        _, peak_down = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert size == (total_lines // 1000) * 1000 * len(line) >= 50 * 1024 * 1024
    assert peak_up < 40 * 1024 * 1024, f"upload held {peak_up / 2**20:.0f} MiB"
    assert peak_down < 8 * 1024 * 1024, f"download held {peak_down / 2**20:.0f} MiB"
