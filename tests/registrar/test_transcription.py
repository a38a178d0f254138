"""record_transcription(): a fax's placeholder becomes the agent's text, the log keeps the old one (R5.1)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from contract.clock import FixedClock
from contract.envelope import Channel, Envelope
from registrar.attachments import AttachmentStore
from registrar.models import Case, Event
from registrar.registration import register
from registrar.transcription import TranscriptionError, awaits_transcription, record_transcription
from tests.conftest import TZ

PLACEHOLDER = "[传真 2 页，待坐席录入]\n\n【机器识别，待人工核对】\n鼓楼区温泉路积水"


async def registered(session: AsyncSession, clock: FixedClock, tmp_path: Path, *,
                     channel: Channel = Channel.FAX, text: str = PLACEHOLDER, ext: str = "fax-1") -> Case:
    envelope = Envelope(channel=channel, external_id=ext, text=text, sender="+8659187654321",
                        reply_address="+8659187654321",
                        received_at=datetime(2026, 11, 24, 9, 30, tzinfo=TZ))
    return (await register(session, envelope, clock=clock, store=AttachmentStore(tmp_path))).case


async def events(session: AsyncSession, case: Case, action: str) -> list[Event]:
    return list((await session.execute(select(Event).where(
        Event.case_id == case.id, Event.action == action))).scalars())


async def test_R5_1_transcription_replaces_the_placeholder_and_the_event_keeps_it(
        session: AsyncSession, clock: FixedClock, tmp_path: Path) -> None:
    case = await registered(session, clock, tmp_path)
    assert awaits_transcription(case)
    later = clock.now() + timedelta(minutes=5)
    done = await record_transcription(session, case.number, "  鼓楼区温泉路 88 号积水，请疏通。 ",
                                      actor="李秀英@service-centre", now=later)
    assert done.text == "鼓楼区温泉路 88 号积水，请疏通。" and not awaits_transcription(done)
    [event] = await events(session, case, "transcribed")
    assert (event.actor, event.at) == ("李秀英@service-centre", later)
    assert event.data == {"previous_text": PLACEHOLDER, "chars": len(done.text)}
    assert done.emergency is None


async def test_a_second_transcription_is_refused_unless_it_is_a_correction(
        session: AsyncSession, clock: FixedClock, tmp_path: Path) -> None:
    case = await registered(session, clock, tmp_path)
    await record_transcription(session, case.number, "第一稿", actor="a", now=clock.now())
    with pytest.raises(TranscriptionError) as refused:
        await record_transcription(session, case.number, "第二稿", actor="b", now=clock.now())
    assert refused.value.code == "already" and case.text == "第一稿"
    await record_transcription(session, case.number, "更正稿", actor="a", now=clock.now(),
                               replace_transcribed=True)
    history = [e.data["previous_text"] for e in await events(session, case, "transcribed")]
    assert case.text == "更正稿" and history == [PLACEHOLDER, "第一稿"]


async def test_only_fax_cases_are_transcribed(session: AsyncSession, clock: FixedClock,
                                              tmp_path: Path) -> None:
    sms = await registered(session, clock, tmp_path, channel=Channel.SMS_MODEM, text="[传真] 短信原文",
                           ext="sms-1")
    with pytest.raises(TranscriptionError) as refused:
        await record_transcription(session, sms.number, "改写", actor="a", now=clock.now())
    assert refused.value.code == "not_transcribable" and sms.text == "[传真] 短信原文"
    assert await events(session, sms, "transcribed") == []
    with pytest.raises(TranscriptionError) as missing:
        await record_transcription(session, "FZ12345-20991231-000001", "x", actor="a", now=clock.now())
    assert missing.value.code == "not_found"


@pytest.mark.parametrize(("text", "code"), [("   ", "empty"), ("字" * 5001, "too_long")])
async def test_empty_or_overlong_text_is_refused(session: AsyncSession, clock: FixedClock, tmp_path: Path,
                                                 text: str, code: str) -> None:
    case = await registered(session, clock, tmp_path)
    with pytest.raises(TranscriptionError) as refused:
        await record_transcription(session, case.number, text, actor="a", now=clock.now())
    assert refused.value.code == code and case.text == PLACEHOLDER


async def test_R3_8_emergency_found_in_the_transcription_is_recorded(
        session: AsyncSession, clock: FixedClock, tmp_path: Path) -> None:
    case = await registered(session, clock, tmp_path)
    await record_transcription(session, case.number, "仓库起火", actor="a", now=clock.now(), emergency="119")
    [event] = await events(session, case, "transcribed")
    assert case.emergency == "119" and event.data["emergency"] == "119"
