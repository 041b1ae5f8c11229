"""Read a pipeline file from its repository with git itself: any host git can reach.

`.cubepaas.devops.yml` first, then Rancher's names, from the branch (or commit) of the run.
"""

from __future__ import annotations

import subprocess
import tempfile

from translator.api.config_validation import PIPELINE_FILE_NAMES


class SourceError(Exception):
    """The file could not be read; the message says why, without secrets."""


def read_pipeline_file(url: str, *, branch: str = "", commit: str = "", timeout: float = 60.0) -> tuple[str, str]:
    """(file name, text) of the repository's pipeline file at `commit`, else the tip of `branch`."""
    if not url:
        raise SourceError("the pipeline has no repositoryUrl")
    with tempfile.TemporaryDirectory(prefix="translator-src-") as tmp:
        env = {"GIT_TERMINAL_PROMPT": "0", "PATH": "/usr/bin:/bin:/usr/local/bin", "HOME": tmp}

        def git(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(["git", *args], cwd=tmp, capture_output=True, text=True, timeout=timeout,
                                  env=env, check=False)

        try:
            git("init", "-q", ".")
            target = commit or (f"refs/heads/{branch}" if branch else "HEAD")
            fetched = git("fetch", "-q", "--depth=1", url, target)
            if fetched.returncode != 0:
                raise SourceError(f"git fetch {target} failed: {fetched.stderr.strip().splitlines()[-1:]}")
            for name in PIPELINE_FILE_NAMES:
                shown = git("show", f"FETCH_HEAD:{name}")
                if shown.returncode == 0:
                    return name, shown.stdout
        except subprocess.TimeoutExpired:
            raise SourceError(f"git did not answer within {timeout:.0f}s") from None
        except FileNotFoundError:
            raise SourceError("git is not installed") from None
    raise SourceError(f"the repository has none of {', '.join(PIPELINE_FILE_NAMES)} at {commit or branch}")
