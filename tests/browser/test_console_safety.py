"""Issue 13 item 1: the console keeps the agent safe: the R3.8 banner survives a form sent back
for a missing field, and a half-typed call is parked, never cleared silently, by F2 or a pop."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestServer

from desks.console import announce_call
from tests.browser.conftest import Shots
from tests.browser.kit import seed_accounts, sign_in

GAS = "我家厨房煤气泄漏了，味道很大，怎么办"


async def test_R3_8_emergency_banner_stays_after_a_validation_error(
        server: TestServer, page: Any, shots: Shots) -> None:
    await seed_accounts(server)
    await sign_in(server, page, "agent")
    await page.fill("#caller", "13805912345")
    await page.fill("#text", GAS)
    await page.wait_for_selector("#live-emergency:not([hidden])")
    await page.press("#text", "Control+Enter")  # no category chosen: sent back with an error
    await page.wait_for_selector("#form-errors")
    # At once, from the page itself: no typing needed to bring the banner back.
    assert await page.is_visible("#live-emergency")
    assert "119" in await page.inner_text("#live-emergency")
    assert await page.input_value("#text") == GAS
    await shots.take(page, "banner-after-error")


async def test_F2_parks_a_half_typed_call_and_restores_it(
        server: TestServer, page: Any, shots: Shots) -> None:
    await seed_accounts(server)
    await sign_in(server, page, "agent")
    await page.fill("#caller", "13805912345")
    await page.fill("#text", "五四路夜间施工噪音扰民，凌晨还在打桩")
    await page.select_option("#category", "城管")
    form_id = await page.input_value("input[name=form_id]")
    await page.keyboard.press("F2")
    assert await page.input_value("#text") == ""
    assert await page.evaluate("document.activeElement.id") == "caller"
    assert await page.is_visible("#draft-note")
    assert "五四路夜间施工" in await page.inner_text("#draft-list")
    assert await page.input_value("input[name=form_id]") != form_id
    await shots.take(page, "draft-parked")
    await page.click("#draft-restore-0")
    assert await page.input_value("#text") == "五四路夜间施工噪音扰民，凌晨还在打桩"
    assert await page.input_value("#category") == "城管"
    assert await page.input_value("input[name=form_id]") == form_id
    assert await page.is_hidden("#drafts")
    await shots.take(page, "draft-restored")


async def test_a_popped_call_parks_the_draft_in_progress(
        server: TestServer, page: Any, shots: Shots) -> None:
    await seed_accounts(server)
    await sign_in(server, page, "agent")
    await page.wait_for_selector("#ws-state[data-state=on]")
    await page.fill("#caller", "13805912345")
    await page.fill("#text", "小区门口垃圾三天没人清运")
    assert await announce_call(server.app, "+8613905910002") == 1
    from playwright.async_api import expect  # here: the browser fixtures skip when it is missing

    await expect(page.locator("#caller")).to_have_value("+8613905910002")
    assert await page.input_value("#text") == ""
    assert "小区门口垃圾" in await page.inner_text("#draft-list")
    await shots.take(page, "pop-parks-draft")
    await page.fill("#text", "新来电的内容")
    await page.click("#draft-restore-0")  # the first call back; the popped one is parked in turn
    assert await page.input_value("#text") == "小区门口垃圾三天没人清运"
    assert "新来电的内容" in await page.inner_text("#draft-list")
    await shots.take(page, "drafts-swapped")
