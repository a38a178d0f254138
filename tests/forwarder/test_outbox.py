"""The outbox dispatcher on both databases: send, retry, give up, fall back, cancel, reclaim.

Notices come from real registrations (the receipt ``register()`` writes);
deliverers are recording fakes that answer from a script. Time moves by the
pinned clock, never by sleeping.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from config.notices import render_notice
from contract.clock import FixedClock
from contract.envelope import Channel, Envelope
from contract.notice import Notice as WireNotice
from contract.notice import SendError
from forwarder.outbox import OutboxDispatcher, outbox_worker
from forwarder.outbox_rules import RetryPolicy
from registrar.attachments import AttachmentStore
from registrar.db import make_sessionmaker
from registrar.models import Contact, Event, Notice, NoticeStatus
from registrar.registration import register

PHONE = "+8613905910001"
PHONE_2 = "+8613905910002"
MAIL = "citizen@example.cn"
POLICY = RetryPolicy(jitter=0.0)

Step = Exception | str


class RecordingDeliverer:
    """A channel that records each notice and answers from a script (then succeeds)."""

    def __init__(self, channel: Channel, script: Sequence[Step] = (), *,
                 always: Exception | None = None, block: bool = False) -> None:
        self.channel = channel
        self.script = list(script)
        self.always = always
        self.block = block
        self.sent: list[WireNotice] = []
        self.started = asyncio.Event()
        self.delivered = asyncio.Event()

    async def deliver(self, notice: WireNotice) -> str:
        self.started.set()
        if self.block:
            await asyncio.Event().wait()  # a worker that hangs until it is killed
        await asyncio.sleep(0)  # let a concurrent dispatcher run in between
        step: Step = self.always or (self.script.pop(0) if self.script else "")
        if isinstance(step, Exception):
            raise step
        self.sent.append(notice)
        self.delivered.set()
        return step or f"{self.channel}-ref-{notice.notice_id}"


async def register_case(engine: AsyncEngine, clock: FixedClock, tmp_path: Path, *,
                        external_id: str = "M1", alt: tuple[str, ...] = (MAIL,)) -> int:
    envelope = Envelope(channel=Channel.SMS_MODEM, external_id=external_id,
                        received_at=clock.now(), text="鼓楼区东街路灯不亮", sender=PHONE,
                        reply_address=PHONE, alt_reply_addresses=alt)
    async with make_sessionmaker(engine).begin() as session:
        result = await register(session, envelope, clock=clock, store=AttachmentStore(tmp_path))
        return result.case.id


async def notices_of(engine: AsyncEngine, case_id: int) -> list[Notice]:
    async with make_sessionmaker(engine)() as session:
        query = select(Notice).where(Notice.case_id == case_id).order_by(Notice.id)
        return list((await session.execute(query)).scalars())


async def notice_events(engine: AsyncEngine, case_id: int) -> list[Event]:
    async with make_sessionmaker(engine)() as session:
        query = (select(Event).where(Event.case_id == case_id, Event.actor == "outbox")
                 .order_by(Event.id))
        return list((await session.execute(query)).scalars())


async def assert_history(engine: AsyncEngine, case_id: int) -> dict[int, list[str]]:
    """Every status change of every notice has its event, in order, ending at its status."""
    events = await notice_events(engine, case_id)
    actions: dict[int, list[str]] = {}
    for notice in await notices_of(engine, case_id):
        own = [e for e in events if e.data["notice"] == notice.id]
        state: str | None = NoticeStatus.PENDING  # as written (fallback copies: from nothing)
        if own and own[0].action == "notice_fallback":
            state = None
        for event in own:
            assert event.from_state == state, (notice.id, event.action)
            state = event.to_state
        assert state == notice.status, (notice.id, [e.action for e in own])
        actions[notice.id] = [e.action for e in own]
    return actions


def dispatcher(engine: AsyncEngine, clock: FixedClock, *deliverers: RecordingDeliverer,
               policy: RetryPolicy = POLICY) -> OutboxDispatcher:
    return OutboxDispatcher(make_sessionmaker(engine), {d.channel: d for d in deliverers}, clock,
                            policy=policy)


async def test_receipt_is_delivered_and_marked_sent(engine: AsyncEngine, clock: FixedClock,
                                                    tmp_path: Path) -> None:
    case_id = await register_case(engine, clock, tmp_path)
    sms = RecordingDeliverer(Channel.SMS_MODEM, ["modem-ref-7"])
    report = await dispatcher(engine, clock, sms).run_once()
    assert (report.claimed, report.sent) == (1, 1)
    [wire] = sms.sent
    assert wire.address == PHONE and wire.channel is Channel.SMS_MODEM
    assert wire.case_number.startswith("FZ12345-20261124-") and wire.case_number in wire.text
    [notice] = await notices_of(engine, case_id)
    assert notice.status == NoticeStatus.SENT and notice.provider_ref == "modem-ref-7"
    assert notice.sent_at == clock.now() and notice.attempts == 1
    assert (await assert_history(engine, case_id))[notice.id] == ["notice_sending", "notice_sent"]
    assert (await dispatcher(engine, clock, sms).run_once()).claimed == 0


async def test_retryable_failure_backs_off_then_succeeds(engine: AsyncEngine, clock: FixedClock,
                                                         tmp_path: Path) -> None:
    case_id = await register_case(engine, clock, tmp_path)
    busy = SendError("modem busy", retryable=True, code="busy")
    sms = RecordingDeliverer(Channel.SMS_MODEM, [busy, busy])
    outbox = dispatcher(engine, clock, sms)
    start = clock.now()
    assert (await outbox.run_once()).retried == 1
    [notice] = await notices_of(engine, case_id)
    assert notice.status == NoticeStatus.PENDING and notice.attempts == 1
    assert notice.next_attempt_at == start + timedelta(seconds=30)
    assert notice.last_error == "modem busy"
    clock.advance(timedelta(seconds=29))
    assert (await outbox.run_once()).claimed == 0  # not due yet
    clock.advance(timedelta(seconds=1))
    assert (await outbox.run_once()).retried == 1
    [notice] = await notices_of(engine, case_id)
    assert notice.next_attempt_at == clock.now() + timedelta(seconds=60)  # doubled
    clock.advance(timedelta(seconds=60))
    assert (await outbox.run_once()).sent == 1
    [notice] = await notices_of(engine, case_id)
    assert notice.status == NoticeStatus.SENT and notice.attempts == 3 and notice.last_error is None
    assert (await assert_history(engine, case_id))[notice.id] == [
        "notice_sending", "notice_retry", "notice_sending", "notice_retry", "notice_sending",
        "notice_sent"]


async def test_unexpected_deliverer_error_is_logged_and_retried(
        engine: AsyncEngine, clock: FixedClock, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    case_id = await register_case(engine, clock, tmp_path)
    sms = RecordingDeliverer(Channel.SMS_MODEM, [RuntimeError("adapter bug")])
    with caplog.at_level(logging.ERROR, logger="forwarder.outbox"):
        assert (await dispatcher(engine, clock, sms).run_once()).retried == 1
    [notice] = await notices_of(engine, case_id)
    assert notice.status == NoticeStatus.PENDING
    assert notice.last_error == "unexpected RuntimeError: adapter bug"
    assert any(r.exc_info and "adapter bug" in str(r.exc_info[1]) for r in caplog.records)


async def test_max_attempts_fail_then_fallback_to_email_contact(
        engine: AsyncEngine, clock: FixedClock, tmp_path: Path) -> None:
    case_id = await register_case(engine, clock, tmp_path)
    sms = RecordingDeliverer(Channel.SMS_MODEM, always=SendError("no signal", retryable=True))
    mail = RecordingDeliverer(Channel.EMAIL)
    outbox = dispatcher(engine, clock, sms, mail, policy=RetryPolicy(max_attempts=3, jitter=0.0))
    reports = []
    for _ in range(3):
        reports.append(await outbox.run_once())
        clock.advance(timedelta(hours=1))
    assert [r.retried for r in reports] == [1, 1, 0]
    assert (reports[-1].failed, reports[-1].fallbacks) == (1, 1)
    original, copy = await notices_of(engine, case_id)
    assert original.status == NoticeStatus.FAILED and original.attempts == 3
    assert original.last_error == "gave up after 3 attempts: no signal"
    assert (copy.channel, copy.address, copy.status) == (Channel.EMAIL, MAIL, NoticeStatus.PENDING)
    assert (copy.kind, copy.essential) == (original.kind, True)
    assert (await outbox.run_once()).sent == 1
    assert [n.address for n in mail.sent] == [MAIL]
    history = await assert_history(engine, case_id)
    assert history[original.id][-1] == "notice_failed"
    assert history[copy.id] == ["notice_fallback", "notice_sending", "notice_sent"]
    fallback = next(e for e in await notice_events(engine, case_id)
                    if e.action == "notice_fallback")
    assert fallback.data["from_notice"] == original.id


async def test_fallback_notice_is_rendered_for_the_channel_it_goes_out_on(
        engine: AsyncEngine, clock: FixedClock, tmp_path: Path) -> None:
    case_id = await register_case(engine, clock, tmp_path)
    sms = RecordingDeliverer(Channel.SMS_MODEM,
                             [SendError("invalid number", retryable=False, code="bad_address")])
    mail = RecordingDeliverer(Channel.EMAIL)
    outbox = dispatcher(engine, clock, sms, mail)
    await outbox.run_once()
    await outbox.run_once()
    original, copy = await notices_of(engine, case_id)
    assert "回复“CX" in original.text  # the SMS wording, meant for a phone
    assert original.template_values is not None
    assert copy.text == render_notice("receipt", Channel.EMAIL, original.template_values)
    assert "CX" not in copy.text and "CX" not in mail.sent[0].text
    assert original.template_values["number"] in copy.text


async def test_non_retryable_failure_falls_back_at_once(engine: AsyncEngine, clock: FixedClock,
                                                        tmp_path: Path) -> None:
    case_id = await register_case(engine, clock, tmp_path)
    sms = RecordingDeliverer(Channel.SMS_MODEM,
                             [SendError("invalid number", retryable=False, code="bad_address")])
    mail = RecordingDeliverer(Channel.EMAIL)
    report = await dispatcher(engine, clock, sms, mail).run_once()
    assert (report.failed, report.fallbacks) == (1, 1)
    original, copy = await notices_of(engine, case_id)
    assert original.status == NoticeStatus.FAILED and original.attempts == 1
    assert original.last_error == "invalid number"
    assert copy.channel == Channel.EMAIL and copy.next_attempt_at == clock.now()


async def test_fallback_walks_contacts_in_rank_order_once_each(
        engine: AsyncEngine, clock: FixedClock, tmp_path: Path) -> None:
    case_id = await register_case(engine, clock, tmp_path, alt=(MAIL, PHONE_2))
    refuse = SendError("refused", retryable=False)
    sms = RecordingDeliverer(Channel.SMS_MODEM, [refuse])
    mail = RecordingDeliverer(Channel.EMAIL, always=refuse)
    outbox = dispatcher(engine, clock, sms, mail)
    for _ in range(4):
        await outbox.run_once()
    rows = await notices_of(engine, case_id)
    assert [(n.channel, n.address, n.status) for n in rows] == [
        (Channel.SMS_MODEM, PHONE, NoticeStatus.FAILED),
        (Channel.EMAIL, MAIL, NoticeStatus.FAILED),
        (Channel.SMS_MODEM, PHONE_2, NoticeStatus.SENT),
    ]
    # A late "failed" report on the first notice must not make a fourth copy.
    await outbox.record_delivery_status(str(rows[0].id), "failed", "30003")
    assert len(await notices_of(engine, case_id)) == 3
    await assert_history(engine, case_id)


async def test_failed_with_no_contact_left_stays_failed(engine: AsyncEngine, clock: FixedClock,
                                                        tmp_path: Path) -> None:
    case_id = await register_case(engine, clock, tmp_path, alt=())
    sms = RecordingDeliverer(Channel.SMS_MODEM, [SendError("blocked", retryable=False)])
    report = await dispatcher(engine, clock, sms).run_once()
    assert (report.failed, report.fallbacks) == (1, 0)
    [notice] = await notices_of(engine, case_id)
    assert notice.status == NoticeStatus.FAILED
    failed = [e for e in await notice_events(engine, case_id) if e.action == "notice_failed"]
    assert failed[0].data["fallback"] is None and failed[0].reason == "blocked"


async def test_channel_without_deliverer_fails_clearly_and_falls_back(
        engine: AsyncEngine, clock: FixedClock, tmp_path: Path) -> None:
    case_id = await register_case(engine, clock, tmp_path)
    mail = RecordingDeliverer(Channel.EMAIL)
    outbox = dispatcher(engine, clock, mail)
    report = await outbox.run_once()
    assert (report.failed, report.fallbacks) == (1, 1)
    original, copy = await notices_of(engine, case_id)
    assert original.status == NoticeStatus.FAILED
    assert original.last_error == "no deliverer for channel sms_modem (channel not enabled)"
    await outbox.run_once()
    assert [n.notice_id for n in mail.sent] == [copy.id]


async def test_crashed_worker_lease_expires_and_row_is_reclaimed(
        engine: AsyncEngine, clock: FixedClock, tmp_path: Path) -> None:
    case_id = await register_case(engine, clock, tmp_path)
    hung = RecordingDeliverer(Channel.SMS_MODEM, block=True)
    crashed = asyncio.create_task(dispatcher(engine, clock, hung).run_once())
    await asyncio.wait_for(hung.started.wait(), 10)
    crashed.cancel()  # the worker dies mid-send; its row stays SENDING under its lease
    with pytest.raises(asyncio.CancelledError):
        await crashed
    [notice] = await notices_of(engine, case_id)
    assert notice.status == NoticeStatus.SENDING
    sms = RecordingDeliverer(Channel.SMS_MODEM)
    survivor = dispatcher(engine, clock, sms)
    clock.advance(timedelta(minutes=4, seconds=59))
    assert (await survivor.run_once()).claimed == 0  # lease still running
    clock.advance(timedelta(seconds=1))
    assert (await survivor.run_once()).sent == 1
    [notice] = await notices_of(engine, case_id)
    assert notice.status == NoticeStatus.SENT and notice.attempts == 2
    assert (await assert_history(engine, case_id))[notice.id] == [
        "notice_sending", "notice_reclaimed", "notice_sent"]


async def test_lease_expired_on_last_attempt_fails_and_falls_back(
        engine: AsyncEngine, clock: FixedClock, tmp_path: Path) -> None:
    case_id = await register_case(engine, clock, tmp_path)
    policy = RetryPolicy(max_attempts=1, jitter=0.0)
    hung = RecordingDeliverer(Channel.SMS_MODEM, block=True)
    crashed = asyncio.create_task(dispatcher(engine, clock, hung, policy=policy).run_once())
    await asyncio.wait_for(hung.started.wait(), 10)
    crashed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await crashed
    clock.advance(policy.lease)
    sms, mail = RecordingDeliverer(Channel.SMS_MODEM), RecordingDeliverer(Channel.EMAIL)
    report = await dispatcher(engine, clock, sms, mail, policy=policy).run_once()
    assert (report.failed, report.fallbacks, sms.sent) == (1, 1, [])
    original, copy = await notices_of(engine, case_id)
    assert original.status == NoticeStatus.FAILED and "lease expired" in (original.last_error or "")
    assert copy.channel == Channel.EMAIL


async def test_concurrent_dispatchers_deliver_each_notice_once(
        engine: AsyncEngine, clock: FixedClock, tmp_path: Path) -> None:
    case_ids = [await register_case(engine, clock, tmp_path, external_id=f"M{i}")
                for i in range(24)]
    sms = RecordingDeliverer(Channel.SMS_MODEM)  # shared: it sees every send of all workers
    workers = [dispatcher(engine, clock, sms) for _ in range(3)]
    for _ in range(6):
        await asyncio.gather(*(w.run_once(limit=4) for w in workers))
    sent = [n.notice_id for n in sms.sent]
    assert len(sent) == len(set(sent)) == 24
    for case_id in case_ids:
        [notice] = await notices_of(engine, case_id)
        assert notice.status == NoticeStatus.SENT and notice.attempts == 1


async def test_opted_out_contact_gets_no_non_essential_notice(
        engine: AsyncEngine, clock: FixedClock, tmp_path: Path) -> None:
    case_id = await register_case(engine, clock, tmp_path)
    async with make_sessionmaker(engine).begin() as session:
        await session.execute(update(Contact).where(Contact.address == PHONE)
                              .values(opted_out=True))
        session.add(Notice(case_id=case_id, kind="survey", channel=Channel.SMS_MODEM,
                           address=PHONE, text="请对本次办理评价", essential=False,
                           created_at=clock.now(), next_attempt_at=clock.now()))
    sms = RecordingDeliverer(Channel.SMS_MODEM)
    report = await dispatcher(engine, clock, sms).run_once()
    assert (report.cancelled, report.sent) == (1, 1)
    receipt, survey = await notices_of(engine, case_id)
    assert receipt.status == NoticeStatus.SENT  # essential: the receipt still goes
    assert survey.status == NoticeStatus.CANCELLED
    assert [n.notice_id for n in sms.sent] == [receipt.id]
    assert (await assert_history(engine, case_id))[survey.id] == ["notice_cancelled"]
    cancelled = [e for e in await notice_events(engine, case_id)
                 if e.action == "notice_cancelled"]
    assert [(e.data["notice"], e.from_state, e.to_state) for e in cancelled] == [
        (survey.id, NoticeStatus.PENDING, NoticeStatus.CANCELLED)]


async def test_status_callback_delivered_by_notice_id_and_by_provider_ref(
        engine: AsyncEngine, clock: FixedClock, tmp_path: Path) -> None:
    first = await register_case(engine, clock, tmp_path, external_id="A")
    second = await register_case(engine, clock, tmp_path, external_id="B")
    sms = RecordingDeliverer(Channel.SMS_TWILIO)
    outbox = OutboxDispatcher(make_sessionmaker(engine), {"sms_modem": sms}, clock, policy=POLICY)
    sms.script = ["SMaaa", "SMbbb,SMccc"]
    await outbox.run_once()
    [a], [b] = await notices_of(engine, first), await notices_of(engine, second)
    await outbox.record_delivery_status(str(a.id), "sent", None)  # in flight: no change
    assert (await notices_of(engine, first))[0].status == NoticeStatus.SENT
    await outbox.record_delivery_status(str(a.id), "delivered", None)
    await outbox.record_delivery_status("SMccc", "delivered", None)  # second part of a long SMS
    await outbox.record_delivery_status("SMzzz", "delivered", None)  # unknown: ignored
    assert (await notices_of(engine, first))[0].status == NoticeStatus.DELIVERED
    assert (await notices_of(engine, second))[0].status == NoticeStatus.DELIVERED
    assert (await assert_history(engine, first))[a.id][-1] == "notice_delivered"
    assert b.provider_ref == "SMbbb,SMccc"


async def test_status_callback_failed_marks_failed_and_falls_back(
        engine: AsyncEngine, clock: FixedClock, tmp_path: Path) -> None:
    case_id = await register_case(engine, clock, tmp_path)
    sms, mail = RecordingDeliverer(Channel.SMS_MODEM, ["SMxyz"]), RecordingDeliverer(Channel.EMAIL)
    outbox = dispatcher(engine, clock, sms, mail)
    await outbox.run_once()
    await outbox.record_delivery_status("SMxyz", "undelivered", "30003")
    original, copy = await notices_of(engine, case_id)
    assert original.status == NoticeStatus.FAILED
    assert original.last_error == "provider reported undelivered (error 30003)"
    assert (copy.channel, copy.status) == (Channel.EMAIL, NoticeStatus.PENDING)
    await outbox.record_delivery_status("SMxyz", "delivered", None)  # too late: failure stands
    assert (await notices_of(engine, case_id))[0].status == NoticeStatus.FAILED
    history = await assert_history(engine, case_id)
    assert history[original.id] == ["notice_sending", "notice_sent", "notice_failed"]


async def test_worker_wakes_on_poke_and_stops_on_exit(engine: AsyncEngine, clock: FixedClock,
                                                      tmp_path: Path) -> None:
    await register_case(engine, clock, tmp_path, external_id="first")
    sms = RecordingDeliverer(Channel.SMS_MODEM)
    outbox = dispatcher(engine, clock, sms)
    async with outbox_worker(outbox, interval_s=3600) as running:
        await asyncio.wait_for(sms.delivered.wait(), 10)
        sms.delivered.clear()
        await register_case(engine, clock, tmp_path, external_id="second")
        running.poke()  # without it the next pass is an hour away
        await asyncio.wait_for(sms.delivered.wait(), 10)
    assert len(sms.sent) == 2
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "outbox-worker"]


async def test_failed_voice_notice_falls_back_to_sms_on_the_same_number(
        engine: AsyncEngine, clock: FixedClock, tmp_path: Path) -> None:
    case_id = await register_case(engine, clock, tmp_path, alt=())
    sms = RecordingDeliverer(Channel.SMS_MODEM)
    outbox = dispatcher(engine, clock, sms)
    await outbox.run_once()  # the receipt
    async with make_sessionmaker(engine).begin() as session:
        session.add(Notice(case_id=case_id, kind="answer", channel=Channel.PHONE, address=PHONE,
                           text="您反映的路灯已修复。", created_at=clock.now(),
                           next_attempt_at=clock.now()))
    report = await outbox.run_once()
    assert (report.failed, report.fallbacks) == (1, 1)
    await outbox.run_once()
    # The answer that reached the citizen by SMS then asks for a rating (R12 回访).
    _, answer, copy, request = await notices_of(engine, case_id)
    assert answer.last_error == "no deliverer for channel phone (channel not enabled)"
    assert (copy.kind, copy.channel, copy.address, copy.status) == (
        "answer", Channel.SMS_MODEM, PHONE, NoticeStatus.SENT)
    assert [n.text for n in sms.sent][-1] == "您反映的路灯已修复。"
    assert (request.kind, request.address, request.status) == (
        "rating_request", PHONE, NoticeStatus.PENDING)


async def test_unknown_status_word_changes_nothing(engine: AsyncEngine, clock: FixedClock,
                                                   tmp_path: Path) -> None:
    case_id = await register_case(engine, clock, tmp_path)
    outbox = dispatcher(engine, clock, RecordingDeliverer(Channel.SMS_MODEM, ["SMabc"]))
    await outbox.run_once()
    await outbox.record_delivery_status("SMabc", "teleported", None)
    [notice] = await notices_of(engine, case_id)
    assert notice.status == NoticeStatus.SENT
    assert (await assert_history(engine, case_id))[notice.id] == ["notice_sending", "notice_sent"]
