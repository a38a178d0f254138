"""Answers and 回访 (R12) by phone call, on both databases, through the real workflow and outbox.

A landline takes no SMS: with ``worker.voice_channel`` set, its answer is an
outbound call, retried when busy or unanswered at most ``call_attempts`` times
and only on working days within the calling hours; a phone case's rating is
asked in a keypad call whose key lands through ``record_callback`` like the SMS
reply. The voice channel here is a scripted fake deliverer (the SIP and Twilio
deliverers have their own tests); the outbox, workflow and call-back code are
the real ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time, timedelta

from sqlalchemy import select

from config.settings import Settings
from contract.clock import FixedClock
from contract.envelope import Channel, Envelope
from contract.notice import Heard, SendError
from contract.notice import Notice as WireNotice
from forwarder import workflow as wf
from forwarder.calendar import WorkingCalendar
from forwarder.callbacks import REQUEST_KIND, dissatisfied_cases
from forwarder.due import CalendarDuePolicy
from forwarder.outbox import OutboxDispatcher
from forwarder.outbox_rules import CallPolicy
from forwarder.workflow_base import Context
from registrar.attachments import AttachmentStore
from registrar.db import create_engine, make_sessionmaker
from registrar.models import Case, Event, Notice, NoticeStatus
from registrar.models_cockpit import CallbackRating
from registrar.registration import register
from tests.conftest import TZ
from tests.forwarder.kit import CITY, URBAN, answer_and_submit
from tests.forwarder.test_outbox import POLICY

LANDLINE = "+8659187654321"
MOBILE = "+8613905910001"
CALENDAR = WorkingCalendar.load()
CALLS = CallPolicy(attempts=3, retry_after=timedelta(minutes=10), opens=time(9), closes=time(20),
                   working_day=CALENDAR.is_working_day, tz=TZ)

Step = Exception | Heard


class ScriptedCall:
    """A voice channel: each call answers from the script (busy, no key, heard with a key…)."""

    def __init__(self, script: Sequence[Step]) -> None:
        self.channel = Channel.PHONE
        self.script = list(script)
        self.calls: list[WireNotice] = []

    async def deliver(self, notice: WireNotice) -> str | Heard:
        self.calls.append(notice)
        step = self.script.pop(0) if self.script else Heard(f"call-{notice.notice_id}")
        if isinstance(step, Exception):
            raise step
        return step


def _to(clock: FixedClock, moment: datetime) -> None:
    clock.advance(moment - clock.now())


def busy() -> SendError:
    return SendError("486 Busy Here", retryable=True, code="busy")


async def _answered_phone_case(settings: Settings, clock: FixedClock, *, caller: str,
                               channel: Channel = Channel.PHONE) -> str:
    """A case left on ``channel`` by ``caller``, driven to its answer with the site calling
    out on the same channel."""
    ctx = Context(clock=clock, due=CalendarDuePolicy(CALENDAR), voice_channel=channel)
    engine = create_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine).begin() as s:
            case = (await register(s, Envelope(
                channel=channel, external_id=f"call-{caller}", received_at=clock.now(),
                text="（语音留言）路灯不亮", sender=caller, reply_address=caller,
                receipt_in_reply=True), clock=clock,
                store=AttachmentStore(settings.attachments_dir), due=ctx.due)).case
            await wf.accept(s, ctx, case.number, CITY)
            [lead] = await wf.dispatch(s, ctx, case.number, "city-urban", CITY)
            await answer_and_submit(s, ctx, lead.id, URBAN, "已修复。")
            await wf.review(s, ctx, lead.id, passed=True, actor=CITY)
            await wf.decide_publication(s, ctx, case.number, publish=True, actor=CITY)
            return case.number
    finally:
        await engine.dispose()


async def _notices(settings: Settings, kind: str) -> list[Notice]:
    engine = create_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as s:
            return list((await s.execute(select(Notice).where(Notice.kind == kind)
                                         .order_by(Notice.id))).scalars())
    finally:
        await engine.dispose()


async def _pass(settings: Settings, clock: FixedClock, voice: ScriptedCall) -> None:
    engine = create_engine(settings.database_url)
    try:
        outbox = OutboxDispatcher(make_sessionmaker(engine), {Channel.PHONE: voice}, clock,
                                  policy=POLICY, calls=CALLS, voice_channel=Channel.PHONE)
        await outbox.run_once()
    finally:
        await engine.dispose()


def _local(notice: Notice) -> datetime:
    assert notice.next_attempt_at is not None
    return notice.next_attempt_at.astimezone(TZ)


async def test_R12_landline_answer_is_a_call_busy_retried_in_working_hours_then_keypad_3(
        settings: Settings, clock: FixedClock) -> None:
    number = await _answered_phone_case(settings, clock, caller=LANDLINE)
    [answer] = await _notices(settings, "answer")
    assert (answer.channel, answer.address) == (Channel.PHONE, LANDLINE)
    assert "已办结" in answer.text and "已修复" in answer.text

    _to(clock, datetime(2026, 11, 24, 19, 55, tzinfo=TZ))  # Tuesday, five minutes before closing
    voice = ScriptedCall([busy(), Heard("call-ok"), Heard("call-rated", key="3")])
    await _pass(settings, clock, voice)
    [answer] = await _notices(settings, "answer")
    # Busy: tried again, not at 20:05 (after hours) but at the next opening, Wednesday 09:00.
    assert answer.status == NoticeStatus.PENDING and answer.attempts == 1
    assert _local(answer) == datetime(2026, 11, 25, 9, 0, tzinfo=TZ)
    assert [c.case_number for c in voice.calls] == [number]

    _to(clock, datetime(2026, 11, 25, 9, 0, tzinfo=TZ))
    await _pass(settings, clock, voice)  # heard to the end: delivered, the 回访 call is queued
    [answer] = await _notices(settings, "answer")
    assert answer.status == NoticeStatus.DELIVERED
    [request] = await _notices(settings, REQUEST_KIND)
    assert (request.channel, request.address) == (Channel.PHONE, LANDLINE)
    assert "不满意请按3" in request.text

    await _pass(settings, clock, voice)  # the citizen presses 3
    assert voice.calls[-1].kind == REQUEST_KIND
    engine = create_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as s:
            rating = (await s.execute(select(CallbackRating))).scalar_one()
            assert (rating.score, rating.comment, rating.recorded_by) == (1, "不满意",
                                                                          "citizen:phone")
            assert [c.number for c, _ in await dissatisfied_cases(s)] == [number]
            case = (await s.execute(select(Case).where(Case.number == number))).scalar_one()
            actions = list((await s.execute(select(Event.action).where(
                Event.case_id == case.id).order_by(Event.id))).scalars())
            assert actions.index("rating_requested") < actions.index("callback_rated")
    finally:
        await engine.dispose()


async def test_R12_keypad_call_back_unanswered_is_given_up_without_rating_or_sms(
        settings: Settings, clock: FixedClock) -> None:
    await _answered_phone_case(settings, clock, caller=MOBILE)
    [answer] = await _notices(settings, "answer")
    assert answer.channel != Channel.PHONE  # a mobile gets its answer by SMS …

    no_key = SendError("no key pressed", retryable=True, code="no_key")
    voice = ScriptedCall([no_key, no_key, no_key])
    engine = create_engine(settings.database_url)
    try:
        sms_and_voice = {Channel.PHONE: voice, answer.channel: ScriptedCall([])}
        outbox = OutboxDispatcher(make_sessionmaker(engine), sms_and_voice, clock,
                                  policy=POLICY, calls=CALLS, voice_channel=Channel.PHONE)
        await outbox.run_once()  # the SMS answer goes out, the 回访 call is queued …
        [request] = await _notices(settings, REQUEST_KIND)
        assert request.channel == Channel.PHONE  # … by a call: the case came by phone
        for _ in range(3):
            await outbox.run_once()
            clock.advance(timedelta(minutes=30))
    finally:
        await engine.dispose()
    [request] = await _notices(settings, REQUEST_KIND)
    assert request.status == NoticeStatus.FAILED and request.attempts == 3
    assert "no key" in (request.last_error or "")
    assert len(await _notices(settings, REQUEST_KIND)) == 1  # no SMS copy, no fourth call
    engine = create_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as s:
            assert (await s.execute(select(CallbackRating))).first() is None
    finally:
        await engine.dispose()


async def test_a_call_due_at_night_waits_for_the_next_working_morning(
        settings: Settings, clock: FixedClock) -> None:
    await _answered_phone_case(settings, clock, caller=LANDLINE)
    _to(clock, datetime(2026, 11, 27, 22, 30, tzinfo=TZ))  # Friday night
    voice = ScriptedCall([])
    await _pass(settings, clock, voice)
    [answer] = await _notices(settings, "answer")
    assert voice.calls == [] and answer.attempts == 0 and answer.status == NoticeStatus.PENDING
    assert _local(answer) == datetime(2026, 11, 30, 9, 0, tzinfo=TZ)  # Monday 09:00


async def test_a_provider_reporting_no_answer_retries_then_heard_asks_for_the_rating(
        settings: Settings, clock: FixedClock) -> None:
    """Twilio's way: the call is only queued at ``deliver``; its status callback tells the rest."""
    await _answered_phone_case(settings, clock, caller=LANDLINE)
    voice = ScriptedCall([])

    class Queued(ScriptedCall):
        async def deliver(self, notice: WireNotice) -> str | Heard:
            self.calls.append(notice)
            return f"CA{notice.notice_id:032d}"

    queued = Queued([])
    engine = create_engine(settings.database_url)
    try:
        outbox = OutboxDispatcher(make_sessionmaker(engine), {Channel.PHONE: queued}, clock,
                                  policy=POLICY, calls=CALLS, voice_channel=Channel.PHONE)
        await outbox.run_once()
        [answer] = await _notices(settings, "answer")
        assert answer.status == NoticeStatus.SENT
        assert await _notices(settings, REQUEST_KIND) == []  # queued is not heard
        await outbox.record_delivery_status(str(answer.provider_ref), "no-answer", None)
        [answer] = await _notices(settings, "answer")
        assert answer.status == NoticeStatus.PENDING
        assert _local(answer) >= clock.now() + timedelta(minutes=10)
        clock.advance(timedelta(minutes=15))
        await outbox.run_once()
        [answer] = await _notices(settings, "answer")
        await outbox.record_delivery_status(str(answer.provider_ref), "delivered", None)
        await outbox.record_delivery_status(str(answer.provider_ref), "unheard", None)
        [answer] = await _notices(settings, "answer")
        assert answer.status == NoticeStatus.DELIVERED  # hanging up after the end changes nothing
        [request] = await _notices(settings, REQUEST_KIND)
        assert request.channel == Channel.PHONE
    finally:
        await engine.dispose()
    assert voice.calls == []
