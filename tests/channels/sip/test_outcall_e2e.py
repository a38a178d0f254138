"""End to end on both databases (R12 回访 by keypad): a landline's answer is read to it by a real
SIP worker, the outbox then calls back with the rating menu, the citizen (SIPp) presses 3, and
the case shows 不满意 on the city bureau's dissatisfied follow-up list; a busy landline is
called again, but at the next working morning, not after closing time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from config.settings import Settings
from contract.clock import FixedClock
from contract.envelope import Channel
from forwarder.callbacks import REQUEST_KIND, dissatisfied_cases
from forwarder.outbox import OutboxDispatcher
from registrar.db import create_engine, make_sessionmaker
from registrar.models import Case, Notice, NoticeStatus
from registrar.models_cockpit import CallbackRating
from tests.channels.sip import sipp
from tests.channels.sip.test_outcall import _free_udp_port, phone
from tests.conftest import TZ
from tests.forwarder.test_call_notices import CALLS, LANDLINE, _answered_phone_case
from tests.forwarder.test_outbox import POLICY


@asynccontextmanager
async def _line_and_outbox(settings: Settings, clock: FixedClock, start_line: Any, port: int,
                           ) -> AsyncIterator[tuple[OutboxDispatcher, async_sessionmaker[Any]]]:
    """The real outbox on the test database, delivering ``phone`` notices through a running
    line whose trunk is the SIPp phone on ``port``."""
    engine = create_engine(settings.database_url)
    sessions = make_sessionmaker(engine)
    try:
        async with start_line(outbound_uri=f"sip:{{national}}@127.0.0.1:{port}") as started:
            [line] = started.deliverers
            yield OutboxDispatcher(sessions, {Channel.PHONE: line}, clock, policy=POLICY,
                                   calls=CALLS, voice_channel=Channel.PHONE), sessions
    finally:
        await engine.dispose()


async def test_R12_answer_by_call_then_keypad_3_shows_dissatisfied_and_the_follow_up(
        settings: Settings, clock: FixedClock, start_line: Any, tmp_path: Path) -> None:
    number = await _answered_phone_case(settings, clock, caller=LANDLINE)
    port = _free_udp_port()
    # One phone for both calls: it answers and presses 3 each time; the answer ignores the 3
    # (only 1 replays it) and plays to the end, the rating call takes it.
    citizen = asyncio.create_task(sipp.run("", phone("key3", tmp_path), tmp_path / "citizen",
                                           calls=2, timeout_s=120, extra=("-p", str(port))))
    await asyncio.sleep(0.5)
    async with _line_and_outbox(settings, clock, start_line, port) as (outbox, sessions):
        first = await outbox.run_once()  # the answer, heard to the end
        second = await outbox.run_once()  # the 回访 call, answered with 3
        phone_side = await citizen
        assert (first.sent, second.sent) == (1, 1), (first, second)
        assert phone_side.successful == 2, phone_side.output
        async with sessions() as s:
            notices = {n.kind: n for n in (await s.execute(select(Notice).where(
                Notice.kind.in_(["answer", REQUEST_KIND])))).scalars()}
            assert notices["answer"].status == NoticeStatus.DELIVERED
            assert notices[REQUEST_KIND].channel == Channel.PHONE
            case = (await s.execute(select(Case).where(Case.number == number))).scalar_one()
            rating = (await s.execute(select(CallbackRating))).scalar_one()
            assert (rating.case_id, rating.comment, rating.recorded_by) == (
                case.id, "不满意", "citizen:phone")
            assert [c.number for c, _ in await dissatisfied_cases(s)] == [number]


async def test_a_busy_landline_is_called_again_next_working_morning_not_at_night(
        settings: Settings, clock: FixedClock, start_line: Any, tmp_path: Path) -> None:
    await _answered_phone_case(settings, clock, caller=LANDLINE)
    clock.advance(datetime(2026, 11, 24, 19, 55, tzinfo=TZ) - clock.now())  # Tuesday evening
    port = _free_udp_port()
    busy = asyncio.create_task(sipp.run("", phone("busy", tmp_path), tmp_path / "citizen",
                                        timeout_s=30, extra=("-p", str(port))))
    await asyncio.sleep(0.5)
    async with _line_and_outbox(settings, clock, start_line, port) as (outbox, sessions):
        report = await outbox.run_once()
        assert report.retried == 1, report
        assert (await busy).successful == 1
        async with sessions() as s:
            answer = (await s.execute(select(Notice).where(Notice.kind == "answer"))).scalar_one()
        assert answer.status == NoticeStatus.PENDING and answer.attempts == 1
        assert "486" in (answer.last_error or "")
        assert answer.next_attempt_at is not None
        assert answer.next_attempt_at.astimezone(TZ) == datetime(2026, 11, 25, 9, 0, tzinfo=TZ)
