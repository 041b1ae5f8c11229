"""Runs a compiled step's script for real, the way its container would: `sh -xe <script>` with
the step's environment (Secret keys resolved from a dict) and the files beside the script.

The container's mounts are directories here: the scripts volume (`/translator/scripts` on
Argo, `$TRANSLATOR_FILES` on Jenkins) is a temporary directory named by TRANSLATOR_FILES, and
the credential files named in TRANSLATOR_MASK_FILES are written under it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from translator.compiler.plan import PlanStep
from translator.compiler.scripts import launch_command
from translator.compiler.trust_scripts import FILES_VAR

BUSYBOX = shutil.which("busybox")


@dataclass(frozen=True)
class Ran:
    code: int
    stdout: str
    stderr: str


def shells(tmp: Path) -> list[tuple[str, dict[str, str]]]:
    """(shell, PATH) pairs to run under: the system's /bin/sh and awk (Debian: dash and mawk),
    and busybox's sh and applets only (what Alpine-based images such as alpine/git have)."""
    found = [("/bin/sh", {"PATH": os.environ.get("PATH", "/usr/bin:/bin")})]
    if BUSYBOX:
        bin_dir = tmp / "busybox-bin"
        bin_dir.mkdir(exist_ok=True)
        for applet in ("sh", "awk", "mkfifo", "mktemp", "rm", "cat", "kill", "echo", "ls", "cp", "printf", "sleep"):
            link = bin_dir / applet
            if not link.exists():
                link.symlink_to(BUSYBOX)
        found.append((str(bin_dir / "sh"), {"PATH": str(bin_dir)}))
    return found


def prepare(step: PlanStep, tmp: Path, *, secrets: dict[tuple[str, str], str] | None = None,
            files: dict[str, str] | None = None, shell: str = "/bin/sh",
            path: dict[str, str] | None = None) -> tuple[list[str], dict[str, str]]:
    """(argv, env) of the step's container. `secrets`: (Secret, key) -> value for the env entries
    that read a Secret; `files`: container path -> content for the credential files."""
    scripts = tmp / "scripts"
    scripts.mkdir(exist_ok=True)
    (scripts / step.script_file).write_text(step.script)
    for name, content in step.files:
        (scripts / name).write_text(content)
    env: dict[str, str] = dict(path or {"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    for var in step.env:
        env[var.name] = (secrets or {})[(var.secret_name, var.secret_key)] if var.secret_name else var.value
    for container_path, content in (files or {}).items():
        local = tmp / "mounts" / container_path.lstrip("/")
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_text(content)
    if FILES_VAR in env:
        env[FILES_VAR] = " ".join(str(tmp / "mounts" / p.lstrip("/")) for p in env[FILES_VAR].split())
    env["TRANSLATOR_FILES"] = str(scripts)
    launch = launch_command(step.script, str(scripts / step.script_file))  # as both engines start it
    return ([shell, *launch[1:]] if launch[0] == "sh" else launch), env


def run_step(step: PlanStep, tmp: Path, *, secrets: dict[tuple[str, str], str] | None = None,
             files: dict[str, str] | None = None, shell: str = "/bin/sh", path: dict[str, str] | None = None,
             timeout: float = 20.0) -> Ran:
    """Run the step to its end; its exit code, stdout and stderr."""
    argv, env = prepare(step, tmp, secrets=secrets, files=files, shell=shell, path=path)
    proc = subprocess.run(argv, env=env, cwd=tmp, capture_output=True, text=True, timeout=timeout, check=False)
    return Ran(proc.returncode, proc.stdout, proc.stderr)
