"""The citizen portal through the app: status lookup, rating, public answers (R9.3, R12.1)."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from config.settings import Settings
from contract.clock import FixedClock
from contract.envelope import Channel, Envelope
from forwarder import workflow as wf
from forwarder.calendar import WorkingCalendar
from forwarder.due import CalendarDuePolicy
from forwarder.workflow_base import Context
from registrar.attachments import AttachmentStore
from registrar.db import create_engine, make_sessionmaker
from registrar.models import Rating
from registrar.registration import register
from tests.forwarder.kit import CITY, URBAN, answer_and_submit

Client = TestClient[Any, Any]


async def closed_case(settings: Settings, clock: FixedClock, *, text: str, public: bool = True,
                      answer: str = "已修复。", name: str | None = None) -> tuple[str, str]:
    """Register and drive a case to closed through the workflow; (number, query code)."""
    engine = create_engine(settings.database_url)
    ctx = Context(clock=clock, due=CalendarDuePolicy(WorkingCalendar.load()))
    try:
        async with make_sessionmaker(engine).begin() as s:
            case = (await register(s, Envelope(
                channel=Channel.SMS_MODEM, external_id=f"p-{text[:8]}", received_at=clock.now(),
                text=text, sender="+8613905910001", reply_address="+8613905910001",
                display_name=name, public_allowed=public), clock=clock,
                store=AttachmentStore(settings.attachments_dir), due=ctx.due)).case
            [lead] = await _dispatch(s, ctx, case.number)
            await answer_and_submit(s, ctx, lead.id, URBAN, answer)
            await wf.review(s, ctx, lead.id, passed=True, actor=CITY)
            await wf.decide_publication(s, ctx, case.number, publish=public, actor=CITY)
            return case.number, case.query_code
    finally:
        await engine.dispose()


async def _dispatch(s: Any, ctx: Context, number: str) -> Any:
    await wf.accept(s, ctx, number, CITY)
    return await wf.dispatch(s, ctx, number, "city-urban", CITY)


async def csrf(client: Client, path: str = "/status") -> str:
    page = await (await client.get(path)).text()
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]


async def test_citizen_finds_status_and_answer_with_number_and_query_code(
        client: Client, settings: Settings, clock: FixedClock) -> None:
    number, code = await closed_case(settings, clock, text="五四路路灯不亮")
    token = await csrf(client)
    page = await client.post("/status", data={"csrf": token, "number": number.lower(), "secret": code})
    html = await page.text()
    assert page.status == 200 and "已办结" in html and "已修复。" in html
    by_phone = await client.post("/status", data={"csrf": token, "number": number,
                                                  "secret": "139 0591 0001"})
    # A phone number alone lists the case's number and state, never its text.
    assert by_phone.status == 200 and "已办结" in (phone_html := await by_phone.text())
    assert "五四路" not in phone_html and "已修复" not in phone_html
    wrong = await client.post("/status", data={"csrf": token, "number": number, "secret": "AAAAAAAA"})
    assert wrong.status == 404 and "已修复" not in await wrong.text()
    forged = await client.post("/status", data={"csrf": "x.y", "number": number, "secret": code})
    assert forged.status == 403


async def test_R12_1_citizen_rates_their_own_answered_case_once(
        client: Client, settings: Settings, clock: FixedClock) -> None:
    number, code = await closed_case(settings, clock, text="小区噪音")
    token = await csrf(client)
    form = {"csrf": token, "number": number, "secret": code, "score": "4", "comment": "处理及时"}
    first = await client.post("/status/rate", data=form)
    assert first.status == 200 and "感谢您的评价" in await first.text()
    again = await client.post("/status/rate", data={**form, "score": "1"})
    assert again.status == 400 and "已评价过" in await again.text()
    engine = create_engine(settings.database_url)
    async with make_sessionmaker(engine)() as s:
        rating = (await s.execute(select(Rating))).scalar_one()
        assert (rating.score, rating.comment) == (4, "处理及时")
    await engine.dispose()


async def test_R9_3_public_answers_are_listed_masked_and_internal_ones_never(
        client: Client, settings: Settings, clock: FixedClock) -> None:
    await closed_case(settings, clock, text="我是张建国，电话13805912345，楼下<script>alert(1)</script>噪音",
                      answer="已联系张建国（13805912345）处理。", name="张建国")
    await closed_case(settings, clock, text="内部办理的事项", public=False, answer="内部答复")
    page = await client.get("/answers")
    html = await page.text()
    assert page.status == 200 and "共 1 条" in html
    assert "13805912345" not in html and "张建国" not in html and "138****2345" in html
    assert "<script>alert(1)" not in html and "&lt;script&gt;" in html
    assert "内部" not in html
    found = await client.get("/answers", params={"q": "噪音"})
    assert "共 1 条" in await found.text()
    number = re.search(r'href="/answers/([^"]+)"', html).group(1)  # type: ignore[union-attr]
    one = await client.get(f"/answers/{number}")
    assert one.status == 200 and "已联系张**（138****2345）处理。" in await one.text()
    assert (await client.get("/answers/FZ12345-20261124-999999")).status == 404
