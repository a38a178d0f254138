"""Issue 13 items 9 and 10: the citizen form says how to fix an input before it fails, never
loses a photo silently, and asks for consent to publish instead of assuming it."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestServer
from PIL import Image
from sqlalchemy import select

from contract.clock import FixedClock
from intake import keys
from intake.app import create_app
from registrar.models import AttachmentRecord, Case, Contact
from tests.browser.conftest import Shots
from tests.channels.web.test_citizen_form import CALLING_WORKER
from tests.conftest import make_settings


def _photo(tmp_path: Path) -> Path:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 40)).save(buffer, format="JPEG")
    path = tmp_path / "井盖现场.jpg"
    path.write_bytes(buffer.getvalue())
    return path


async def test_consent_to_publish_is_not_pre_ticked_and_must_be_chosen(
        server: TestServer, page: Any, shots: Shots) -> None:
    await page.goto(str(server.make_url("/")))
    assert await page.locator("input[name=public]:checked").count() == 0
    await page.fill("#text", "仓山区金山大道井盖缺失，夜间很危险")
    await page.fill("#phone", "13805912345")
    await page.click("button[type=submit]")
    await page.wait_for_selector("#public-error:not([hidden])")
    assert "同意公开" in await page.inner_text("#public-error")
    await shots.take(page, "consent-asked")
    await page.check("input[name=public][value=no]")
    await page.click("button[type=submit]")
    await page.wait_for_selector("#case-number")
    async with server.app[keys.SESSIONMAKER]() as session:
        case = (await session.execute(select(Case))).scalar_one()
    assert case.public_allowed is False


async def test_the_contact_rule_is_shown_first_and_errors_say_how_to_fix_them(
        server: TestServer, page: Any, shots: Shots, tmp_path: Path) -> None:
    await page.goto(str(server.make_url("/")))
    assert "至少填写一项" in await page.inner_text("#contact-hint")
    await page.fill("#text", "仓山区金山大道井盖缺失，夜间很危险")
    await page.set_input_files("#attachments", str(_photo(tmp_path)))
    await page.check("input[name=public][value=yes]")
    await page.click("button[type=submit]")  # neither phone nor email
    await page.wait_for_selector("#phone-error:not([hidden])")
    assert "至少留下手机号码或电子邮箱" in await page.inner_text("#phone-error")
    await page.fill("#phone", "1380591")
    await page.fill("#phone", "12345")
    await page.click("button[type=submit]")
    assert "请填写 11 位手机号码" in await page.inner_text("#phone-error")
    assert await page.evaluate("document.activeElement.id") == "phone"
    # Checked in the page: the photo is still chosen, nothing was sent.
    assert await page.evaluate("document.getElementById('attachments').files.length") == 1
    await shots.take(page, "phone-error-photo-kept")
    await page.fill("#phone", "13805912345")
    await page.click("button[type=submit]")
    await page.wait_for_selector("#case-number")
    async with server.app[keys.SESSIONMAKER]() as session:
        names = (await session.execute(select(AttachmentRecord.filename))).scalars().all()
    assert list(names) == ["井盖现场.jpg"]


async def test_a_photo_the_server_sent_back_is_named_to_be_attached_again(
        server: TestServer, page: Any, shots: Shots, tmp_path: Path) -> None:
    notes = tmp_path / "说明.txt"
    notes.write_text("不是图片")
    await page.goto(str(server.make_url("/")))
    await page.fill("#text", "仓山区金山大道井盖缺失，夜间很危险")
    await page.fill("#phone", "13805912345")
    await page.check("input[name=public][value=yes]")
    await page.set_input_files("#attachments", [str(_photo(tmp_path)), str(notes)])
    await page.click("button[type=submit]")
    await page.wait_for_selector("#reattach-notice")
    assert "井盖现场.jpg" in await page.inner_text("#reattach-notice")
    assert "重新选择" in await page.inner_text("#attachments-error")
    assert await page.get_attribute("#attachments", "aria-invalid") == "true"
    assert await page.input_value("#text") == "仓山区金山大道井盖缺失，夜间很危险"
    await shots.take(page, "photo-to-attach-again")


async def test_answer_by_call_is_a_labelled_choice_reached_by_keyboard(
        db_url: str, tmp_path: Path, clock: FixedClock, page: Any, shots: Shots) -> None:
    """答复方式 (issue 14): two labelled radios in a fieldset, 短信 chosen, its error in Chinese."""
    settings = make_settings(db_url, tmp_path / "data", worker=CALLING_WORKER)
    server = TestServer(create_app(settings, clock=clock), host="127.0.0.1")
    await server.start_server()
    try:
        await page.goto(str(server.make_url("/")))
        group = page.get_by_role("group", name="答复方式（填写了电话号码时）")
        assert await group.get_by_role("radio", name="短信").is_checked()
        call = group.get_by_role("radio", name="电话（工作时间来电播报答复）")
        await page.fill("#text", "仓山区金山大道井盖缺失，夜间很危险")
        await page.fill("#email", "citizen@example.cn")
        await page.check("input[name=public][value=yes]")
        await page.focus("input[name=reply_by][value=sms]")
        await page.keyboard.press("ArrowDown")  # radios move with the arrow keys
        assert await call.is_checked()
        await page.click("button[type=submit]")
        await page.wait_for_selector("#reply_by-error:not([hidden])")
        assert "请填写电话号码" in await page.inner_text("#reply_by-error")
        await shots.take(page, "call-needs-a-phone")
        await page.fill("#phone", "13805912345")
        await page.click("button[type=submit]")
        await page.wait_for_selector("#case-number")
        async with server.app[keys.SESSIONMAKER]() as session:
            assert (await session.execute(select(Contact.prefers_call).where(
                Contact.kind == "phone"))).scalar_one() is True
    finally:
        await server.close()
