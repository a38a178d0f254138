"""The findings desk in Chromium: a unit contests an R11.2b charge within its window, the city
efficiency office withdraws it and issues a notice by hand (R11.2b, R11.1, issue 15.3)."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestServer
from sqlalchemy import select

from contract.clock import FixedClock
from contract.envelope import Channel, Envelope
from desks.staff.deps import DESK
from forwarder import workflow as wf
from forwarder.findings import record_charge
from forwarder.workflow_base import unit_by_code
from registrar.attachments import AttachmentStore
from registrar.models import Case
from registrar.registration import register
from tests.browser.conftest import Shots
from tests.browser.test_desk_admin import _seed, _sign_in
from tests.forwarder import kit


async def _charged(server: TestServer, clock: FixedClock, tmp_path: Any) -> int:
    """A case dispatched to city-urban and the R11.2b finding the sweeper would record."""
    deps = server.app[DESK]
    envelope = Envelope(channel=Channel.SMS_MODEM, external_id="f-1", received_at=clock.now(),
                        text="五四路路灯不亮已经一周", sender="+8613905910001",
                        reply_address="+8613905910001")
    async with deps.sessionmaker.begin() as session:
        number = (await register(session, envelope, clock=clock, store=AttachmentStore(tmp_path),
                                 due=deps.ctx.due)).case.number
        await wf.accept(session, deps.ctx, number, kit.CITY)
        [lead] = await wf.dispatch(session, deps.ctx, number, "city-urban", kit.CITY)
        case = (await session.execute(select(Case).where(Case.number == number))).scalar_one()
        urban = await unit_by_code(session, "city-urban")
        made = record_charge(session, case=case, assignment_id=lead.id, charged=urban, late=urban,
                             persons=["郑建华"], at=clock.now())
        await session.flush()
        return made.id


async def test_issue15_unit_contests_and_the_office_withdraws_and_notifies(
        server: TestServer, page: Any, shots: Shots, clock: FixedClock, tmp_path: Any) -> None:
    await _seed(server)
    fid = await _charged(server, clock, tmp_path)

    await _sign_in(page, server, "urban")
    await page.click("nav >> text=效能认定")
    await page.wait_for_selector(f"#f{fid}")
    assert "待认定" in await page.inner_text(f"#f{fid}")
    await page.fill(f"tr[data-detail='{fid}'] form.contest input[name=reason]", "当日全市停电，系统无法登录")
    await page.click(f"tr[data-detail='{fid}'] form.contest button[type=submit]")
    await page.wait_for_selector("#done")
    assert "申诉已提交" in await page.inner_text("#done")
    assert "申诉中" in await page.inner_text(f"#f{fid}")
    await shots.take(page, "unit-contested")
    await page.click("text=退出")

    await _sign_in(page, server, "efficiency")
    await page.goto(str(server.make_url("/desk/supervision/findings?status=contested")))
    detail = f"tr[data-detail='{fid}']"
    assert "当日全市停电" in await page.inner_text(detail)
    await page.select_option(f"{detail} form.decide select[name=decision]", "withdraw")
    await page.fill(f"{detail} form.decide input[name=reason]", "停电属实，撤销通报")
    await page.click(f"{detail} form.decide button[type=submit]")
    await page.wait_for_selector("#done")
    assert "已撤销" in await page.inner_text(f"#f{fid}")
    assert "停电属实，撤销通报" in await page.inner_text(detail)

    await page.click("#notice-panel summary")
    await page.select_option("#notice-unit", "city-urban")
    await page.fill("#notice-reason", "多次推诿群众诉求")
    await page.click("#notice-form button[type=submit]")
    await page.wait_for_selector("#done")
    assert "通报已发出" in await page.inner_text("#done")
    assert "多次推诿群众诉求" in await page.inner_text("#findings")
    await shots.take(page, "office-withdrew-and-notified")
