"""An agent gives their phone's SIP address at sign-in, in Chromium (issue 11: "at console sign-in").

The optional field on the sign-in form is checked like the console's own field
(the same words for a bad address) and stored in the same presence row, so the
console opens with the address and the agent available. Signing in again on this
browser, the field is not shown for that agent (the console remembered that it
has a phone); another username still gets it, and "更换话机" brings it back.
"""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestServer

from desks.access.accounts import demo_password
from intake import keys
from tests.browser.conftest import Shots
from tests.browser.kit import seed_accounts

PHONE = "sip:agent1@10.0.0.21:5060"


async def _open_sign_in(server: TestServer, page: Any, user: str) -> None:
    await page.goto(str(server.make_url("/desk/login")))
    await page.fill("#username", user)
    await page.fill("#password", demo_password(user))


async def test_an_agent_sets_the_phone_at_sign_in_and_is_not_asked_again(
        server: TestServer, page: Any, shots: Shots) -> None:
    from playwright.async_api import expect

    await seed_accounts(server)
    await _open_sign_in(server, page, "agent")
    await expect(page.locator("#login-sip")).to_be_visible()
    await page.fill("#login-sip", "sip:<script>@x")
    await page.press("#password", "Enter")
    await expect(page.locator("p.error")).to_contain_text("话机 SIP 地址：不是有效的 SIP 地址")
    assert await server.app[keys.AGENTS].get("agent") is None  # and nobody was signed in
    assert page.url.endswith("/desk/login")
    await page.fill("#password", demo_password("agent"))
    await page.fill("#login-sip", PHONE)
    await shots.take(page, "sign-in-with-phone")
    await page.press("#password", "Enter")
    await page.wait_for_url("**/desk/console")
    await expect(page.locator("#agent-status")).to_have_attribute("data-status", "available")
    await expect(page.locator("#agent-sip")).to_have_value(PHONE)

    await page.click("text=退出")
    await _open_sign_in(server, page, "agent")
    await expect(page.locator("#login-phone")).to_be_hidden()  # not asked again
    await expect(page.locator("#login-phone-known")).to_be_visible()
    await shots.take(page, "sign-in-phone-known")
    await page.fill("#username", "city")  # someone this browser has not seen with a phone
    await expect(page.locator("#login-sip")).to_be_visible()
    await page.fill("#username", "agent")
    await expect(page.locator("#login-phone")).to_be_hidden()
    await page.click("#login-phone-change")
    await expect(page.locator("#login-sip")).to_be_focused()
    await page.press("#password", "Enter")  # left empty: the stored address stays
    await page.wait_for_url("**/desk/console")
    await expect(page.locator("#agent-sip")).to_have_value(PHONE)
    stored = await server.app[keys.AGENTS].get("agent")
    assert stored is not None and stored.sip_uri == PHONE
