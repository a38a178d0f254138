"""The whole service in one process: SMS modem and fax in, receipts out through the outbox."""

from __future__ import annotations

import asyncio
import smtplib
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from channels.sms_gammu import write_incoming_sms
from contract.channel import WEB
from contract.clock import FixedClock
from intake import keys
from intake.app import create_app
from intake.sms_commands import RegistrarSmsCommands
from registrar.db import create_engine, make_sessionmaker
from registrar.models import Case, Contact, Notice
from tests.conftest import make_settings

FIXTURES = Path(__file__).parent.parent / "channels" / "fax_smtp" / "fixtures"


def full_settings(db_url: str, tmp_path: Path) -> Any:
    return make_settings(
        db_url, tmp_path / "data",
        fax={"enabled": True, "port": 0},
        gammu={"enabled": True, "device": str(tmp_path / "modem"),
               "state_dir": str(tmp_path / "parts"), "poll_interval_s": 0.2},
        worker={"outbox_enabled": True, "outbox_interval_s": 0.2, "sweeper_enabled": False},
    )


async def wait_for(predicate: Any, *, limit_s: float = 20.0) -> Any:
    """Poll the database until ``predicate`` returns something truthy (bounded)."""
    async with asyncio.timeout(limit_s):
        while True:
            value = await predicate()
            if value:
                return value
            await asyncio.sleep(0.1)


async def test_R2_1_sms_and_fax_become_cases_and_the_sms_receipt_goes_out(
        db_url: str, tmp_path: Path, clock: FixedClock) -> None:
    settings = full_settings(db_url, tmp_path)
    engine = create_engine(db_url)
    sessions = make_sessionmaker(engine)

    async def case_of(channel: str) -> Case | None:
        async with sessions() as s:
            return (await s.execute(select(Case).where(Case.channel == channel))).scalar_one_or_none()

    async def sent_receipt(case_id: int) -> Notice | None:
        async with sessions() as s:
            return (await s.execute(select(Notice).where(
                Notice.case_id == case_id, Notice.kind == "receipt", Notice.status == "sent"))
            ).scalar_one_or_none()

    app = create_app(settings, clock=clock)
    try:
        async with TestClient(TestServer(app)):
            write_incoming_sms(tmp_path / "modem", "13805912345", "鼓楼区东街口人行道砖块松动，容易绊倒行人")
            sms_case = await wait_for(lambda: case_of("sms_modem"))
            assert sms_case.sender == "+8613805912345"
            notice = await wait_for(lambda: sent_receipt(sms_case.id))
            assert sms_case.number in notice.text
            assert not list((tmp_path / "modem" / "sms" / "1").iterdir())  # deleted after commit

            raw = (FIXTURES / "hylafax_faxrcvd_two_pages_tiff.eml").read_bytes()
            port = app[keys.BOUND_PORTS]["fax.smtp"]
            await asyncio.to_thread(_send_fax, port, raw)
            fax_case = await case_of("fax")
            assert fax_case is not None and fax_case.reply_address == "+8659187654321"
    finally:
        await engine.dispose()


