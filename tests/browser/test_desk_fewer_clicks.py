"""Issue 13 item 4: screening and dispatch in one form, a success message after it, and a
queue with category and district columns, filters, and a refresh of its own."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestServer

from desks.console.form import parse_console_form
from intake import keys
from tests.browser.conftest import Shots
from tests.browser.kit import seed_accounts, sign_in, sms_case

FORM_IDS = ("0f2a6b1c-1d2e-4f3a-8b4c-5d6e7f8a9b0c", "1f2a6b1c-1d2e-4f3a-8b4c-5d6e7f8a9b0c")


async def _call(server: TestServer, form_id: str, text: str, category: str, district: str) -> str:
    envelope = parse_console_form(
        {"form_id": form_id, "caller": "13805912345", "text": text, "category": category,
         "district": district, "public": "yes", "reply": "caller"},
        agent="agent", received_at=server.app[keys.CLOCK].now(), districts=(district,))
    return (await server.app[keys.INTAKE](envelope)).case_number


async def test_R4_3_R7_2_accept_and_dispatch_with_one_press_and_a_success_message(
        server: TestServer, page: Any, shots: Shots) -> None:
    await seed_accounts(server)
    receipt = await sms_case(server, "五四路路灯不亮，晚上很黑")
    waiting = await sms_case(server, "金山大道井盖缺失", external_id="next")
    await sign_in(server, page, "city")
    await page.goto(str(server.make_url(f"/desk/cases/{receipt.case_number}")))
    await page.select_option("#accept-unit", "city-urban")
    await shots.take(page, "accept-and-dispatch-form")
    await page.click("#btn-accept-dispatch")
    await page.wait_for_selector("#flash.ok:not([hidden])")
    assert await page.inner_text("#flash") == "已受理并交办"
    assert "已交办未阅" in await page.inner_text("#assignments")
    assert await page.inner_text("#case-status") == "办理中"
    await shots.take(page, "dispatched-in-one-step")
    await page.click("#next-item")  # and on to the next item waiting in the queue
    assert await page.inner_text("#case-number") == waiting.case_number


async def test_R7_2_queue_has_category_and_district_columns_filters_and_refreshes_itself(
        server: TestServer, page: Any, shots: Shots) -> None:
    await seed_accounts(server)
    gulou = await _call(server, FORM_IDS[0], "五四路路灯不亮", "城管", "鼓楼区")
    cangshan = await _call(server, FORM_IDS[1], "金山大道井盖缺失", "住建", "仓山区")
    await sign_in(server, page, "city")
    await page.goto(str(server.make_url("/desk/queue?refresh=5")))
    heads = await page.locator("#section-queue th").all_inner_texts()
    assert "类别" in heads and "区县" in heads
    row = await page.inner_text(f"#section-queue tr:has-text('{gulou}')")
    assert "城管" in row and "鼓楼区" in row
    await shots.take(page, "queue-columns")
    await page.select_option("#f-district", "仓山区")
    await page.click("#queue-filters button[type=submit]")
    await page.wait_for_url("**district=*")
    text = await page.inner_text("#section-queue")
    assert cangshan in text and gulou not in text
    await page.goto(str(server.make_url("/desk/queue?refresh=5")))
    late = await sms_case(server, "台江区万达广场停车收费太贵", external_id="late")
    await page.wait_for_selector(f"#section-queue >> text={late.case_number}", timeout=12_000)
    await shots.take(page, "queue-refreshed")


async def test_R8_2c_admin_sets_a_unit_so_its_leaders_approval_sends_the_answer_on(
        server: TestServer, page: Any, shots: Shots) -> None:
    await seed_accounts(server)
    await sign_in(server, page, "admin")
    await page.goto(str(server.make_url("/desk/admin/units/city-urban")))
    assert "经办人报送" in await page.inner_text("#leader-submits")
    await page.click("#btn-leader-submits")
    await page.wait_for_selector("text=答复报送方式已更新")
    assert "直接报送" in await page.inner_text("#leader-submits")
    await shots.take(page, "unit-setting")
