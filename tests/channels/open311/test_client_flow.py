"""An Open311 app's whole life with one request, through the real app and the real workflow.

Create while the store is down (a token, the request fsynced in the spool) →
poll the token until the drain registered it → read its status (open, no
text) → the city bureau accepts and dispatches, the unit answers, the bureau
reviews and publishes → the request reads closed, with the published answer
as ``status_notes`` and the stored answer deadline as ``expected_datetime``;
``servicerequestupdates`` lists the public steps. An internal item answers
404 everywhere, like a number never given.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from config.settings import Settings
from contract.clock import FixedClock
from forwarder import workflow as wf
from forwarder.calendar import WorkingCalendar
from forwarder.due import CalendarDuePolicy
from forwarder.workflow_base import Context
from intake import keys
from registrar.db import create_engine, make_sessionmaker
from registrar.models import Deadline, DeadlineKind
from tests.channels.open311.conftest import Api, new_key
from tests.channels.open311.test_requests_api import GOOD, check_json_request
from tests.conftest import TZ, make_settings
from tests.forwarder import kit


@pytest.fixture
async def flow(db_url: str, tmp_path: Path, clock: FixedClock) -> AsyncIterator[Api]:
    from intake.app import create_app

    settings = make_settings(db_url, tmp_path / "data", open311={"drain_interval_s": 0.05})
    key = await new_key(settings, "fuzhou-app", clock)
    async with TestClient(TestServer(create_app(settings, clock=clock))) as http:
        yield Api(http, key, settings)


async def in_db(settings: Settings, clock: FixedClock, work: Any) -> Any:
    engine = create_engine(settings.database_url)
    ctx = Context(clock=clock, due=CalendarDuePolicy(WorkingCalendar.load(zone=TZ)))
    try:
        async with make_sessionmaker(engine).begin() as session:
            return await work(session, ctx)
    finally:
        await engine.dispose()


async def token_number(api: Api, token: str) -> str:
    """Poll the token as a client would, until the request has its number."""
    async with asyncio.timeout(10):
        while True:
            status, body = await api.get(f"tokens/{token}")
            assert status == 200 and body[0]["token"] == token
            if body[0]["service_request_id"] is not None:
                return str(body[0]["service_request_id"])
            await asyncio.sleep(0.05)


async def test_create_deferred_poll_token_follow_the_workflow_to_closed_with_status_notes(
        flow: Api, clock: FixedClock, tmp_path: Path) -> None:
    intake = flow.http.app[keys.INTAKE]
    working = intake.sessionmaker
    intake.sessionmaker = make_sessionmaker(create_engine(
        f"sqlite+aiosqlite:///{tmp_path}/no/such/dir/down.db"))  # the store is down
    status, body = await flow.post(GOOD | {"client_request_id": "app-7"})
    assert status == 200 and set(body[0]) == {"token", "service_notice", "account_id"}
    token = body[0]["token"]
    assert (await flow.get(f"tokens/{token}"))[1] == [{"service_request_id": None, "token": token}]
    spool = Path(flow.settings.data_dir) / "open311" / "spool"
    assert len(list(spool.glob("*.json"))) == 1  # durable before the token was given

    intake.sessionmaker = working  # the store is back; the drain registers the request
    number = await token_number(flow, token)
    assert list(spool.glob("*.json")) == []
    status, rows = await flow.get(f"requests/{number}")
    check_json_request(rows[0])
    assert (rows[0]["status"], rows[0]["status_notes"], rows[0]["description"]) == (
        "open", None, None)

    async def dispatch(session: AsyncSession, ctx: Context) -> str:
        [lead] = await kit.dispatched(session, ctx, number, "city-urban")
        due = (await session.execute(select(Deadline.due_at).where(
            Deadline.assignment_id == lead.id, Deadline.kind == DeadlineKind.ANSWER))).scalar_one()
        return due.astimezone(TZ).isoformat(timespec="seconds")

    expected = await in_db(flow.settings, clock, dispatch)
    rows = (await flow.get(f"requests/{number}"))[1]
    assert (rows[0]["status"], rows[0]["agency_responsible"], rows[0]["expected_datetime"]) == (
        "open", "福州市城市管理委员会", expected)

    async def answer_and_publish(session: AsyncSession, ctx: Context) -> None:
        lead = await kit.lead_of(session, number, "city-urban")
        await kit.answer_and_submit(session, ctx, lead.id, kit.URBAN,
                                    "已联系张三，井盖已于当日补齐。")
        await wf.review(session, ctx, lead.id, passed=True, actor=kit.CITY)
        await wf.decide_publication(session, ctx, number, publish=True, actor=kit.CITY)

    await in_db(flow.settings, clock, answer_and_publish)
    status, rows = await flow.get(f"requests/{number}")
    check_json_request(rows[0])
    assert rows[0]["status"] == "closed"
    assert rows[0]["status_notes"] == "已联系张*，井盖已于当日补齐。"  # published, masked
    assert rows[0]["description"] is not None and "13805912345" not in rows[0]["description"]
    assert rows[0]["expected_datetime"] == expected
    closed = (await flow.get("requests", status="closed", service_code="urban"))[1]
    assert [r["service_request_id"] for r in closed] == [number]
    assert (await flow.get("requests", status="open"))[1] == []
    status, steps = await flow.get("servicerequestupdates", service_request_id=number)
    assert [(s["status"], s["description"]) for s in steps] == [
        ("open", "已登记，转市信访局受理"), ("open", "已受理"), ("open", "已转交办理单位"),
        ("open", "办理单位已答复，审核通过"), ("closed", "已联系张*，井盖已于当日补齐。")]
    root = (await flow.get("servicerequestupdates", "xml"))[1]
    assert root.tag == "service_requests_updates" and len(root) == 5
    assert [e.tag for e in root[0]] == ["update_id", "service_request_id", "status",
                                        "updated_datetime", "description", "media_url"]


async def test_an_internal_item_is_not_found_anywhere(flow: Api, clock: FixedClock) -> None:
    status, body = await flow.post(GOOD)
    assert status == 200
    number = body[0]["service_request_id"]

    async def internal(session: AsyncSession, ctx: Context) -> None:
        await wf.accept(session, ctx, number, kit.CITY, internal_reason="R6.3")

    await in_db(flow.settings, clock, internal)
    assert (await flow.get(f"requests/{number}"))[0] == 404
    assert (await flow.get(f"requests/{number}", "xml"))[0] == 404
    assert (await flow.get("requests"))[1] == []
    assert (await flow.get("requests", service_request_id=number))[1] == []
    assert (await flow.get("servicerequestupdates"))[1] == []
