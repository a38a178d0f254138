"""Notices to landlines and to mobiles that chose calls, on both databases (issue 14, item 3).

A landline takes no SMS: every notice kind to it (the late voicemail receipt,
the answer, anything the workflow sends) is a call when the site calls out
(``worker.voice_channel``), and otherwise is never handed to an SMS gateway,
with the reason on the row. When a landline's call fails for good the fallback
goes on to the citizen's next contact, never to an SMS to the same landline. A
mobile whose citizen chose 答复方式：电话 is called, and texted when that fails.
A call whose provider never reports its end (a lost Twilio status callback) is
counted unanswered after ``CallPolicy.status_timeout``, so the retry and the
fallback run instead of the row staying SENT forever.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from contract.clock import FixedClock
from contract.contact_kinds import NO_CALLS_TO_LANDLINE, channel_for, channels_for
from contract.envelope import Channel, Envelope
from contract.notice import Heard, SendError
from contract.notice import Notice as WireNotice
from forwarder.outbox import SMS_TO_LANDLINE, OutboxDispatcher
from forwarder.outbox_rules import CallPolicy
from forwarder.outbox_states import NO_OTHER_CONTACT
from forwarder.workflow_base import Context, notify_citizen
from registrar.attachments import AttachmentStore
from registrar.db import make_sessionmaker
from registrar.models import Case, Contact, Event, Notice, NoticeStatus
from registrar.registration import register
from tests.forwarder.test_outbox import POLICY, RecordingDeliverer, notices_of

LANDLINE = "+8659187654321"
MOBILE = "+8613905910001"
MAIL = "citizen@example.cn"
ALWAYS = CallPolicy(attempts=2, retry_after=timedelta(minutes=10))
"""Calls may ring at any hour here: these tests are about where notices go, not when."""


class Calls(RecordingDeliverer):
    """A voice channel that records each call and answers from a script (then: heard)."""

    def __init__(self, script: list[Exception | str | Heard] | None = None) -> None:
        super().__init__(Channel.PHONE)
        self.calls: list[WireNotice] = []
        self.steps = list(script or [])

    async def deliver(self, notice: WireNotice) -> str:  # type: ignore[override]
        self.calls.append(notice)
        step = self.steps.pop(0) if self.steps else Heard(f"call-{notice.notice_id}")
        if isinstance(step, Exception):
            raise step
        return step  # type: ignore[return-value]  # a Heard is what a voice deliverer returns


def busy() -> SendError:
    return SendError("486 Busy Here", retryable=True, code="busy")


async def _register(engine: AsyncEngine, clock: FixedClock, tmp_path: Path, *, caller: str,
                    alt: tuple[str, ...] = (), voice_channel: str = "",
                    channel: Channel = Channel.PHONE, reply_by_call: bool | None = None,
                    external_id: str = "V1") -> int:
    """A voicemail registered after its call (the receipt was not read back in it)."""
    envelope = Envelope(channel=channel, external_id=external_id, received_at=clock.now(),
                        text="（语音留言）路灯不亮", sender=caller, reply_address=caller,
                        alt_reply_addresses=alt, reply_by_call=reply_by_call)
    async with make_sessionmaker(engine).begin() as session:
        result = await register(session, envelope, clock=clock, store=AttachmentStore(tmp_path),
                                voice_channel=voice_channel)
        return result.case.id


def _outbox(engine: AsyncEngine, clock: FixedClock, *deliverers: RecordingDeliverer,
            voice_channel: str = Channel.PHONE, calls: CallPolicy = ALWAYS) -> OutboxDispatcher:
    return OutboxDispatcher(make_sessionmaker(engine), {d.channel: d for d in deliverers}, clock,
                            policy=POLICY, calls=calls, voice_channel=voice_channel)


async def _answer(engine: AsyncEngine, clock: FixedClock, case_id: int, *,
                  voice_channel: str) -> Notice:
    """The workflow's way of writing to the citizen (``notify_citizen``), as an answer."""
    async with make_sessionmaker(engine).begin() as session:
        case = await session.get(Case, case_id)
        assert case is not None
        ctx = Context(clock=clock, due=None, voice_channel=voice_channel)  # type: ignore[arg-type]
        return await notify_citizen(session, ctx, case, "answer", now=clock.now(),
                                    unit="鼓楼区城管局", answer="已修复。")


