"""The transcription job: recordings awaiting transcription → the pool → machine text on the case.

Run by the ``worker`` role (``intake.wiring``) when ``[transcription] model_dir``
is set. The queue is the database itself: every pass asks the registrar for
voice cases still on their placeholder that no machine has transcribed
(``registrar.transcription.due_for_speech``), as many as the pool has room
for, and feeds their WAV files to the worker processes. So nothing is lost when
a worker, the pool or the whole process goes down: the next pass finds the
same cases again. A case whose attempts keep failing (time limits, crashes) is
left to the agent after ``max_attempts``; an unreadable file after one.

Without a model, or with the pool down, nothing here runs and nothing else
changes: the case was registered by its channel already, its text says it
awaits transcription, and the agent listens to the recording in the console.

Two worker processes may scan at once (several ``--only worker`` processes):
both may transcribe the same recording, and ``record_machine_transcript``
keeps the first result under a row lock. That wastes CPU, never data.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import wave
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from config.settings import TranscriptionSettings
from contract.clock import Clock
from contract.transcript import Transcript
from intake.speech import EngineFactory, vosk_engine
from intake.transcribe_pool import PoolBusy, TranscriberPool, TranscriptionFailed
from registrar.attachments import AttachmentStore
from registrar.transcription import (
    due_for_speech,
    record_machine_failure,
    record_machine_transcript,
)

log = logging.getLogger(__name__)


@dataclass(slots=True)
class PassReport:
    """What one pass did, for logs and tests."""

    found: int = 0
    transcribed: int = 0
    failed: int = 0
    skipped: int = 0
    """Found but not tried: the pool was full or the file was missing."""
    cases: list[int] = field(default_factory=list)


def _seconds(path: str) -> float:
    """The recording's length from its header (0 when unreadable: the engine will say why)."""
    try:
        with wave.open(path, "rb") as wav:
            rate = wav.getframerate()
            return wav.getnframes() / rate if rate else 0.0
    except (wave.Error, EOFError, OSError):
        return 0.0


@dataclass
class Transcriber:
    """One pass at a time over the recordings awaiting transcription."""

    sessionmaker: async_sessionmaker[AsyncSession]
    pool: TranscriberPool
    store: AttachmentStore
    clock: Clock
    settings: TranscriptionSettings

    async def run_once(self) -> PassReport:
        """Find due recordings, transcribe as many as the pool takes, record each result."""
        report = PassReport()
        room = self.pool.free
        if room <= 0:
            return report
        async with self.sessionmaker() as session:
            due = await due_for_speech(session, limit=room,
                                       max_attempts=self.settings.max_attempts)
        report.found = len(due)
        jobs: list[tuple[int, asyncio.Future[Transcript]]] = []
        for case_id, record in due:
            path = str(self.store.path_for(record.sha256))
            seconds = await asyncio.to_thread(_seconds, path)
            try:
                future = self.pool.submit(path, timeout_s=self.settings.timeout_s + 2 * seconds)
            except PoolBusy:
                report.skipped += 1
                continue
            jobs.append((case_id, future))
        for case_id, future in jobs:
            await self._settle(case_id, future, report)
        return report

    async def _settle(self, case_id: int, future: asyncio.Future[Transcript],
                      report: PassReport) -> None:
        now = self.clock.now()
        try:
            transcript = await future
        except TranscriptionFailed as exc:
            log.warning("transcription of case %s failed: %s", case_id, exc)
            async with self.sessionmaker.begin() as session:
                await record_machine_failure(session, case_id, str(exc), now=now,
                                             final=not exc.retryable)
            report.failed += 1
            return
        async with self.sessionmaker.begin() as session:
            if await record_machine_transcript(session, case_id, transcript, now=now):
                report.transcribed += 1
                report.cases.append(case_id)


def engine_factory(settings: TranscriptionSettings) -> EngineFactory | None:
    """The vosk factory for the configured model, or None when speech to text is off."""
    if not settings.model_dir:
        return None
    return functools.partial(vosk_engine, settings.model_dir)


@asynccontextmanager
async def transcription_worker(sessionmaker: async_sessionmaker[AsyncSession], store: AttachmentStore,
                               clock: Clock, settings: TranscriptionSettings, *,
                               factory: EngineFactory) -> AsyncIterator[Transcriber]:
    """The pool and a loop running a pass every ``interval_s``, for the app's ``cleanup_ctx``."""
    async with TranscriberPool(factory, workers=settings.workers, max_queue=settings.max_queue,
                               load_timeout_s=settings.model_load_timeout_s) as pool:
        transcriber = Transcriber(sessionmaker, pool, store, clock, settings)

        async def loop() -> None:
            while True:
                try:
                    report = await transcriber.run_once()
                    if report.found:
                        log.info("transcription pass: %s", report)
                except (OperationalError, DBAPIError, OSError):
                    # The database is away: the recordings stay due and the next pass retries.
                    log.exception("transcription pass failed; retrying in %.0f s",
                                  settings.interval_s)
                await asyncio.sleep(settings.interval_s)

        task = asyncio.create_task(loop(), name="transcription")
        try:
            yield transcriber
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
