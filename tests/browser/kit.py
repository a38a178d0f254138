"""Helpers the issue-13 browser tests share: demo accounts, signing in, phone-sized pages."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestServer

from contract.envelope import Channel, Envelope, Receipt
from desks.access.accounts import demo_password, seed_demo_accounts
from intake import keys
from tests.forwarder.api_kit import FAST_HASHER

PHONE_VIEWPORT = {"width": 390, "height": 844}


async def seed_accounts(server: TestServer) -> None:
    """Every demo account (password ``demo-12345-<username>``), hashed fast for tests."""
    async with server.app[keys.SESSIONMAKER].begin() as session:
        await seed_demo_accounts(session, server.app[keys.CLOCK].now(), hasher=FAST_HASHER)


async def sign_in(server: TestServer, page: Any, user: str) -> None:
    """Sign in through the login form, as a person would, from a clean cookie jar."""
    await page.context.clear_cookies()
    await page.goto(str(server.make_url("/desk/login")))
    await page.fill("#username", user)
    await page.fill("#password", demo_password(user))
    await page.press("#password", "Enter")
    await page.wait_for_load_state()


async def sms_case(server: TestServer, text: str, *, sender: str = "+8613905910001",
                   external_id: str = "sms-1") -> Receipt:
    """Register an SMS item through the intake sink, like the modem would."""
    envelope = Envelope(channel=Channel.SMS_MODEM, external_id=external_id, text=text,
                        sender=sender, reply_address=sender,
                        received_at=server.app[keys.CLOCK].now())
    return await server.app[keys.INTAKE](envelope)


async def phone_page(browser: Any) -> Any:
    """A page the size of a phone held upright (390×844), in Chinese, touch enabled."""
    context = await browser.new_context(viewport=PHONE_VIEWPORT, locale="zh-CN",
                                        has_touch=True, is_mobile=True, device_scale_factor=1)
    page = await context.new_page()
    page.set_default_timeout(15_000)
    return page