async def _failed_events(engine: AsyncEngine, case_id: int) -> list[Event]:
    async with make_sessionmaker(engine)() as session:
        return list((await session.execute(select(Event).where(
            Event.case_id == case_id, Event.action == "notice_failed")
            .order_by(Event.id))).scalars())


def test_channel_table_never_texts_a_landline_and_honours_the_call_choice() -> None:
    sms, voice = Channel.SMS_MODEM, Channel.PHONE
    assert channels_for("phone", sms_channel=sms, voice_channel=voice, address=LANDLINE) == (
        voice,)
    assert channels_for("phone", sms_channel=sms, address=LANDLINE) == ()
    assert channels_for("phone", sms_channel=sms, voice_channel=voice, address=MOBILE) == (sms,)
    assert channels_for("phone", sms_channel=sms, voice_channel=voice, address=MOBILE,
                        prefers_call=True) == (voice, sms)
    # Without a voice channel the choice cannot be honoured: SMS, as for every mobile.
    assert channel_for("phone", sms_channel=sms, address=MOBILE, prefers_call=True) == sms
    assert channels_for("email", sms_channel=sms, voice_channel=voice, address=MAIL) == (
        Channel.EMAIL,)


async def test_late_voicemail_receipt_to_a_landline_is_a_call_with_the_number_in_digits(
        engine: AsyncEngine, clock: FixedClock, tmp_path: Path) -> None:
    case_id = await _register(engine, clock, tmp_path, caller=LANDLINE,
                              voice_channel=Channel.PHONE)
    [receipt] = await notices_of(engine, case_id)
    assert (receipt.kind, receipt.channel, receipt.address, receipt.status) == (
        "receipt", Channel.PHONE, LANDLINE, NoticeStatus.PENDING)
    assert "编号" not in receipt.text  # the call reads the case number digit by digit itself
    calls, sms = Calls(), RecordingDeliverer(Channel.SMS_MODEM)
    await _outbox(engine, clock, calls, sms).run_once()
    [call] = calls.calls
    assert call.kind == "receipt" and call.case_number.startswith("FZ12345-")
    assert sms.sent == []
    [receipt] = await notices_of(engine, case_id)
    assert receipt.status == NoticeStatus.DELIVERED


async def test_late_voicemail_receipt_to_a_landline_without_calls_is_never_texted(
        engine: AsyncEngine, clock: FixedClock, tmp_path: Path) -> None:
    case_id = await _register(engine, clock, tmp_path, caller=LANDLINE)
    [receipt] = await notices_of(engine, case_id)
    assert receipt.status == NoticeStatus.FAILED and receipt.last_error == NO_CALLS_TO_LANDLINE
    sms = RecordingDeliverer(Channel.SMS_MODEM)
    assert (await _outbox(engine, clock, sms, voice_channel="").run_once()).claimed == 0
    assert sms.sent == []


async def test_late_voicemail_receipt_skips_the_landline_for_a_mobile_left_beside_it(
        engine: AsyncEngine, clock: FixedClock, tmp_path: Path) -> None:
    case_id = await _register(engine, clock, tmp_path, caller=LANDLINE, alt=(MOBILE,))
    [receipt] = await notices_of(engine, case_id)
    assert (receipt.channel, receipt.address, receipt.status) == (
        Channel.SMS_MODEM, MOBILE, NoticeStatus.PENDING)
    assert receipt.text.startswith("【12345】")


async def test_answer_to_a_landline_without_calls_goes_to_email_or_is_not_sent(
        engine: AsyncEngine, clock: FixedClock, tmp_path: Path) -> None:
    with_mail = await _register(engine, clock, tmp_path, caller=LANDLINE, alt=(MAIL,))
    answer = await _answer(engine, clock, with_mail, voice_channel="")
    assert (answer.channel, answer.address, answer.status) == (
        Channel.EMAIL, MAIL, NoticeStatus.PENDING)
    alone = await _register(engine, clock, tmp_path, caller="0591-87654322", external_id="V2")
    answer = await _answer(engine, clock, alone, voice_channel="")
    assert answer.status == NoticeStatus.FAILED and answer.last_error == NO_CALLS_TO_LANDLINE


