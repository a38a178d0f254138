"""A voicemail's receipt: read back in the call, or texted when the case was registered after it.

Issue 11: "late registrations never tell the citizen their case number". A
message registered while the caller waits on the line is read back, so the
receipt notice is recorded as given; one registered later (the store was down
and the sweep took it, a crashed worker's recording registered at restart, the
caller hung up mid-message) must reach the caller's number by SMS. These run
the service side (``LineService``) against the real intake and outbox on both
databases, with a spooled WAV instead of a call: no SIP needed.
"""

from __future__ import annotations

import io
import math
import wave
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from channels.sip.service import LineService, Outcome
from channels.sip.spool import Meta, Spool
from contract.channel import ChannelPorts
from contract.clock import FixedClock
from contract.envelope import Channel
from contract.signing import CitizenCsrf, Signer
from forwarder.outbox import OutboxDispatcher
from intake.service import IntakeService
from registrar.attachments import AttachmentStore
from registrar.db import make_sessionmaker
from registrar.models import Notice, NoticeStatus
from tests.channels.sip.conftest import TZ, Service, line_settings
from tests.forwarder.test_outbox import POLICY, RecordingDeliverer

CALLER = "+8613805912345"


def _speech(seconds: float = 2.0) -> bytes:
    """A 16 kHz tone loud enough to count as a message (what a worker's recorder writes)."""
    frames = b"".join(int(8000 * math.sin(2 * math.pi * 440 * i / 16000)).to_bytes(2, "little", signed=True)
                      for i in range(int(16000 * seconds)))
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(frames)
    return out.getvalue()


def _line(engine: AsyncEngine, clock: FixedClock, tmp_path: Path) -> LineService:
    intake = IntakeService(sessionmaker=make_sessionmaker(engine), clock=clock,
                           store=AttachmentStore(tmp_path / "files"), prefix="FZ12345",
                           group_commit=False)
    signer = Signer(b"sip-test-secret-0123456789abcdef")
    commands = Service()

    async def record_status(ref: str, status: str, error_code: str | None) -> None:
        return None

    ports = ChannelPorts(sink=intake, clock=clock, announce=commands.announce, data_dir=tmp_path,
                         tz=TZ, commands=commands, record_status=record_status, signer=signer,
                         csrf=CitizenCsrf(signer))
    return LineService(line_settings(), ports, Spool(tmp_path / "spool"), tmp_path / "tts")


def _spool_message(line: LineService, key: str, *, caller: str | None = CALLER) -> None:
    line.spool.wav(key).write_bytes(_speech())
    line.spool.write_meta(Meta(key=key, sip_call_id=f"{key}@sipp", caller=caller, display_name=None,
                               worker=0, received_at=line.ports.clock.now().isoformat()))


async def _receipt(engine: AsyncEngine) -> Notice:
    async with make_sessionmaker(engine)() as session:
        return (await session.execute(select(Notice).where(Notice.kind == "receipt"))).scalar_one()


async def test_a_message_the_caller_hears_read_back_is_not_texted_again(
        engine: AsyncEngine, clock: FixedClock, tmp_path: Path) -> None:
    line = _line(engine, clock, tmp_path)
    _spool_message(line, "incall")
    answer = await line.handle(0, {"op": "record_done", "id": 7, "call": "incall", "listening": True})
    assert answer is not None and answer["result"] == "registered"
    notice = await _receipt(engine)
    assert (notice.channel, notice.status, notice.provider_ref) == (
        Channel.PHONE, NoticeStatus.SENT, "in-reply:phone")


@pytest.mark.parametrize("how", ["sweep after the store was down", "caller hung up mid-message"])
async def test_a_message_registered_after_the_call_gets_its_receipt_by_sms(
        engine: AsyncEngine, clock: FixedClock, tmp_path: Path, how: str) -> None:
    line = _line(engine, clock, tmp_path)
    _spool_message(line, "late")
    if how.startswith("sweep"):
        assert await line.recover() == 1  # what the sweep and a worker's restart call
    else:
        outcome, number = await line.register("late", told_in_call=False)
        assert outcome is Outcome.REGISTERED and number
    notice = await _receipt(engine)
    assert (notice.channel, notice.address, notice.status) == (
        Channel.SMS_MODEM, CALLER, NoticeStatus.PENDING)
    assert "CX" in notice.text  # the SMS wording (reply "CX <number>"), not "told by the agent"
    sms = RecordingDeliverer(Channel.SMS_MODEM)
    report = await OutboxDispatcher(make_sessionmaker(engine), {Channel.SMS_MODEM: sms}, clock,
                                    policy=POLICY).run_once()
    assert report.sent == 1
    [wire] = sms.sent
    assert wire.address == CALLER and wire.case_number in wire.text


async def test_a_withheld_caller_registered_late_has_no_number_to_text(
        engine: AsyncEngine, clock: FixedClock, tmp_path: Path) -> None:
    line = _line(engine, clock, tmp_path)
    _spool_message(line, "anon", caller=None)
    assert await line.recover() == 1
    notice = await _receipt(engine)
    assert notice.status == NoticeStatus.FAILED and "no reply address" in (notice.last_error or "")
