"""Opt-in tiers: tests marked `cluster` run only with --cluster (kind + Argo)."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--cluster", action="store_true", help="run tests that need a real cluster with Argo")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--cluster"):
        return
    skip = pytest.mark.skip(reason="needs a real cluster with Argo: opt in with --cluster")
    for item in items:
        if "cluster" in item.keywords:
            item.add_marker(skip)
