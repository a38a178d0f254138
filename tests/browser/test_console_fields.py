"""Issue 13 item 3: a fax is filed with a call's fields, labelled as fax transcription; the
district is typed (name, start of it or pinyin) or taken from the text; a form sent back
puts the cursor on the first field in error, marked."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestServer
from sqlalchemy import select

from channels.fax_smtp.document import analyse
from channels.fax_smtp.envelope import build_envelope
from channels.fax_smtp.parse import parse_fax_mail
from intake import keys
from registrar.models import Case, CaseContact, Contact
from tests.browser.conftest import Shots
from tests.browser.kit import seed_accounts, sign_in
from tests.browser.test_console import FAX_FIXTURE


async def test_R5_1_fax_is_filed_with_category_district_and_reply_number(
        server: TestServer, page: Any, shots: Shots) -> None:
    raw = FAX_FIXTURE.read_bytes()
    mail = parse_fax_mail(raw)
    infos = [analyse(doc, max_pages=20, thumbnail_pages=5, thumbnail_width=800) for doc in mail.documents]
    receipt = await server.app[keys.INTAKE](build_envelope(mail, infos, raw,
                                                           received_at=server.app[keys.CLOCK].now()))
    await seed_accounts(server)
    await sign_in(server, page, "agent")
    await page.goto(str(server.make_url(f"/desk/console/faxes/{receipt.case_number}")))
    assert await page.inner_text("h1") == f"传真录入 {receipt.case_number}"
    await page.fill("#text", "仓山区金山大道井盖缺失，夜间很危险，请尽快处理。")
    assert await page.input_value("#district") == "仓山区"  # named in the text
    assert await page.is_visible("#district-auto")
    await page.press("#text", "Control+Enter")  # no category yet: sent back
    await page.wait_for_selector("#form-errors")
    assert await page.evaluate("document.activeElement.id") == "category"
    assert await page.get_attribute("#category", "aria-invalid") == "true"
    assert await page.input_value("#text") == "仓山区金山大道井盖缺失，夜间很危险，请尽快处理。"
    await shots.take(page, "fax-category-missing")
    await page.select_option("#category", "城管")
    await page.fill("#district", "")
    await page.type("#district", "yongtai")
    await page.press("#district", "Tab")
    assert await page.input_value("#district") == "永泰县"
    await page.fill("#reply_to", "13805912345")
    await shots.take(page, "fax-fields-filled")
    await page.press("#text", "Control+Enter")
    await page.wait_for_selector("#saved")
    async with server.app[keys.SESSIONMAKER]() as session:
        case = (await session.execute(select(Case).where(Case.number == receipt.case_number))).scalar_one()
        contacts = (await session.execute(select(Contact.address).join(
            CaseContact, CaseContact.contact_id == Contact.id).where(CaseContact.case_id == case.id)
            .order_by(CaseContact.rank))).scalars().all()
    assert case.district_hint == "永泰县" and "category=城管" in case.notes
    assert contacts[-1] == "+8613805912345"
    await page.goto(str(server.make_url(f"/desk/cases/{receipt.case_number}")))
    history = await page.inner_text("#history")
    assert "传真录入" in history and "语音转写" not in history
    await shots.take(page, "case-history")


async def test_call_form_district_by_typing_and_first_error_focused(
        server: TestServer, page: Any, shots: Shots) -> None:
    await seed_accounts(server)
    await sign_in(server, page, "agent")
    await page.fill("#caller", "13805912345")
    await page.fill("#text", "小区门口垃圾三天没人清运")
    await page.type("#district", "永泰")
    await page.press("#district", "Tab")
    assert await page.input_value("#district") == "永泰县"
    await page.press("#text", "Control+Enter")
    await page.wait_for_selector("#form-errors")
    assert await page.evaluate("document.activeElement.id") == "category"
    assert await page.input_value("#district") == "永泰县"
    await shots.take(page, "call-first-error-focused")
    assert "服务中心" in await page.inner_text("#who")  # the unit's name, not its code
