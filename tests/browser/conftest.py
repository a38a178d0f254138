"""A real browser (Debian's Chromium, driven by Playwright) against the app on a local port.

Never `playwright install`: the browser is the system's `/usr/bin/chromium`
(``HOTLINE_TEST_CHROMIUM`` overrides). On CI a missing browser fails the run;
on a laptop these tests skip with the reason. Screenshots of every page land in
``test-artifacts/browser/``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from config.settings import Settings
from contract.clock import FixedClock
from intake.app import create_app
from tests.conftest import on_ci

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_path() -> str:
    path = os.environ.get("HOTLINE_TEST_CHROMIUM") or shutil.which("chromium") or ""
    if not path:
        reason = "Chromium not found (apt-get install chromium fonts-noto-cjk)"
        if on_ci():
            pytest.fail(reason + " (required on CI)")
        pytest.skip(reason)
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        reason = "playwright (Python) not installed: pip install -e '.[test]'"
        if on_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    return path


@pytest.fixture
async def server(settings: Settings, clock: FixedClock) -> AsyncIterator[TestServer]:
    """The whole app on a free local port, for the browser to visit."""
    srv = TestServer(create_app(settings, clock=clock), host="127.0.0.1")
    await srv.start_server()
    try:
        yield srv
    finally:
        await srv.close()


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    path = chromium_path()
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        instance = await pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            await instance.close()


@pytest.fixture
async def page(browser: Any, request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    context = await browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    pg = await context.new_page()
    pg.set_default_timeout(15_000)
    yield pg
    await context.close()


class Shots:
    """Saves a screenshot per step, named after the test."""

    def __init__(self, name: str) -> None:
        self.dir = ARTIFACTS / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.count = 0

    async def take(self, page: Any, label: str) -> Path:
        self.count += 1
        path = self.dir / f"{self.count:02d}-{label}.png"
        await page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Shots:
    return Shots(request.node.name.replace("[", "-").replace("]", ""))
