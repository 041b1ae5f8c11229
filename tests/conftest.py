"""Opt-in tiers: tests marked `cluster` run only with --cluster (kind + Argo)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.s3_server import S3Server


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--cluster", action="store_true", help="run tests that need a real cluster with Argo")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--cluster"):
        return
    skip = pytest.mark.skip(reason="needs a real cluster with Argo: opt in with --cluster")
    for item in items:
        if "cluster" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """A real S3 server (SeaweedFS) on loopback for the whole session, credentials enforced."""
    server = S3Server().start()
    try:
        yield server
    finally:
        server.stop()
