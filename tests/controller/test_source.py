"""Reading the pipeline file with git: local repositories and a git server on loopback that
requires credentials (the SourceCodeCredential's Secret)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.git_server import GitServer, add_commit, make_repo
from translator.controller.source import GitCredentials, SourceError, read_pipeline_file

CUBE = "stages:\n- name: Build\n  steps:\n  - runScriptConfig: {image: alpine, shellScript: cube}\n"
RANCHER = "stages:\n- name: Build\n  steps:\n  - runScriptConfig: {image: alpine, shellScript: rancher}\n"


def test_cubepaas_file_wins_over_rancher_names(tmp_path: Path) -> None:
    bare, _ = make_repo(tmp_path, "app", {".cubepaas.devops.yml": CUBE, ".rancher-pipeline.yml": RANCHER})
    assert read_pipeline_file(str(bare), branch="master") == (".cubepaas.devops.yml", CUBE)
    only_rancher, _ = make_repo(tmp_path, "old", {".rancher-pipeline.yaml": RANCHER})
    assert read_pipeline_file(str(only_rancher), branch="master") == (".rancher-pipeline.yaml", RANCHER)


def test_reads_the_file_at_the_commit_or_the_branch_tip(tmp_path: Path) -> None:
    bare, first = make_repo(tmp_path, "app", {".rancher-pipeline.yml": RANCHER})
    second = add_commit(bare, "master", {".rancher-pipeline.yml": CUBE})
    assert read_pipeline_file(str(bare), branch="master")[1] == CUBE
    assert read_pipeline_file(str(bare), commit=first)[1] == RANCHER
    assert read_pipeline_file(str(bare), commit=second)[1] == CUBE
    add_commit(bare, "release", {".rancher-pipeline.yml": RANCHER})
    assert read_pipeline_file(str(bare), branch="release")[1] == RANCHER


def test_no_pipeline_file_and_no_branch(tmp_path: Path) -> None:
    bare, _ = make_repo(tmp_path, "empty", {"README.md": "hi"})
    with pytest.raises(SourceError, match=r"none of \.cubepaas\.devops\.yml"):
        read_pipeline_file(str(bare), branch="master")
    with pytest.raises(SourceError, match="git fetch refs/heads/nope"):
        read_pipeline_file(str(bare), branch="nope")


def test_git_server_on_loopback_with_the_credentials_secret(tmp_path: Path) -> None:
    make_repo(tmp_path, "team-app", {".rancher-pipeline.yml": RANCHER})
    with GitServer(tmp_path, user="bot", password="s3cret-token") as server:
        url = f"{server.url}/team-app.git"
        creds = GitCredentials.from_secret({"token": "s3cret-token"}, user_name="bot")
        assert read_pipeline_file(url, branch="master", credentials=creds)[1] == RANCHER
        with pytest.raises(SourceError) as err:
            read_pipeline_file(url, branch="master", credentials=GitCredentials("bot", "wrong-token"))
        assert "wrong-token" not in str(err.value) and "failed" in str(err.value)
        with pytest.raises(SourceError):
            read_pipeline_file(url, branch="master")  # anonymous: refused, and no prompt hangs


def test_credentials_from_secret_shapes() -> None:
    assert GitCredentials.from_secret({"token": "t"}) == GitCredentials("oauth2", "t")
    assert GitCredentials.from_secret({"username": "u", "password": "p"}) == GitCredentials("u", "p")
    assert GitCredentials.from_secret({}) is None
