"""A SIP call pops THE agent's console in Chromium: SIPp calls the line and presses 0.

The agent signs in, gives their phone's SIP address on the console (a SIPp
``-sn uas`` on a free port plays the phone) and is available. SIPp calls the
line (the whole app, its SIP worker started through the channel registry),
presses 0: the line claims the agent, rings that phone, bridges the call and
pops the caller on that agent's console, whose status shows "on a call"; after
the caller's BYE the status is back to available. Needs Chromium and SIPp
(skips on a laptop without them, fails on CI).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from config.settings import Settings
from desks.access.accounts import create_account, demo_password
from intake import keys
from registrar.models import Role
from tests.browser.conftest import Shots
from tests.browser.kit import seed_accounts, sign_in
from tests.channels.sip import sipp
from tests.channels.sip.sipp import HangUpAfter, Key, Pause
from tests.channels.sip.test_agents import _free_udp_port
from tests.conftest import make_settings
from tests.forwarder.api_kit import FAST_HASHER

CALLER = "+8613805912345"


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    """The phone line on, on free ports, with short menu timers."""
    return make_settings(db_url, tmp_path / "data", sip={
        "enabled": True, "port": 0, "rtp_port_start": 0, "choice_timeout_s": 2.0,
        "digit_timeout_s": 2.0, "agent_ring_s": 10.0})


async def _other_agent(server: TestServer, browser: Any) -> Any:
    """A second agent, ``aa`` (before ``agent`` by name), signed in on a console of their own."""
    async with server.app[keys.SESSIONMAKER].begin() as session:
        await create_account(session, username="aa", display_name="王坐席", role=Role.AGENT,
                             unit_code="service-centre", password=demo_password("aa"),
                             now=server.app[keys.CLOCK].now(), hasher=FAST_HASHER)
    context = await browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    other = await context.new_page()
    other.set_default_timeout(15_000)
    await sign_in(server, other, "aa")
    await other.wait_for_selector("#ws-state[data-state=on]")
    return other


async def test_a_call_on_the_line_pops_the_console_of_the_agent_whose_phone_rings(
        server: TestServer, browser: Any, page: Any, shots: Shots, tmp_path: Path) -> None:
    sipp.sipp_binary()  # skips (or fails on CI) before the browser work when SIPp is missing
    from playwright.async_api import expect

    phone_port = _free_udp_port()
    phone = f"sip:agent@127.0.0.1:{phone_port}"
    await seed_accounts(server)
    await sign_in(server, page, "agent")
    await page.wait_for_url("**/desk/console")
    await page.wait_for_selector("#ws-state[data-state=on]")
    await page.fill("#agent-sip", "sip:<script>@x")
    await page.click("#agent-sip-save")
    await expect(page.locator("#agent-error")).to_contain_text("不是有效的 SIP 地址")
    await page.fill("#agent-sip", phone)
    await page.click("#agent-sip-save")
    status = page.locator("#agent-status")
    await expect(status).to_have_attribute("data-status", "available")
    await expect(page.locator("#agent-error")).to_be_hidden()
    await shots.take(page, "available")
    # Another agent becomes available later: "agent" has been idle longest and gets the call;
    # the other's phone (nothing answers there) never rings and their console never pops.
    server.app[keys.CLOCK].advance(timedelta(seconds=5))  # type: ignore[attr-defined]
    other = await _other_agent(server, browser)
    await other.fill("#agent-sip", f"sip:aa@127.0.0.1:{_free_udp_port()}")
    await other.click("#agent-sip-save")
    await expect(other.locator("#agent-status")).to_have_attribute("data-status", "available")

    answering = asyncio.create_task(sipp.run("", None, tmp_path / "phone", builtin="uas",
                                             timeout_s=40, extra=("-p", str(phone_port))))
    line = f"127.0.0.1:{server.app[keys.BOUND_PORTS]['sip.sip']}"
    xml = sipp.scenario([Pause(300), Key("0"), HangUpAfter(8000)])
    calling = asyncio.create_task(sipp.run(line, xml, tmp_path / "caller", timeout_s=40))

    await expect(page.locator("#caller")).to_have_value(CALLER)
    await expect(status).to_have_attribute("data-status", "on_call")
    await expect(page.locator("#agent-caller")).to_have_text(CALLER)
    await expect(page.locator("#history-status")).to_contain_text("此前没有诉求记录")
    await shots.take(page, "on-a-call")

    caller, answered = await calling, await answering
    assert caller.successful == 1, caller.output
    assert answered.successful == 1, answered.output  # the agent's phone rang, answered, got BYE
    await expect(status).to_have_attribute("data-status", "available")
    await expect(page.locator("#agent-call")).to_contain_text("上一通来电")
    await shots.take(page, "after-the-call")
    await expect(other.locator("#caller")).to_have_value("")
    await expect(other.locator("#agent-call")).to_be_hidden()
    await expect(other.locator("#agent-status")).to_have_attribute("data-status", "available")

    # Away: the next caller gets no agent (there is none other and no fixed list).
    await page.keyboard.press("F9")
    await expect(status).to_have_attribute("data-status", "away")
