"""Read a pipeline file from its repository with git itself: any host git can reach.

`.cubepaas.devops.yml` first, then Rancher's names, from the branch (or commit) of the run.
Credentials (the Secret of the Pipeline's SourceCodeCredential: `token`, or
`username`/`password`) reach git as an HTTP Authorization header through git's environment
configuration (`GIT_CONFIG_*`): never in the URL, the command line or an error message.
"""

from __future__ import annotations

import base64
import subprocess
import tempfile
from dataclasses import dataclass

from translator.api.config_validation import PIPELINE_FILE_NAMES


class SourceError(Exception):
    """The file could not be read; the message says why, without secrets."""


@dataclass(frozen=True)
class GitCredentials:
    username: str
    password: str

    @staticmethod
    def from_secret(data: dict[str, str], user_name: str = "") -> GitCredentials | None:
        if data.get("token"):
            return GitCredentials(data.get("username") or user_name or "oauth2", data["token"])
        if data.get("password"):
            return GitCredentials(data.get("username") or user_name, data["password"])
        return None

    def env(self) -> dict[str, str]:
        basic = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.extraHeader",
                "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}"}


def read_pipeline_file(url: str, *, branch: str = "", commit: str = "", timeout: float = 60.0,
                       credentials: GitCredentials | None = None) -> tuple[str, str]:
    """(file name, text) of the repository's pipeline file at `commit`, else the tip of `branch`."""
    if not url:
        raise SourceError("the pipeline has no repositoryUrl")
    with tempfile.TemporaryDirectory(prefix="translator-src-") as tmp:
        env = {"GIT_TERMINAL_PROMPT": "0", "PATH": "/usr/bin:/bin:/usr/local/bin", "HOME": tmp}
        if credentials is not None:
            env.update(credentials.env())

        def git(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(["git", *args], cwd=tmp, capture_output=True, text=True, timeout=timeout,
                                  env=env, check=False)

        try:
            git("init", "-q", ".")
            target = commit or (f"refs/heads/{branch}" if branch else "HEAD")
            fetched = git("fetch", "-q", "--depth=1", url, target)
            if fetched.returncode != 0:
                said = (fetched.stderr.strip().splitlines() or ["no output"])[-1]
                if credentials is not None:
                    said = said.replace(credentials.password, "***")
                raise SourceError(f"git fetch {target} from {url} failed: {said}")
            for name in PIPELINE_FILE_NAMES:
                shown = git("show", f"FETCH_HEAD:{name}")
                if shown.returncode == 0:
                    return name, shown.stdout
        except subprocess.TimeoutExpired:
            raise SourceError(f"git did not answer within {timeout:.0f}s") from None
        except FileNotFoundError:
            raise SourceError("git is not installed") from None
    raise SourceError(f"the repository has none of {', '.join(PIPELINE_FILE_NAMES)} at {commit or branch}")
