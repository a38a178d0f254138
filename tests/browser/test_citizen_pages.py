"""The citizen's pages in Chromium: submit, read the receipt, look the case up, find answers."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestServer

from tests.browser.conftest import Shots


async def test_R2_1_citizen_submits_the_form_by_keyboard_and_looks_the_case_up(
        server: TestServer, page: Any, shots: Shots) -> None:
    base = str(server.make_url("/"))
    await page.goto(base)
    await shots.take(page, "form")
    await page.fill("#text", "仓山区金山大道路灯不亮，晚上很黑")
    await page.fill("#phone", "13805912345")
    await page.select_option("#district", "仓山区")
    await page.check("input[name=public][value=yes]")
    await page.press("#phone", "Enter")
    await page.wait_for_selector("#case-number")
    await shots.take(page, "receipt")
    number = await page.inner_text("#case-number")
    code = await page.inner_text("#query-code")
    assert number == "FZ12345-20261124-000001" and len(code) == 8
    assert await page.locator("#emergency-advice").count() == 0

    await page.click("text=进度查询")
    await page.fill("#number", number)
    await page.fill("#secret", code)
    await page.press("#secret", "Enter")
    await page.wait_for_selector("#case-status")
    await shots.take(page, "status")
    assert await page.inner_text("#case-status") == "已登记，等待受理"


async def test_R3_8_emergency_words_show_the_red_banner_at_once(
        server: TestServer, page: Any, shots: Shots) -> None:
    await page.goto(str(server.make_url("/")))
    await page.fill("#text", "楼下餐馆着火了，浓烟很大")
    await page.fill("#phone", "13805912345")
    await page.check("input[name=public][value=no]")
    await page.click("button[type=submit]")
    banner = page.locator("#emergency-advice")
    await banner.wait_for()
    await shots.take(page, "emergency")
    assert "119" in await banner.inner_text()


async def test_form_errors_keep_what_was_typed_and_render_script_inert(
        server: TestServer, page: Any, shots: Shots) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda d: dialogs.append(d.message))
    await page.goto(str(server.make_url("/")))
    payload = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    await page.fill("#text", payload)
    await page.fill("#phone", "12345")
    await page.click("button[type=submit]")
    await page.wait_for_selector("#phone-error:not([hidden])")
    await shots.take(page, "errors")
    assert "请填写 11 位手机号码" in await page.inner_text("#phone-error")
    assert await page.input_value("#text") == payload
    assert dialogs == []
