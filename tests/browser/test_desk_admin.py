"""The administrator and the efficiency office in Chromium: a roster change with an effective
date and its history (R10.2); the supervision page (R11.1, R12.1)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestServer

from contract.clock import FixedClock
from contract.envelope import Channel, Envelope
from desks.access.accounts import demo_password, seed_demo_accounts
from desks.staff.deps import DESK
from forwarder import workflow as wf
from forwarder.sweeper import Sweeper
from forwarder.workflow_base import Actor
from registrar.attachments import AttachmentStore
from registrar.registration import register
from tests.browser.conftest import Shots
from tests.forwarder import kit
from tests.forwarder.api_kit import FAST_HASHER


async def _seed(server: TestServer) -> None:
    deps = server.app[DESK]
    async with deps.sessionmaker.begin() as session:
        await seed_demo_accounts(session, deps.ctx.clock.now(), hasher=FAST_HASHER)


async def _sign_in(page: Any, server: TestServer, user: str) -> None:
    await page.goto(str(server.make_url("/desk/login")))
    await page.fill("#username", user)
    await page.fill("#password", demo_password(user))
    await page.press("#password", "Enter")
    await page.wait_for_load_state("networkidle")


async def test_R10_2_admin_appoints_a_handler_from_a_date_and_sees_the_history(
        server: TestServer, page: Any, shots: Shots) -> None:
    await _seed(server)
    await _sign_in(page, server, "admin")
    assert page.url.endswith("/desk/admin")
    await shots.take(page, "units")
    await page.click("text=福州市城市管理委员会")
    await page.wait_for_selector("#appoint")
    await page.fill("#person", "林新来")
    await page.select_option("#duty", "handler")
    await page.fill("#effective", "2026-12-01")
    await page.fill("#reporter", "城管委办公室 陈干事")
    await page.click("#appoint button[type=submit]")
    await page.wait_for_selector("p.ok")
    row = page.locator("#history tr.state-future")
    assert "林新来" in await row.inner_text() and "2026-12-01" in await row.inner_text()
    assert "福州市人民政府办公厅" in await row.inner_text()
    await shots.take(page, "appointed")

    await page.select_option("#entry", label="高静怡（分管领导，自 2026-01-05）")
    await page.fill("#relieve-effective", "2026-11-24")
    await page.click("#relieve button[type=submit]")
    await page.wait_for_selector(".roster-gap")
    assert "没有分管领导" in await page.inner_text(".roster-gap >> nth=0")
    await shots.take(page, "leader-relieved")

    await page.click("text=账号")
    await page.fill("#username", "housing2")
    await page.fill("#display_name", "宋丽娟")
    await page.select_option("#role", "unit_handler")
    await page.select_option("#unit", "city-housing")
    await page.click("#create-user button[type=submit]")
    await page.wait_for_selector("#issued-password")
    assert len(await page.inner_text("#issued-password")) >= 10
    await shots.take(page, "account-created")
    await page.click("text=工作日日历")
    await page.wait_for_selector("#calendar-check")
    await shots.take(page, "calendar")


async def test_R11_1_efficiency_office_views_the_supervision_page(
        server: TestServer, page: Any, shots: Shots, clock: FixedClock, tmp_path: Any) -> None:
    await _seed(server)
    deps = server.app[DESK]
    store = AttachmentStore(tmp_path)
    async with deps.sessionmaker.begin() as session:
        numbers = []
        for i, text in enumerate(("五四路路灯不亮", "鼓楼区小区门口占道经营")):
            envelope = Envelope(channel=Channel.SMS_MODEM, external_id=f"b-{i}", received_at=clock.now(),
                                text=text, sender="+8613905910001", reply_address="+8613905910001")
            numbers.append((await register(session, envelope, clock=clock, store=store, due=deps.ctx.due)
                            ).case.number)
        for number in numbers:
            await wf.accept(session, deps.ctx, number, kit.CITY)
        [good] = await wf.dispatch(session, deps.ctx, numbers[0], "city-urban", kit.CITY)
        await wf.dispatch(session, deps.ctx, numbers[1], "gulou-bureau", kit.CITY)
        [late] = await wf.district_dispatch(session, deps.ctx, numbers[1], "gulou-urban", kit.GULOU)
        await kit.answer_and_submit(session, deps.ctx, good.id, kit.URBAN)
        await wf.review(session, deps.ctx, good.id, passed=True, actor=kit.CITY)
    clock.advance(timedelta(days=6))
    await Sweeper(deps.sessionmaker, deps.ctx).run_once()
    async with deps.sessionmaker.begin() as session:
        await wf.read(session, deps.ctx, late.id, Actor("鼓楼区城管经办人", "unit_handler", "gulou-urban"))

    await _sign_in(page, server, "efficiency")
    assert page.url.endswith("/desk/supervision")
    await page.wait_for_selector("#unit-stats")
    assert "福州市城市管理委员会" in await page.inner_text("#unit-stats")
    assert "鼓楼区城市管理局" in await page.inner_text("#events")
    await shots.take(page, "supervision-city")
    await page.select_option("#district", "鼓楼区")
    await page.click("#filters button[type=submit]")
    await page.wait_for_url("**district=*")
    assert "福州市城市管理委员会" not in await page.inner_text("#unit-stats")
    await shots.take(page, "supervision-gulou")
    async with page.expect_download() as info:
        await page.click("#csv")
    download = await info.value
    assert download.suggested_filename == "supervision-2026-11-01-2026-11-30.csv"
