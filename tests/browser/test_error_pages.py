"""Issue 13 item 8: refusals and failures answer with a styled page in Chinese, for staff and citizens."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from config.settings import Settings
from contract.clock import FixedClock
from intake.app import create_app
from tests.browser.conftest import Shots
from tests.browser.kit import phone_page, seed_accounts, sign_in

LATIN_WORD = re.compile(r"[A-Za-z]{3,}")


async def _boom(request: web.Request) -> web.Response:
    raise RuntimeError("a bug the page must not show")


@pytest.fixture
async def failing_server(settings: Settings, clock: FixedClock) -> AsyncIterator[TestServer]:
    """The whole app plus one route that fails, on a desk path and a citizen path."""
    app = create_app(settings, clock=clock)
    app.router.add_get("/desk/boom", _boom)
    app.router.add_get("/boom", _boom)
    srv = TestServer(app, host="127.0.0.1")
    await srv.start_server()
    try:
        yield srv
    finally:
        await srv.close()


async def _check(page: Any, status: int, title: str) -> None:
    assert await page.get_attribute("#error-page", "data-status") == str(status)
    assert await page.inner_text("#error-page h1") == title
    words = LATIN_WORD.findall(await page.inner_text("body"))
    assert words == [], words


async def test_citizen_404_and_500_are_styled_pages_in_chinese(
        failing_server: TestServer, browser: Any, shots: Shots) -> None:
    page = await phone_page(browser)
    response = await page.goto(str(failing_server.make_url("/no-such-page")))
    assert response.status == 404
    await _check(page, 404, "页面不存在")
    assert await page.is_visible("a[href='/status']")
    await shots.take(page, "citizen-404")
    response = await page.goto(str(failing_server.make_url("/boom")))
    assert response.status == 500
    await _check(page, 500, "系统出错了")
    assert "a bug" not in await page.content()
    await shots.take(page, "citizen-500")
    response = await page.goto(str(failing_server.make_url("/receipt?n=x&c=y&s=z")))
    assert response.status == 404
    assert await page.inner_text("#error-detail") == "回执不存在"
    await page.context.close()


async def test_staff_403_404_500_are_desk_pages_in_chinese(
        failing_server: TestServer, page: Any, shots: Shots) -> None:
    await seed_accounts(failing_server)
    await sign_in(failing_server, page, "city")
    response = await page.goto(str(failing_server.make_url("/desk/admin")))
    assert response.status == 403
    await _check(page, 403, "无权访问")
    assert await page.inner_text("#error-detail") == "仅系统管理员可用"
    assert await page.is_visible("header.bar >> text=待办队列")  # still the desk, signed in
    await shots.take(page, "staff-403")
    response = await page.goto(str(failing_server.make_url("/desk/cases/FZ12345-20990101-000001")))
    assert response.status == 404
    await _check(page, 404, "页面不存在")
    await shots.take(page, "staff-404")
    response = await page.goto(str(failing_server.make_url("/desk/boom")))
    assert response.status == 500
    await _check(page, 500, "系统出错了")
    await shots.take(page, "staff-500")


async def test_scripts_and_the_api_still_get_their_own_error_answers(
        failing_server: TestServer, page: Any) -> None:
    await page.goto(str(failing_server.make_url("/")))
    status, body = await page.evaluate(
        """async () => { const r = await fetch('/api/cases/nope');
                         return [r.status, await r.text()]; }""")
    assert status in (401,) and body.startswith("{")