async def test_an_sms_already_queued_for_a_landline_is_not_sent_and_falls_back(
        engine: AsyncEngine, clock: FixedClock, tmp_path: Path) -> None:
    """Rows written before this rule (or by any other path) are stopped at the outbox."""
    case_id = await _register(engine, clock, tmp_path, caller=LANDLINE, alt=(MAIL,),
                              voice_channel=Channel.PHONE)
    async with make_sessionmaker(engine).begin() as session:
        session.add(Notice(case_id=case_id, kind="internal", channel=Channel.SMS_MODEM,
                           address=LANDLINE, text="【12345】内部办理", created_at=clock.now(),
                           next_attempt_at=clock.now()))
    calls, sms = Calls(), RecordingDeliverer(Channel.SMS_MODEM)
    outbox = _outbox(engine, clock, calls, sms)
    await outbox.run_once()
    await outbox.run_once()
    assert sms.sent == []
    notices = {(n.kind, n.channel): n for n in await notices_of(engine, case_id)}
    assert notices[("internal", Channel.SMS_MODEM)].last_error == SMS_TO_LANDLINE
    assert notices[("internal", Channel.SMS_MODEM)].status == NoticeStatus.FAILED
    assert notices[("internal", Channel.PHONE)].status == NoticeStatus.DELIVERED
    assert [(w.kind, w.address) for w in calls.calls] == [("receipt", LANDLINE),
                                                          ("internal", LANDLINE)]


async def test_a_landline_call_failing_for_good_falls_back_to_email_not_sms(
        engine: AsyncEngine, clock: FixedClock, tmp_path: Path) -> None:
    case_id = await _register(engine, clock, tmp_path, caller=LANDLINE, alt=(MAIL,),
                              voice_channel=Channel.PHONE)
    calls = Calls([busy(), busy()])
    sms, mail = RecordingDeliverer(Channel.SMS_MODEM), RecordingDeliverer(Channel.EMAIL)
    outbox = _outbox(engine, clock, calls, sms, mail)
    for _ in range(3):
        await outbox.run_once()
        clock.advance(timedelta(hours=1))
    assert len(calls.calls) == 2 and sms.sent == []
    receipt, copy = await notices_of(engine, case_id)
    assert receipt.status == NoticeStatus.FAILED and "gave up after 2" in (receipt.last_error or "")
    assert (copy.channel, copy.address, copy.status) == (Channel.EMAIL, MAIL, NoticeStatus.SENT)


async def test_a_landline_call_failing_with_no_other_contact_gives_up_with_a_reason(
        engine: AsyncEngine, clock: FixedClock, tmp_path: Path) -> None:
    case_id = await _register(engine, clock, tmp_path, caller=LANDLINE,
                              voice_channel=Channel.PHONE)
    calls = Calls([SendError("404 Not Found", retryable=False, code="failed")])
    sms = RecordingDeliverer(Channel.SMS_MODEM)
    report = await _outbox(engine, clock, calls, sms).run_once()
    assert (report.failed, report.fallbacks) == (1, 0) and sms.sent == []
    [receipt] = await notices_of(engine, case_id)
    assert receipt.status == NoticeStatus.FAILED
    [failed] = await _failed_events(engine, case_id)
    assert failed.data["fallback"] is None and failed.data["no_fallback"] == NO_OTHER_CONTACT


async def test_a_mobile_that_chose_calls_is_called_and_texted_when_the_call_fails(
        engine: AsyncEngine, clock: FixedClock, tmp_path: Path) -> None:
    case_id = await _register(engine, clock, tmp_path, caller=MOBILE, channel=Channel.WEB,
                              reply_by_call=True)
    async with make_sessionmaker(engine)() as session:
        contact = (await session.execute(select(Contact).where(
            Contact.address == MOBILE))).scalar_one()
        assert contact.prefers_call
    answer = await _answer(engine, clock, case_id, voice_channel=Channel.PHONE)
    assert (answer.channel, answer.address) == (Channel.PHONE, MOBILE)
    calls = Calls([busy(), busy()])
    sms = RecordingDeliverer(Channel.SMS_MODEM)
    outbox = _outbox(engine, clock, calls, sms)
    for _ in range(3):
        await outbox.run_once()
        clock.advance(timedelta(hours=1))
    assert len(calls.calls) == 2
    assert [(w.kind, w.address) for w in sms.sent] == [("answer", MOBILE)]
    # Without a voice channel the same contact is texted from the start.
    answer = await _answer(engine, clock, case_id, voice_channel="")
    assert answer.channel == Channel.SMS_MODEM


