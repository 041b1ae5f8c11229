"""The default running system: the API double, the real controller, the Argo simulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.controller.harness import System
from tests.kube_double.server import KubeDouble


@pytest.fixture
def system() -> Iterator[System]:
    with KubeDouble() as kube:
        sys_ = System(kube)
        sys_.start_controller()
        try:
            yield sys_
        finally:
            sys_.close()