def _send_fax(port: int, raw: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.sendmail("fax@gw.example", ["12345@hotline.example"], raw)


async def test_only_web_runs_no_listener_and_no_worker(db_url: str, tmp_path: Path,
                                                       clock: FixedClock) -> None:
    app = create_app(full_settings(db_url, tmp_path), clock=clock, roles=frozenset({WEB}))
    async with TestClient(TestServer(app)) as client:
        assert app[keys.BOUND_PORTS] == {}
        assert app[keys.INTAKE].on_commit is None
        assert (await client.get("/healthz")).status == 200


async def test_cx_reveals_a_case_only_to_the_number_that_filed_it(
        db_url: str, tmp_path: Path, clock: FixedClock) -> None:
    from contract.envelope import Channel, Envelope
    from intake.service import IntakeService
    from registrar.attachments import AttachmentStore

    engine = create_engine(db_url)
    sessions = make_sessionmaker(engine)
    try:
        intake = IntakeService(sessions, clock, AttachmentStore(tmp_path), "FZ12345")
        receipt = await intake(Envelope(
            channel=Channel.SMS_MODEM, external_id="x1", received_at=clock.now(),
            text="路灯不亮", sender="+8613805912345", reply_address="+8613805912345"))
        commands = RegistrarSmsCommands(sessions, clock)
        mine = await commands.case_status(receipt.case_number.lower(), "+8613805912345",
                                          channel="sms_twilio", in_reply=True)
        assert mine is not None
        assert "已登记，等待受理" in mine and receipt.case_number in mine
        theirs = await commands.case_status(receipt.case_number, "+8613900000000",
                                            channel="sms_twilio", in_reply=True)
        assert theirs is not None
        assert "未找到" in theirs and "已登记" not in theirs
        assert "退订" in (await commands.unsubscribe("+8613805912345", channel="sms_twilio",
                                                     in_reply=True) or "")
        async with sessions() as s:
            contact = (await s.execute(select(Contact))).scalar_one()
            assert contact.opted_out
    finally:
        await engine.dispose()


async def test_keyword_replies_about_a_case_are_outbox_notices_on_that_case(
        db_url: str, tmp_path: Path, clock: FixedClock) -> None:
    from contract.envelope import Channel, Envelope
    from intake.service import IntakeService
    from registrar.attachments import AttachmentStore
    from registrar.models import Notice, NoticeStatus

    engine = create_engine(db_url)
    sessions = make_sessionmaker(engine)
    citizen = "+8613805912345"
    try:
        intake = IntakeService(sessions, clock, AttachmentStore(tmp_path), "FZ12345")
        receipt = await intake(Envelope(
            channel=Channel.SMS_MODEM, external_id="x1", received_at=clock.now(),
            text="路灯不亮", sender=citizen, reply_address=citizen))
        commands = RegistrarSmsCommands(sessions, clock)
        # The modem sends nothing itself: the answers are queued for the outbox.
        assert await commands.case_status(receipt.case_number, citizen,
                                          channel=Channel.SMS_MODEM, in_reply=False) is None
        assert await commands.unsubscribe(citizen, channel=Channel.SMS_MODEM,
                                          in_reply=False) is None
        # Twilio answers in its TwiML: returned, and recorded as sent in reply.
        said = await commands.case_status(receipt.case_number, citizen,
                                          channel=Channel.SMS_TWILIO, in_reply=True)
        async with sessions() as s:
            replies = (await s.execute(select(Notice).where(Notice.kind == "keyword_reply")
                                       .order_by(Notice.id))).scalars().all()
        assert [(n.channel, n.address, n.status) for n in replies] == [
            (Channel.SMS_MODEM, citizen, NoticeStatus.PENDING),
            (Channel.SMS_MODEM, citizen, NoticeStatus.PENDING),
            (Channel.SMS_TWILIO, citizen, NoticeStatus.SENT)]
        assert receipt.case_number in replies[0].text and "退订" in replies[1].text
        assert replies[2].text == said and replies[2].provider_ref == "in-reply:sms_twilio"
        assert all(n.essential for n in replies)  # a TD confirmation is not itself cancelled
    finally:
        await engine.dispose()


async def test_a_citizen_writing_traditional_gets_traditional_notices(
        db_url: str, tmp_path: Path, clock: FixedClock) -> None:
    from contract.envelope import Channel, Envelope
    from contract.normalise import detect_script
    from intake.service import IntakeService
    from registrar.attachments import AttachmentStore

    assert detect_script("這個路燈壞了，請處理") == "zh-Hant"
    assert detect_script("这个路灯坏了，请处理") == "zh-Hans"
    engine = create_engine(db_url)
    sessions = make_sessionmaker(engine)
    try:
        intake = IntakeService(sessions, clock, AttachmentStore(tmp_path), "FZ12345")
        await intake(Envelope(channel=Channel.SMS_MODEM, external_id="t1", received_at=clock.now(),
                              text="這個路燈壞了三天，請儘快處理", sender="+8613805912345",
                              reply_address="+8613805912345"))
        async with sessions() as s:
            case = (await s.execute(select(Case))).scalar_one()
            notice = (await s.execute(select(Notice))).scalar_one()
        assert case.language == "zh-Hant" and "訴求已登記" in notice.text
    finally:
        await engine.dispose()
