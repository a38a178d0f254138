"""The agent console in Chromium: a popped call logged by keyboard only, and a fax typed in (R5.1, R8.5)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestServer

from channels.fax_smtp.document import analyse
from channels.fax_smtp.envelope import build_envelope
from channels.fax_smtp.parse import parse_fax_mail
from contract.envelope import Channel, Envelope
from desks.access.accounts import demo_password, seed_demo_accounts
from desks.console import announce_call
from intake import keys
from tests.browser.conftest import Shots
from tests.forwarder.api_kit import FAST_HASHER

FAX_FIXTURE = (Path(__file__).resolve().parents[1] / "channels" / "fax_smtp" / "fixtures"
               / "hylafax_faxrcvd_two_pages_tiff.eml")
CALLER = "+8613805912345"


async def sign_in_as_agent(server: TestServer, page: Any) -> None:
    async with server.app[keys.SESSIONMAKER].begin() as session:
        await seed_demo_accounts(session, server.app[keys.CLOCK].now(), hasher=FAST_HASHER)
    await page.goto(str(server.make_url("/desk/login")))
    await page.fill("input[name=username]", "agent")
    await page.fill("input[name=password]", demo_password("agent"))
    await page.press("input[name=password]", "Enter")
    await page.wait_for_url("**/desk/console")


async def test_R5_1_agent_logs_a_popped_call_with_the_keyboard_only(
        server: TestServer, page: Any, shots: Shots) -> None:
    earlier = Envelope(channel=Channel.SMS_MODEM, external_id="earlier", text="五四路夜间施工噪音扰民",
                       sender=CALLER, reply_address=CALLER, received_at=server.app[keys.CLOCK].now())
    before = await server.app[keys.INTAKE](earlier)
    await sign_in_as_agent(server, page)
    await page.wait_for_selector("#ws-state[data-state=on]")
    assert await page.evaluate("document.activeElement.id") == "caller"

    assert await announce_call(server.app, CALLER) == 1
    from playwright.async_api import expect  # here: the browser fixtures skip when it is missing

    await expect(page.locator("#caller")).to_have_value(CALLER)
    await page.wait_for_selector(f"#history li >> text={before.case_number}")
    assert "此前共有 1 件诉求" in await page.inner_text("#history-status")
    assert await page.evaluate("document.activeElement.id") == "name"

    keyboard = page.keyboard
    await keyboard.type("王先生")
    await keyboard.press("Tab")
    await keyboard.type("五四路夜间施工噪音又来了，凌晨两点还在打桩")
    await keyboard.press("Tab")
    await keyboard.press("ArrowDown")  # category: 城管
    await keyboard.press("Tab")
    await keyboard.press("ArrowDown")  # district: the first of the organisation
    await keyboard.press("Tab")  # publication: keep 同意公开
    await keyboard.press("Tab")
    await keyboard.type("五四路 120 号工地")
    assert await page.input_value("#category") == "城管"
    await shots.take(page, "console-filled")
    await keyboard.press("Control+Enter")
    await page.wait_for_selector("#case-number")
    await shots.take(page, "console-receipt")
    number = await page.inner_text("#case-number")
    assert number == "FZ12345-20261124-000002" and len(await page.inner_text("#query-code")) == 8
    assert await page.locator("#emergency-advice").count() == 0

    await keyboard.press("F2")  # the next call: a clean form, the caller field focused
    assert await page.evaluate("document.activeElement.id") == "caller"
    await keyboard.type("13805912345")
    await keyboard.press("Tab")
    await keyboard.press("Tab")
    await keyboard.type("小区电梯坏了，有人被困电梯里")
    await page.wait_for_selector("#live-emergency:not([hidden])")
    await page.wait_for_selector("#history li >> nth=1")  # both earlier cases of this caller
    await shots.take(page, "console-live-emergency")
    assert "119" in await page.inner_text("#live-emergency")


async def test_R5_1_fax_pages_are_shown_beside_the_transcription_box(
        server: TestServer, page: Any, shots: Shots) -> None:
    raw = FAX_FIXTURE.read_bytes()
    mail = parse_fax_mail(raw)
    infos = [analyse(doc, max_pages=20, thumbnail_pages=5, thumbnail_width=800) for doc in mail.documents]
    envelope = build_envelope(mail, infos, raw, received_at=server.app[keys.CLOCK].now(),
                              ocr_text="〔第1页〕\n市民来信：鼓楼区五四路工地夜间施工噪音扰民\n每晚十一点后仍在施工")
    receipt = await server.app[keys.INTAKE](envelope)
    await sign_in_as_agent(server, page)
    await page.goto(str(server.make_url("/desk/console/faxes")))
    await shots.take(page, "fax-list")
    await page.click(f"text={receipt.case_number}")
    # Both pages arrive through /desk/attachments and decode (decode() rejects a broken image).
    # One evaluate awaiting a promise: wait_for_function would need eval, which the CSP forbids.
    widths = await page.evaluate(
        "Promise.all([...document.querySelectorAll('img.fax-page')]"
        ".map(i => i.decode().then(() => i.naturalWidth)))")
    assert len(widths) == 2 and all(w > 0 for w in widths)
    assert await page.is_visible("#machine-text-note")
    await shots.take(page, "fax-transcription")
    await page.fill("#text", "市民来信：鼓楼区五四路工地夜间施工噪音扰民，每晚十一点后仍在施工，请尽快处理。")
    await page.select_option("#category", "住建")  # filed like a call (issue 13 item 3)
    await page.press("#text", "Control+Enter")
    await page.wait_for_selector("#saved")
    assert await page.is_visible("#no-faxes")
    await shots.take(page, "fax-saved")
