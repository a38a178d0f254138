"""Issue 13 item 11: the receipt confirms the attachments, gives the answer's due date and
links to the status page; the status page names the handling unit, the due date and the
public steps; the rating is in words."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestServer
from PIL import Image
from sqlalchemy import select

from desks.staff.deps import DESK
from forwarder import workflow as wf
from intake import keys
from registrar.models import Rating
from tests.browser.conftest import Shots
from tests.browser.kit import phone_page
from tests.forwarder import kit


async def test_R8_2a_receipt_and_status_say_who_handles_it_by_when_and_what_happened(
        server: TestServer, browser: Any, shots: Shots, tmp_path: Path) -> None:
    photo = tmp_path / "路灯.jpg"
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 20, 30)).save(buffer, format="JPEG")
    photo.write_bytes(buffer.getvalue())
    page = await phone_page(browser)
    await page.goto(str(server.make_url("/")))
    await page.fill("#text", "鼓楼区五四路路灯不亮已经一周")
    await page.fill("#phone", "13805912345")
    await page.check("input[name=public][value=yes]")
    await page.set_input_files("#attachments", str(photo))
    await page.click("button[type=submit]")
    await page.wait_for_selector("#case-number")
    number, code = await page.inner_text("#case-number"), await page.inner_text("#query-code")
    # Registered Tuesday 24 Nov: 1 day to dispatch + 10 to answer → Wednesday 9 Dec.
    assert "2026-12-09" in await page.inner_text("#answer-due")
    assert "已收到 1 个附件：路灯.jpg" in await page.inner_text("#attachments-received")
    await shots.take(page, "receipt")

    await page.click("#status-link")
    assert await page.input_value("#number") == number
    await page.fill("#secret", code)
    await page.press("#secret", "Enter")
    await page.wait_for_selector("#timeline li")
    assert "诉求已登记" in await page.inner_text("#timeline")
    assert "2026-12-09" in await page.inner_text("#answer-due")
    await shots.take(page, "status-registered")

    ctx = server.app[DESK].ctx
    async with server.app[keys.SESSIONMAKER].begin() as session:
        await kit.dispatched(session, ctx, number)
    await page.reload()  # the browser posts the lookup again
    await page.wait_for_selector("#handling-unit")
    assert await page.inner_text("#handling-unit") == "福州市城市管理委员会"
    assert "已转交承办单位办理" in await page.inner_text("#timeline")
    assert "2026-12-08" in await page.inner_text("#answer-due")  # the unit's own clock now
    await shots.take(page, "status-dispatched")

    async with server.app[keys.SESSIONMAKER].begin() as session:
        lead = await kit.lead_of(session, number, "city-urban")
        await kit.answer_and_submit(session, ctx, lead.id, kit.URBAN)
        await wf.review(session, ctx, lead.id, passed=True, actor=kit.CITY)
        await wf.decide_publication(session, ctx, number, publish=True, actor=kit.CITY)
    await page.reload()
    await page.wait_for_selector("#answer")
    labels = await page.locator("input[name=score]").evaluate_all(
        "xs => xs.map(x => x.parentElement.innerText.trim())")
    assert labels == ["满意", "基本满意", "不满意"]
    assert "已办结" in await page.inner_text("#timeline")
    await page.check("input[name=score][value='3']")
    await page.click("text=提交评价")
    await page.wait_for_selector("#your-rating")
    assert "基本满意" in await page.inner_text("#your-rating")
    await shots.take(page, "status-rated")
    async with server.app[keys.SESSIONMAKER]() as session:
        assert (await session.execute(select(Rating.score))).scalar_one() == 3
    await page.context.close()
