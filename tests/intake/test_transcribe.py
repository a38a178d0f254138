"""The transcription job over the database: recordings awaiting transcription get machine text
with word timings (never replacing the placeholder), failures are counted and bounded, and
an agent's transcription ends it all (issue 14.1, R5.1). Fake engine, real worker processes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from config.settings import TranscriptionSettings
from contract.clock import FixedClock
from contract.envelope import MACHINE_TEXT_MARK, Attachment, Channel, Envelope
from contract.transcript import voice_placeholder
from intake.transcribe import Transcriber, engine_factory
from intake.transcribe_pool import TranscriberPool
from registrar.attachments import AttachmentStore
from registrar.db import make_sessionmaker
from registrar.models import Case, Event
from registrar.registration import register
from registrar.transcription import awaits_transcription, record_transcription
from tests.conftest import TZ
from tests.intake.fake_engine import make_engine

Maker = async_sessionmaker[AsyncSession]


@pytest.fixture
def store(tmp_path: Path) -> AttachmentStore:
    return AttachmentStore(tmp_path / "attachments")


@pytest.fixture
def maker(engine: AsyncEngine) -> Maker:
    return make_sessionmaker(engine)


@pytest.fixture
async def pool() -> AsyncIterator[TranscriberPool]:
    async with TranscriberPool(make_engine, workers=1, max_queue=4) as running:
        yield running


async def voicemail(maker: Maker, store: AttachmentStore, clock: FixedClock, audio: str, *,
                    ext: str, channel: Channel = Channel.TWILIO_VOICE, minute: int = 0) -> Case:
    """A registered recording whose "audio" is the fake engine's command."""
    envelope = Envelope(channel=channel, external_id=ext, text=voice_placeholder(12),
                        sender="+8613805912345", reply_address="+8613805912345",
                        received_at=datetime(2026, 11, 24, 9, minute, tzinfo=TZ),
                        attachments=(Attachment(f"{ext}.wav", "audio/wav", audio.encode()),))
    async with maker.begin() as session:
        return (await register(session, envelope, clock=clock, store=store)).case


async def reload(maker: Maker, case: Case) -> tuple[Case, list[Event]]:
    async with maker() as session:
        row = (await session.execute(select(Case).where(Case.id == case.id))).scalar_one()
        log = list((await session.execute(select(Event).where(Event.case_id == case.id)
                                          .order_by(Event.id))).scalars())
    return row, log


def job(maker: Maker, pool: TranscriberPool, store: AttachmentStore, clock: FixedClock,
        **settings: object) -> Transcriber:
    return Transcriber(maker, pool, store, clock, TranscriptionSettings.model_validate(
        {"model_dir": "unused", **settings}))


async def test_machine_text_with_word_timings_is_added_and_the_case_still_awaits_the_agent(
        maker: Maker, pool: TranscriberPool, store: AttachmentStore, clock: FixedClock) -> None:
    sip = await voicemail(maker, store, clock, "say:鼓楼区 路灯 不亮", ext="sip-1",
                          channel=Channel.PHONE)
    twilio = await voicemail(maker, store, clock, "say:井盖 缺失", ext="CA1", minute=5)
    report = await job(maker, pool, store, clock).run_once()
    assert (report.found, report.transcribed, report.failed) == (2, 2, 0)
    case, log = await reload(maker, sip)
    assert case.text == f"{voice_placeholder(12)}\n\n{MACHINE_TEXT_MARK}\n鼓楼区 路灯 不亮"
    assert awaits_transcription(case)  # machine text is a help, not the record
    [done] = [e for e in log if e.action == "machine_transcribed"]
    assert [w["word"] for w in done.data["words"]] == ["鼓楼区", "路灯", "不亮"]
    assert all(w["end"] > w["start"] >= 0 for w in done.data["words"])
    assert done.data["confidence"] == 0.9 and done.data["engine"].startswith("fake:")
    assert (await reload(maker, twilio))[0].text.endswith("井盖 缺失")
    again = await job(maker, pool, store, clock).run_once()
    assert again.found == 0  # transcribed once, never again


async def test_agent_transcription_first_means_the_machine_result_is_dropped(
        maker: Maker, pool: TranscriberPool, store: AttachmentStore, clock: FixedClock) -> None:
    case = await voicemail(maker, store, clock, "say:机器 听到", ext="CA2")
    async with maker.begin() as session:
        await record_transcription(session, case.number, "仓山区金山大道井盖缺失", actor="agent",
                                   now=clock.now())
    report = await job(maker, pool, store, clock).run_once()
    assert report.found == 0
    assert (await reload(maker, case))[0].text == "仓山区金山大道井盖缺失"


async def test_failures_are_retried_up_to_max_attempts_and_an_unreadable_file_once(
        maker: Maker, pool: TranscriberPool, store: AttachmentStore, clock: FixedClock) -> None:
    crashing = await voicemail(maker, store, clock, "crash", ext="CA3")
    unreadable = await voicemail(maker, store, clock, "bad", ext="CA4", minute=1)
    transcriber = job(maker, pool, store, clock, max_attempts=2)
    first = await transcriber.run_once()
    second = await transcriber.run_once()
    third = await transcriber.run_once()
    assert (first.found, first.failed) == (2, 2)
    assert (second.found, second.failed) == (1, 1)  # the unreadable file is not tried again
    assert third.found == 0
    _, crash_log = await reload(maker, crashing)
    assert [e.action for e in crash_log].count("machine_transcription_failed") == 2
    case, bad_log = await reload(maker, unreadable)
    assert [e.action for e in bad_log].count("machine_transcription_refused") == 1
    assert case.text == voice_placeholder(12)  # still waiting for the agent, who listens


async def test_only_voice_cases_with_audio_are_picked_and_no_more_than_the_pool_takes(
        maker: Maker, store: AttachmentStore, clock: FixedClock) -> None:
    for n in range(3):
        await voicemail(maker, store, clock, f"say:第{n}条", ext=f"CA-{n}", minute=n)
    # An SMS that looks like a placeholder is a citizen's text, not a recording.
    await voicemail(maker, store, clock, "say:短信", ext="SM-1", channel=Channel.SMS_MODEM)
    async with TranscriberPool(make_engine, workers=1, max_queue=1) as small:
        report = await job(maker, small, store, clock).run_once()
        assert (report.found, report.transcribed) == (2, 2)
        rest = await job(maker, small, store, clock).run_once()
        assert (rest.found, rest.transcribed) == (1, 1)


def test_no_model_configured_means_no_worker() -> None:
    assert engine_factory(TranscriptionSettings()) is None
    assert engine_factory(TranscriptionSettings(model_dir="/srv/vosk-model-cn-0.22")) is not None
