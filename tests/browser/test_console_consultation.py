"""Issue 13 item 2: the city bureau keeps policy answers in the knowledge base; an agent answers
a consultation from it on the call, and the item is registered and closed with that answer
and its source; a repeat caller's chase is recorded on the open item, no new item."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestServer
from sqlalchemy import func, select

from desks.staff.deps import DESK
from intake import keys
from registrar.models import Case, CaseStatus, Classification, Event
from tests.browser.conftest import Shots
from tests.browser.kit import seed_accounts, sign_in, sms_case
from tests.forwarder import kit

ANSWER = "社保关系转移：携带身份证和社保卡，到转入地社保经办机构申请，约 15 个工作日办结。"


async def test_R5_1_consultation_answered_and_closed_from_the_console_with_a_knowledge_entry(
        server: TestServer, page: Any, shots: Shots) -> None:
    await seed_accounts(server)
    await sign_in(server, page, "city")
    await page.goto(str(server.make_url("/desk/knowledge")))
    await page.fill("#kb-title", "社保关系转移怎么办理")
    await page.select_option("#kb-category", "人社")
    await page.fill("#kb-source", "榕人社〔2026〕12号")
    await page.fill("#kb-body", ANSWER)
    await page.click("#kb-save")
    await page.wait_for_selector("#done")
    assert "社保关系转移怎么办理" in await page.inner_text("#kb-entries")
    await shots.take(page, "knowledge-entry-added")

    await sign_in(server, page, "agent")
    await page.fill("#caller", "13805912345")
    await page.fill("#text", "请问社保关系从外地转到福州怎么办理？")
    await page.select_option("#category", "人社")
    await page.fill("#kb-q", "社保关系")
    await page.wait_for_selector("#kb-use-0")
    assert "榕人社〔2026〕12号" in await page.inner_text("#kb-results")
    await page.click("#kb-use-0")
    assert await page.input_value("#answer") == ANSWER
    assert "榕人社〔2026〕12号" in await page.input_value("#kb_source")
    await shots.take(page, "consultation-ready")
    await page.click("#consult-submit")
    await page.wait_for_selector("#consulted")
    assert "已当场解答并办结" in await page.inner_text("#consulted")
    number = await page.inner_text("#case-number")
    await shots.take(page, "consultation-closed")
    async with server.app[keys.SESSIONMAKER]() as session:
        case = (await session.execute(select(Case).where(Case.number == number))).scalar_one()
    assert (case.status, case.classification, case.answer_text) == (
        CaseStatus.CLOSED, Classification.CONSULTATION, ANSWER)

    await sign_in(server, page, "city")
    await page.goto(str(server.make_url("/desk/knowledge")))
    assert await page.inner_text("#consultations") == "1"  # counted apart in the figures
    await page.goto(str(server.make_url(f"/desk/cases/{number}")))
    assert "咨询当场解答并办结" in await page.inner_text("#history")
    await shots.take(page, "consultation-on-the-case-page")


async def test_R8_5_repeat_caller_chase_is_recorded_on_the_open_item(
        server: TestServer, page: Any, shots: Shots) -> None:
    await seed_accounts(server)
    earlier = await sms_case(server, "五四路路灯不亮，晚上很黑", sender="+8613805912345")
    async with server.app[keys.SESSIONMAKER].begin() as session:
        await kit.dispatched(session, server.app[DESK].ctx, earlier.case_number)
    await sign_in(server, page, "agent")
    await page.fill("#caller", "13805912345")
    await page.fill("#text", "上周反映的路灯还没修好，问一下进度")
    button = page.locator(f"[data-urge='{earlier.case_number}']")
    await button.wait_for()
    await button.click()
    await page.wait_for_selector(".urged")
    assert "未新建诉求" in await page.inner_text(".urged")
    await shots.take(page, "chase-recorded")
    async with server.app[keys.SESSIONMAKER]() as session:
        assert await session.scalar(select(func.count(Case.id))) == 1
        urged = (await session.execute(select(Event).where(Event.action == "urged"))).scalar_one()
    assert urged.reason == "上周反映的路灯还没修好，问一下进度"
