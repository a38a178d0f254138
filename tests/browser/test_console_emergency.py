"""In Chromium: the console's emergency key (R3.8) and a voicemail that plays and seeks in the case page.

The phone line is the stand-in of ``tests/intake/test_console_emergency.py`` (served on
the app's call control; SIP itself is ``tests/channels/sip/test_emergency*.py``): this
checks what the agent's browser does — the pop arms the key, F8 then 3 asks for 120,
a refusal is shown at once, the case registered during the call gets the log.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestServer
from sqlalchemy import select

from contract.envelope import Attachment, Channel, Envelope
from desks.console import announce_call
from intake import keys
from intake.call_control import SharedCalls
from registrar.models import Case, Event
from tests.browser.test_console import sign_in_as_agent
from tests.intake.test_console import _wav
from tests.intake.test_console_emergency import CALL, CALLER_E164, Line


async def test_R3_8_f9_then_3_asks_for_120_shows_the_refusal_and_logs_on_the_calls_case(
        server: TestServer, page: Any) -> None:
    from playwright.async_api import expect  # here: the browser fixtures skip when it is missing

    line = Line({"120": (False, 486, "refused"), "110": (True, 200, "")})
    calls = server.app[keys.CALLS]
    calls.serve(line)
    if isinstance(calls, SharedCalls):
        async with asyncio.timeout(10):
            await calls.listening.wait()
    await sign_in_as_agent(server, page)
    await page.wait_for_selector("#ws-state[data-state=on]")
    await expect(page.locator("button[data-service='120']")).to_be_disabled()  # no live call yet
    assert await announce_call(server.app, CALLER_E164, call=CALL) == 1
    await expect(page.locator("#emergency-call")).to_contain_text(CALLER_E164)
    # The agent registers the call while talking; the page reloads with the case number.
    await page.fill("#text", "家中老人突然晕倒，需要急救")
    await page.select_option("#category", index=1)
    await page.click("#submit")
    number = (await page.inner_text("#case-number")).strip()
    await expect(page.locator("#emergency-call")).to_contain_text(number)
    await page.keyboard.press("F8")
    await page.keyboard.press("3")
    result = page.locator("#emergency-result")
    await expect(result).to_have_text("转接120（急救）失败：对方线路拒接或忙（SIP 486）；来电仍与您通话")
    await expect(result).to_have_class("error")
    await expect(page.locator("button[data-service='110']")).to_be_enabled()  # still with the caller
    await page.click("button[data-service='110']")
    await expect(result).to_have_text("已转接110（报警），坐席通话已结束")
    await expect(page.locator("button[data-service='110']")).to_be_disabled()  # the call is gone
    async with server.app[keys.SESSIONMAKER]() as session:
        cases = list((await session.execute(select(Case.number))).scalars())
        logged = list((await session.execute(select(Event.data).where(
            Event.action == "emergency_transfer").order_by(Event.id))).scalars())
    assert cases == [number]  # logged on the agent's case, no second one
    assert [(e["service"], e["outcome"]) for e in logged] == [("120", "failed"), ("110", "connected")]


async def test_voicemail_plays_and_seeks_in_the_case_page(server: TestServer, page: Any) -> None:
    wav = _wav(3.0)
    voice = Envelope(channel=Channel.PHONE, external_id="sip:voicemail-1", text="【电话留言】待人工听写",
                     sender=CALLER_E164, reply_address=CALLER_E164,
                     received_at=server.app[keys.CLOCK].now(),
                     attachments=(Attachment("voicemail-1.wav", "audio/wav", wav),))
    receipt = await server.app[keys.INTAKE](voice)
    await sign_in_as_agent(server, page)
    await page.goto(str(server.make_url(f"/desk/cases/{receipt.case_number}")))
    seek = await page.evaluate("""async () => {
        const audio = document.querySelector("audio.recording");
        if (audio.readyState < 1) await new Promise((ok, bad) => {
            audio.addEventListener("loadedmetadata", ok); audio.addEventListener("error", bad); });
        const seekable = audio.seekable.length ? audio.seekable.end(0) : 0;
        audio.currentTime = 2.0;
        await new Promise((ok) => audio.addEventListener("seeked", ok, {once: true}));
        return {duration: audio.duration, seekable, at: audio.currentTime, error: audio.error};
    }""")
    assert abs(seek["duration"] - 3.0) < 0.05 and abs(seek["seekable"] - 3.0) < 0.05, seek
    assert abs(seek["at"] - 2.0) < 0.05 and seek["error"] is None, seek
