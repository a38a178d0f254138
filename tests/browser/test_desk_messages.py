"""Issue 13 items 4 and 6: a desk action ends with a success message; a refusal reads as a
Chinese sentence with its rule ID in the tooltip, not in the words."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestServer

from tests.browser.conftest import Shots
from tests.browser.kit import seed_accounts, sign_in, sms_case


async def test_R8_7_refusal_in_chinese_and_success_message_after_each_action(
        server: TestServer, page: Any, shots: Shots) -> None:
    await seed_accounts(server)
    receipt = await sms_case(server, "五四路路灯不亮，另外小区门口垃圾没人清运")
    await sign_in(server, page, "city")
    await page.goto(str(server.make_url(f"/desk/cases/{receipt.case_number}")))
    await page.click("#btn-accept")
    await page.wait_for_selector("#flash.ok:not([hidden])")
    assert await page.inner_text("#flash") == "已受理"
    await shots.take(page, "accepted-message")

    await page.fill("#part-1", "五四路路灯不亮")
    await page.click("#split-form button[type=submit]")
    await page.wait_for_selector("#flash.error:not([hidden])")
    message = await page.inner_text("#flash")
    assert "拆分至少需要两项" in message
    assert re.findall(r"[A-Za-z]{2,}", message) == []
    await shots.take(page, "split-refused")
