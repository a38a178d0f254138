"""The case desks in Chromium: one item from the city's queue to publication, through the forms."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestServer

from contract.envelope import Channel, Envelope
from desks.access.accounts import demo_password, seed_demo_accounts
from intake import keys
from tests.browser.conftest import Shots
from tests.forwarder.api_kit import FAST_HASHER

NUMBER = "FZ12345-20261124-000001"


async def sign_in(server: TestServer, page: Any, user: str, home: str) -> None:
    await page.context.clear_cookies()
    await page.goto(str(server.make_url("/desk/login")))
    await page.fill("#username", user)
    await page.fill("#password", demo_password(user))
    await page.press("#password", "Enter")
    await page.wait_for_url(f"**{home}")


async def act(page: Any, button: str, then: str) -> None:
    """Press a form's button; the page reloads once the API accepted it and shows ``then``."""
    await page.click(button)
    await page.wait_for_selector(then)
    assert not await page.locator("#flash.error").is_visible(), await page.inner_text("#flash")


async def test_R4_R8_R9_one_item_from_queue_to_publication_through_the_desk_forms(
        server: TestServer, page: Any, shots: Shots) -> None:
    async with server.app[keys.SESSIONMAKER].begin() as session:
        await seed_demo_accounts(session, server.app[keys.CLOCK].now(), hasher=FAST_HASHER)
    envelope = Envelope(channel=Channel.SMS_MODEM, external_id="desk-flow", text="五四路路灯不亮，晚上很黑",
                        sender="+8613905910001", reply_address="+8613905910001",
                        received_at=server.app[keys.CLOCK].now())
    await server.app[keys.INTAKE](envelope)

    await sign_in(server, page, "city", "/desk/queue")
    await shots.take(page, "city-queue")
    await page.click(f"#section-queue >> text={NUMBER}")
    await page.wait_for_selector("#act-accept")
    await shots.take(page, "city-registered-case")
    await act(page, "#btn-accept", "#act-dispatch")
    suggestions = await page.inner_text("#suggestions")
    assert suggestions.index("福州市城市管理委员会") < len(suggestions)
    assert await page.input_value("#dispatch-unit") == ""  # suggested, never pre-applied
    await shots.take(page, "city-dispatch-form")
    await page.select_option("#dispatch-unit", "city-urban")
    await act(page, "#btn-dispatch", "#assignments >> text=已交办未阅")
    assert await page.locator("#act-dispatch").count() == 0

    await sign_in(server, page, "urban", "/desk/inbox")
    await shots.take(page, "urban-inbox")
    await page.click(f"#section-inbox >> text={NUMBER}")
    await page.wait_for_selector("[id^=btn-read-]")
    await act(page, "[id^=btn-read-]", "[id^=btn-draft-]")
    await page.fill("[id^=answer-]", "已派人维修，五四路路灯已恢复照明。")
    await page.check(".complex-toggle")
    await page.fill("[id^=done-]", "更换了灯杆线路")
    await page.fill("[id^=problems-]", "线路老化")
    await page.fill("[id^=measures-]", "年内改造整条线路")
    await shots.take(page, "urban-draft")
    await act(page, "[id^=btn-draft-]", "#assignments >> text=已起草待审批")
    assert await page.locator("[id^=btn-approve-]").count() == 0  # R8.2c: not the handler's

    await sign_in(server, page, "urban-leader", "/desk/inbox")
    await shots.take(page, "leader-inbox")
    await page.click(f"#section-approvals >> text={NUMBER}")
    await act(page, "[id^=btn-approve-]", "#assignments >> text=领导已审批")

    await sign_in(server, page, "urban", "/desk/inbox")
    await page.click(f"#section-inbox >> text={NUMBER}")
    await act(page, "[id^=btn-submit-]", "#assignments >> text=已提交待审核")
    await shots.take(page, "urban-submitted")

    await sign_in(server, page, "city", "/desk/queue")
    await page.click(f"#section-review >> text={NUMBER}")
    await page.wait_for_selector("[id^=btn-pass-]")
    await shots.take(page, "city-review")
    await act(page, "[id^=btn-pass-]", "#btn-publish")
    await shots.take(page, "city-publication")
    await act(page, "#btn-publish", "#no-actions")
    assert await page.inner_text("#case-status") == "已办结"
    assert "下一步措施：年内改造整条线路" in await page.inner_text("#answer-text")
    await shots.take(page, "city-closed")
