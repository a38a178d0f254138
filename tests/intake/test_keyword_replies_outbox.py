"""Issue 10 item 17: every SMS keyword answer goes through the outbox, also one about no case.

The real commands (``intake.sms_commands``), the real modem channel on the gammu
dummy phone and the real outbox, on SQLite and PostgreSQL: an unknown-case
``CX``, a ``TD`` from a number that filed nothing and a bare ``CX`` (the help
text) each become a case-less outbox notice; the modem sends nothing while
handling the SMS, the outbox sends the notices, and while the modem is down
they wait and go out later.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import gammu
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.sms_gammu import gammu_sms_channel, write_incoming_sms
from channels.sms_gammu.adapter import GammuSmsChannel
from channels.sms_gammu.settings import GammuSettings
from contract.clock import FixedClock
from contract.envelope import Channel
from contract.sms_keywords import QUERY_HELP_TEXT
from forwarder.outbox import OutboxDispatcher
from forwarder.outbox_rules import RetryPolicy
from intake.app import create_app
from intake.service import IntakeService
from intake.sms_commands import NOT_FOUND, UNSUBSCRIBED, RegistrarSmsCommands
from registrar.attachments import AttachmentStore
from registrar.db import create_engine, make_sessionmaker
from registrar.models import Event, Notice, NoticeStatus
from tests.channels.sms_gammu.conftest import Clock as ModemClock
from tests.channels.sms_gammu.conftest import Script, port_factory
from tests.conftest import make_settings
from tests.intake.test_wiring import wait_for

STRANGER = "+8613805912345"
UNKNOWN_CASE = "FZ12345-20261124-999999"
POLICY = RetryPolicy(base_delay=timedelta(seconds=30), jitter=0.0)


@dataclass
class Rig:
    sessions: async_sessionmaker[AsyncSession]
    channel: GammuSmsChannel
    outbox: OutboxDispatcher
    phone: Path
    script: Script
    clock: FixedClock


@pytest.fixture
async def rig(db_url: str, tmp_path: Path, clock: FixedClock) -> AsyncIterator[Rig]:
    engine = create_engine(db_url)
    sessions = make_sessionmaker(engine)
    phone = tmp_path / "phone"
    (phone / "sms" / "1").mkdir(parents=True)
    settings = GammuSettings(enabled=True, device=str(phone), state_dir=str(tmp_path / "parts"),
                             reconnect_delay_s=0)
    script, modem_clock = Script(), ModemClock()
    intake = IntakeService(sessions, clock, AttachmentStore(tmp_path / "files"), "FZ12345")
    commands = RegistrarSmsCommands(sessions, clock)
    try:
        async with gammu_sms_channel(settings, intake, commands,
                                     port_factory=port_factory(settings, script),
                                     monotonic=modem_clock.monotonic, sleep=modem_clock.sleep,
                                     poll=False) as channel:
            outbox = OutboxDispatcher(sessions, {Channel.SMS_MODEM: channel.deliverer}, clock,
                                      policy=POLICY)
            yield Rig(sessions, channel, outbox, phone, script, clock)
    finally:
        await engine.dispose()


async def _replies(rig: Rig) -> list[Notice]:
    async with rig.sessions() as s:
        return list((await s.execute(select(Notice).where(Notice.kind == "keyword_reply")
                                     .order_by(Notice.id))).scalars())


def _numbers(script: Script) -> set[str]:
    return {str(m["Number"]) for m in script.sent}


async def _text_three_keywords(rig: Rig) -> None:
    for text in (f"CX {UNKNOWN_CASE}", "TD", "CX"):
        write_incoming_sms(rig.phone, "13805912345", text)
    report = await rig.channel.poll_once()
    assert report.answered == 3 and report.registered == 0


async def test_item17_caseless_keyword_answers_are_outbox_notices_the_outbox_sends(
        rig: Rig) -> None:
    await _text_three_keywords(rig)

    assert rig.script.sent == []  # the modem answered nothing itself
    queued = await _replies(rig)
    assert [(n.case_id, n.channel, n.address, n.status) for n in queued] == [
        (None, Channel.SMS_MODEM, STRANGER, NoticeStatus.PENDING)] * 3
    assert [n.text for n in queued] == [NOT_FOUND.format(number=UNKNOWN_CASE), UNSUBSCRIBED,
                                        QUERY_HELP_TEXT]

    report = await rig.outbox.run_once()

    assert report.sent == 3 and report.failed == 0
    assert _numbers(rig.script) == {STRANGER}
    sent = await _replies(rig)
    assert all(n.status == NoticeStatus.SENT and n.sent_at and n.provider_ref for n in sent)
    async with rig.sessions() as s:  # a case-less notice writes into no case's log
        assert (await s.execute(select(Event))).scalars().all() == []


async def test_item17_caseless_answer_waits_while_the_modem_is_down_and_goes_out_later(
        rig: Rig) -> None:
    await _text_three_keywords(rig)
    down = gammu.ERR_DEVICENOTEXIST({"Text": "injected", "Where": "SendSMS", "Code": 0})
    rig.script.faults["send"] = [down] * 30

    first = await rig.outbox.run_once()

    assert first.retried == 3 and first.sent == 0
    waiting = await _replies(rig)
    assert all(n.status == NoticeStatus.PENDING and n.last_error for n in waiting)
    assert rig.script.sent == []
    assert (await rig.outbox.run_once()).due == 0  # not before its retry time

    rig.script.faults["send"] = []
    rig.clock.advance(timedelta(minutes=1))
    later = await rig.outbox.run_once()

    assert later.sent == 3
    assert _numbers(rig.script) == {STRANGER}
    assert all(n.status == NoticeStatus.SENT for n in await _replies(rig))


async def test_item17_caseless_answers_in_twiml_leave_a_sent_notice(
        db_url: str, clock: FixedClock) -> None:
    """Twilio answers in its TwiML (as Twilio documents); the trace is a notice sent in reply."""
    engine = create_engine(db_url)
    sessions = make_sessionmaker(engine)
    commands = RegistrarSmsCommands(sessions, clock)
    try:
        said = [await commands.case_status(UNKNOWN_CASE, STRANGER, channel=Channel.SMS_TWILIO,
                                           in_reply=True),
                await commands.unsubscribe(STRANGER, channel=Channel.SMS_TWILIO, in_reply=True),
                await commands.query_help(STRANGER, channel=Channel.SMS_TWILIO, in_reply=True)]
        async with sessions() as s:
            rows = (await s.execute(select(Notice).order_by(Notice.id))).scalars().all()
        assert said == [NOT_FOUND.format(number=UNKNOWN_CASE), UNSUBSCRIBED, QUERY_HELP_TEXT]
        assert [(n.case_id, n.kind, n.text, n.status, n.provider_ref) for n in rows] == [
            (None, "keyword_reply", text, NoticeStatus.SENT, "in-reply:sms_twilio")
            for text in said]
    finally:
        await engine.dispose()


async def test_item17_the_running_service_answers_a_bare_cx_through_its_outbox(
        db_url: str, tmp_path: Path, clock: FixedClock) -> None:
    """The composition root's commands (``intake.wiring``) queue the help; its worker sends it."""
    settings = make_settings(
        db_url, tmp_path / "data",
        gammu={"enabled": True, "device": str(tmp_path / "modem"),
               "state_dir": str(tmp_path / "parts"), "poll_interval_s": 0.2},
        worker={"outbox_enabled": True, "outbox_interval_s": 0.2, "sweeper_enabled": False})
    engine = create_engine(db_url)
    sessions = make_sessionmaker(engine)

    async def sent_help() -> Notice | None:
        async with sessions() as s:
            return (await s.execute(select(Notice).where(
                Notice.kind == "keyword_reply", Notice.status == NoticeStatus.SENT))
            ).scalar_one_or_none()

    try:
        async with TestClient(TestServer(create_app(settings, clock=clock))):
            write_incoming_sms(tmp_path / "modem", "13805912345", "查询")
            notice = await wait_for(sent_help)
        assert (notice.case_id, notice.address, notice.text) == (None, STRANGER, QUERY_HELP_TEXT)
    finally:
        await engine.dispose()
