"""Fixtures for the UI tests: a running world, and headless Chromium driven by Playwright.

The browser is Debian's `chromium` (`/usr/bin/chromium`, installed by .ci/run), launched by
Playwright with its executable path set — Playwright's own browser download is never used.
`launch()` gives every session a fresh temporary profile; each test gets a new context.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.kube_double.server import KubeDouble
from tests.ui.harness import UiWorld

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.fixture
def world() -> Iterator[UiWorld]:
    with KubeDouble() as double:
        w = UiWorld(double, step_seconds=0.3).start()
        try:
            yield w
        finally:
            w.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium (apt-get install chromium); .ci/run installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15000)
    p = context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda exc: errors.append(str(exc)))
    p.on("console", lambda msg: errors.append(msg.text)
         if msg.type == "error" and not msg.text.startswith("Failed to load resource") else None)
    p.js_errors = errors
    try:
        yield p
    finally:
        context.close()


def login(page: Any, world: UiWorld, token: str, namespaces: str = "team") -> None:
    page.goto(world.url + "/login")
    page.fill("input[name=token]", token)
    page.fill("input[name=namespaces]", namespaces)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(re.escape(world.url) + "/$"))
