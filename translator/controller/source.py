"""Read a pipeline file from its repository with git itself: any host git can reach.

`.cubepaas.devops.yml` first, then Rancher's names, from the branch (or commit) of the run.
Credentials (the Secret of the Pipeline's SourceCodeCredential: `token`, or
`username`/`password`) reach git as an HTTP Authorization header through git's environment
configuration (`GIT_CONFIG_*`): never in the URL, the command line or an error message.

The file is untrusted (anyone who can push chooses it): its size is asked of git first
(`cat-file -s`) and a file over the setting's `maxPipelineFileBytes` is never read; what is
read must be UTF-8. Either refusal is `InvalidSource`, which fails the run with InvalidConfig.
"""

from __future__ import annotations

import base64
import subprocess
import tempfile
from dataclasses import dataclass

from translator.api.bounded import PIPELINE_FILE, InputRefused, decode_utf8, too_large
from translator.api.config_validation import PIPELINE_FILE_NAMES


class SourceError(Exception):
    """The file could not be read; the message says why, without secrets."""


class InvalidSource(SourceError):
    """The file is there but will not be read: too large, or not UTF-8."""


def source_failure_reason(exc: SourceError) -> str:
    """The Initialized condition's reason: the file is bad (InvalidConfig) or was not found."""
    return "InvalidConfig" if isinstance(exc, InvalidSource) else "ConfigNotFound"


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
                       credentials: GitCredentials | None = None,
                       max_bytes: int = PIPELINE_FILE.max_bytes) -> tuple[str, str]:
    """(file name, text) of the repository's pipeline file at `commit`, else the tip of `branch`."""
    if not url:
        raise SourceError("the pipeline has no repositoryUrl")
    with tempfile.TemporaryDirectory(prefix="translator-src-") as tmp:
        env = {"GIT_TERMINAL_PROMPT": "0", "PATH": "/usr/bin:/bin:/usr/local/bin", "HOME": tmp}
        if credentials is not None:
            env.update(credentials.env())

        def git(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(["git", *args], cwd=tmp, capture_output=True, text=True, timeout=timeout,
                                  env=env, check=False, errors="replace")

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
                size = git("cat-file", "-s", f"FETCH_HEAD:{name}")
                if size.returncode != 0:
                    continue
                if int(size.stdout.strip() or 0) > max_bytes:
                    raise InvalidSource(str(too_large(name, max_bytes, size=int(size.stdout.strip()))))
                shown = subprocess.run(["git", "cat-file", "blob", f"FETCH_HEAD:{name}"], cwd=tmp, capture_output=True,
                                       timeout=timeout, env=env, check=False)
                if shown.returncode == 0:
                    try:
                        return name, decode_utf8(shown.stdout[: max_bytes + 1], subject=name)
                    except InputRefused as exc:
                        raise InvalidSource(str(exc)) from None
        except subprocess.TimeoutExpired:
            raise SourceError(f"git did not answer within {timeout:.0f}s") from None
        except FileNotFoundError:
            raise SourceError("git is not installed") from None
    raise SourceError(f"the repository has none of {', '.join(PIPELINE_FILE_NAMES)} at {commit or branch}")