async def test_the_call_choice_is_kept_on_the_contact_and_changed_only_when_asked(
        engine: AsyncEngine, clock: FixedClock, tmp_path: Path) -> None:
    async def choice() -> bool:
        async with make_sessionmaker(engine)() as session:
            return bool((await session.execute(select(Contact.prefers_call).where(
                Contact.address == MOBILE))).scalar_one())

    await _register(engine, clock, tmp_path, caller=MOBILE, channel=Channel.WEB,
                    external_id="W1")
    assert not await choice()  # default: SMS
    await _register(engine, clock, tmp_path, caller=MOBILE, channel=Channel.WEB,
                    reply_by_call=True, external_id="W2")
    assert await choice()
    await _register(engine, clock, tmp_path, caller=MOBILE, channel=Channel.WEB,
                    external_id="W3")  # an item that asked nothing keeps it
    assert await choice()
    await _register(engine, clock, tmp_path, caller=MOBILE, channel=Channel.WEB,
                    reply_by_call=False, external_id="W4")
    assert not await choice()


async def test_a_twilio_call_whose_status_never_arrives_is_retried_then_failed_over(
        engine: AsyncEngine, clock: FixedClock, tmp_path: Path) -> None:
    case_id = await _register(engine, clock, tmp_path, caller=LANDLINE, alt=(MAIL,),
                              voice_channel=Channel.PHONE)
    calls, mail = Calls(["CA0001", "CA0002"]), RecordingDeliverer(Channel.EMAIL)
    policy = CallPolicy(attempts=2, retry_after=timedelta(minutes=10),
                        status_timeout=timedelta(minutes=30))
    outbox = _outbox(engine, clock, calls, mail, calls=policy)
    await outbox.run_once()  # queued at the provider: SENT, and then nothing is ever reported
    [receipt] = await notices_of(engine, case_id)
    assert receipt.status == NoticeStatus.SENT
    clock.advance(timedelta(minutes=29))
    assert (await outbox.run_once()).silent == 0
    clock.advance(timedelta(minutes=2))
    report = await outbox.run_once()
    assert (report.silent, report.retried) == (1, 1)
    [receipt] = await notices_of(engine, case_id)
    assert receipt.status == NoticeStatus.PENDING and "no-status-report" in str(receipt.last_error)
    clock.advance(timedelta(minutes=15))
    await outbox.run_once()  # the second call, silent again
    assert len(calls.calls) == 2
    clock.advance(timedelta(minutes=31))
    report = await outbox.run_once()
    assert (report.silent, report.failed) == (1, 1)
    await outbox.run_once()
    receipt, copy = await notices_of(engine, case_id)
    assert receipt.status == NoticeStatus.FAILED
    assert (copy.channel, copy.address, copy.status) == (Channel.EMAIL, MAIL, NoticeStatus.SENT)


async def test_a_receipt_given_in_the_call_is_no_call_waiting_for_its_status(
        engine: AsyncEngine, clock: FixedClock, tmp_path: Path) -> None:
    envelope = Envelope(channel=Channel.PHONE, external_id="V9", received_at=clock.now(),
                        text="（语音留言）", sender=LANDLINE, reply_address=LANDLINE,
                        receipt_in_reply=True)
    async with make_sessionmaker(engine).begin() as session:
        case_id = (await register(session, envelope, clock=clock,
                                  store=AttachmentStore(tmp_path))).case.id
    clock.advance(timedelta(days=1))
    assert (await _outbox(engine, clock, Calls()).run_once()).silent == 0
    [receipt] = await notices_of(engine, case_id)
    assert receipt.status == NoticeStatus.SENT
