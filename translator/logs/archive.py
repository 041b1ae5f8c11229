"""Step logs in S3 / MinIO: one key layout for both engines, streamed both ways.

Key layout (documented in docs/logs.md, relied upon by `translator logs`):

    <namespace>/<pipeline>/<run>/<stage index>/<step index>/main.log

Indexes, not names: stage names may hold spaces and slashes, and the clone stage is 0, as in
the execution's status. On Argo each step template carries this key as its archive location,
so Argo's own log archiving writes it (and the Argo UI finds it); on Jenkins the engine copies
a finished step's log there. A log is never held whole in memory: uploads are multipart
streams of `PART_SIZE` chunks, downloads are read in chunks.

The bucket is made by the controller, for both engines: Argo writes into an existing bucket
only (its S3 driver creates one solely with `createBucketIfNotPresent`), so the Argo engine
makes it (`BucketGate`) when the setting is prepared and before each Workflow is created, and
the Jenkins engine before its first copy (`LogStore.ensure_bucket`).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import certifi
import urllib3
from minio import Minio
from minio.error import S3Error
from urllib3.exceptions import HTTPError

from translator.compiler.plan import log_prefix

PART_SIZE = 8 * 1024 * 1024
READ_CHUNK = 256 * 1024
CONNECT_TIMEOUT, READ_TIMEOUT = 10.0, 120.0  # seconds, per connection attempt and per socket read
LOG_FILE = "main.log"

CREDENTIAL_CODES = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidSecurity"}


class LogStoreError(Exception):
    """The store refused or could not be reached; `reason` is a CamelCase word."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


def log_key(namespace: str, pipeline: str, run: int, stage: int, step: int) -> str:
    return f"{log_prefix(namespace, pipeline, run, stage, step)}/{LOG_FILE}"


class _ChunkReader:
    """A file-like view of an iterator of byte chunks (what minio's put_object reads)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._buffer = bytearray()

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
        if size < 0:
            size = len(self._buffer)
        out = bytes(self._buffer[:size])
        del self._buffer[:size]
        return out


@dataclass
class LogStore:
    endpoint: str  # host:port
    bucket: str
    access_key: str
    secret_key: str
    secure: bool = True

    def __post_init__(self) -> None:
        # minio's own client waits 5 minutes to connect, five times over: a store that drops
        # packets would hold a reconcile worker for half an hour
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT, read=READ_TIMEOUT), maxsize=10,
            cert_reqs="CERT_REQUIRED", ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
            retries=urllib3.Retry(total=3, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]))
        self._client = Minio(self.endpoint, access_key=self.access_key, secret_key=self.secret_key,
                             secure=self.secure, http_client=http)
        self._bucket_ready = False

    def _explain(self, exc: Exception, doing: str) -> LogStoreError:
        where = f"s3://{self.bucket} at {self.endpoint}"
        if isinstance(exc, S3Error):
            if exc.code in CREDENTIAL_CODES:
                return LogStoreError("LogStoreCredentials",
                                     f"{doing}: the log store {where} refused the credentials ({exc.code})")
            if exc.code in ("NoSuchKey", "NoSuchBucket"):
                return LogStoreError("LogNotFound", f"{doing}: not in {where} ({exc.code})")
            return LogStoreError("LogStoreError", f"{doing}: {where} answered {exc.code}: {exc.message}")
        return LogStoreError("LogStoreUnreachable", f"{doing}: the log store {where} did not answer: {exc}")

    def ensure_bucket(self) -> None:
        if self._bucket_ready:
            return
        try:
            if not self._client.bucket_exists(self.bucket):
                try:
                    self._client.make_bucket(self.bucket)
                except S3Error as exc:
                    if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise
        except (S3Error, HTTPError, ValueError) as exc:
            raise self._explain(exc, "creating the bucket") from exc
        self._bucket_ready = True

    def put(self, key: str, chunks: Iterable[bytes]) -> None:
        """Upload a stream of bytes, multipart, one part at a time (minio's parallel uploads read ahead
        without bound: a 1 GB log would be held whole)."""
        self.ensure_bucket()
        try:
            reader: Any = _ChunkReader(chunks)  # minio reads it like a file
            self._client.put_object(self.bucket, key, reader, length=-1, part_size=PART_SIZE, num_parallel_uploads=1,
                                    content_type="text/plain; charset=utf-8")
        except (S3Error, HTTPError, ValueError) as exc:
            raise self._explain(exc, f"writing {key}") from exc

    def put_file(self, key: str, stream: IO[bytes]) -> None:
        self.put(key, iter(lambda: stream.read(READ_CHUNK), b""))

    def exists(self, key: str) -> bool:
        try:
            self._client.stat_object(self.bucket, key)
            return True
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchBucket", "NoSuchObject"):
                return False
            raise self._explain(exc, f"looking for {key}") from exc
        except (HTTPError, ValueError) as exc:
            raise self._explain(exc, f"looking for {key}") from exc

    def get(self, key: str) -> Iterator[bytes]:
        """The object's bytes in chunks; LogStoreError(LogNotFound) when it is not there."""
        try:
            response = self._client.get_object(self.bucket, key)
        except (S3Error, HTTPError, ValueError) as exc:
            raise self._explain(exc, f"reading {key}") from exc
        try:
            yield from response.stream(READ_CHUNK)
        finally:
            response.close()
            response.release_conn()


@dataclass
class BucketGate:
    """Makes each log bucket when missing, and asks again about one it found only every `ttl` seconds."""

    ttl: float = 600.0
    _ready: dict[tuple[str, ...], float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def ready(self, key: tuple[str, ...]) -> bool:
        with self._lock:
            return time.monotonic() - self._ready.get(key, -self.ttl - 1.0) < self.ttl

    def ensure(self, key: tuple[str, ...], store: LogStore) -> None:
        """Create `store`'s bucket when missing; LogStoreError saying why when it cannot be."""
        if self.ready(key):
            return
        store.ensure_bucket()
        with self._lock:
            self._ready[key] = time.monotonic()


def store_from_secret(endpoint: str, bucket: str, secret_data: dict[str, str], *, insecure: bool) -> LogStore:
    """A store from the PipelineSetting's `logs` and the decoded credentials Secret."""
    access = secret_data.get("accesskey") or secret_data.get("accessKey") or ""
    secret = secret_data.get("secretkey") or secret_data.get("secretKey") or ""
    if not endpoint:
        raise LogStoreError("LogStoreNotConfigured", "the PipelineSetting names no log store (spec.logs.endpoint)")
    return LogStore(endpoint=endpoint, bucket=bucket, access_key=access, secret_key=secret, secure=not insecure)
