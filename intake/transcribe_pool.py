"""A pool of transcription processes, outside the event loop, with a bounded queue.

Why processes and not threads: recognition holds the CPU (and vosk's native
code the GIL for long stretches), a model can take gigabytes that one process
should load once and keep, and a native crash or a recording that makes the
recogniser spin must not take the web or worker process down with it.

Why not ``concurrent.futures.ProcessPoolExecutor``: it cannot stop one job
that runs too long (only the whole pool), and after one worker dies every
pending job fails with ``BrokenProcessPool``. Here each worker is one process
on its own pipe, watched by one asyncio task: a job past its time limit gets
its process killed and restarted (``TranscriptionTimeout``), a process that
dies fails only the job it had (``WorkerCrashed``), and the next job starts a
fresh process that loads the model again. Jobs wait in an ``asyncio.Queue``;
``submit`` refuses (``PoolBusy``) once ``workers + max_queue`` are pending, so
the caller (the scan in ``intake.transcribe``) simply leaves the rest in the
database for its next pass.

Processes are started with ``spawn``: the parent runs threads (asyncio's
executor, aiosqlite) that ``fork`` would copy in an unknown state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from contract.transcript import Transcript
from intake.speech import EngineFactory, UnreadableAudio

log = logging.getLogger(__name__)


class TranscriptionFailed(Exception):
    """One job failed; ``retryable`` says whether the same file might succeed later."""

    retryable = True


class PoolBusy(TranscriptionFailed):
    """Every worker is busy and the queue is full: try the file on a later pass."""


class TranscriptionTimeout(TranscriptionFailed):
    """The job ran past its limit; its worker was killed and will be restarted."""


class WorkerCrashed(TranscriptionFailed):
    """The worker process died (or could not load the model) while holding the job."""


class BadRecording(TranscriptionFailed):
    """The engine refused the file (not a WAV we read): the same file fails again."""

    retryable = False


def _child(conn: Connection, factory: EngineFactory) -> None:
    """A worker process: load the model once, then answer one job per message until told to stop."""
    try:
        engine = factory()
    except BaseException as exc:  # the parent must learn why, not just see a dead pipe
        conn.send(("load_error", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", None))
    while True:
        try:
            path = conn.recv()
        except (EOFError, KeyboardInterrupt):
            return
        if path is None:
            return
        try:
            conn.send(("ok", engine.transcribe(path)))
        except UnreadableAudio as exc:
            conn.send(("bad", str(exc)))
        except Exception as exc:
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


async def _readable(conn: Connection, limit_s: float) -> bool:
    """Wait until the pipe has something (a message or EOF) without blocking the loop."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()
    fd = conn.fileno()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fd, wake)
    try:
        await asyncio.wait_for(ready, limit_s)
        return True
    except TimeoutError:
        return False
    finally:
        loop.remove_reader(fd)


@dataclass
class _Worker:
    """One process and its pipe; started on first use and after each failure."""

    index: int
    process: BaseProcess | None = None
    conn: Connection | None = None
    starts: int = 0

    def alive(self) -> bool:
        return self.process is not None and self.process.is_alive() and self.conn is not None

    def stop(self) -> None:
        """Kill the process (a stuck or dead worker is not asked twice) and forget it."""
        if self.process is not None:
            if self.process.is_alive():
                self.process.kill()
            self.process.join(timeout=5)
        if self.conn is not None:
            self.conn.close()
        self.process, self.conn = None, None


@dataclass
class TranscriberPool:
    """``workers`` processes, each with its own loaded engine, fed from a bounded queue."""

    factory: EngineFactory
    workers: int = 1
    max_queue: int = 8
    load_timeout_s: float = 120.0
    _queue: asyncio.Queue[tuple[str, float, asyncio.Future[Transcript]]] = field(init=False)
    _slots: list[_Worker] = field(init=False, default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(init=False, default_factory=list)
    _pending: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        if self.workers < 1 or self.max_queue < 0:
            raise ValueError("workers must be at least 1 and max_queue not negative")
        self._queue = asyncio.Queue()
        self._context: Any = multiprocessing.get_context("spawn")

    @property
    def starts(self) -> int:
        """How many processes were started in all (each start loads the model once)."""
        return sum(slot.starts for slot in self._slots)

    @property
    def free(self) -> int:
        """How many more jobs ``submit`` would take now."""
        return self.workers + self.max_queue - self._pending

    async def __aenter__(self) -> TranscriberPool:
        self._slots = [_Worker(i) for i in range(self.workers)]
        self._tasks = [asyncio.create_task(self._serve(slot), name=f"transcriber-{slot.index}")
                       for slot in self._slots]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for slot in self._slots:
            await asyncio.to_thread(slot.stop)
        while not self._queue.empty():
            _, _, future = self._queue.get_nowait()
            if not future.done():
                future.set_exception(PoolBusy("the pool was shut down"))

    def submit(self, path: str, *, timeout_s: float) -> asyncio.Future[Transcript]:
        """Queue one recording; its future holds the transcript or a ``TranscriptionFailed``."""
        if self._pending >= self.workers + self.max_queue:
            raise PoolBusy(f"{self._pending} recordings already pending")
        future: asyncio.Future[Transcript] = asyncio.get_running_loop().create_future()
        self._pending += 1
        future.add_done_callback(self._done)
        self._queue.put_nowait((path, timeout_s, future))
        return future

    async def transcribe(self, path: str, *, timeout_s: float) -> Transcript:
        """``submit`` and wait for the result."""
        return await self.submit(path, timeout_s=timeout_s)

    def _done(self, _: asyncio.Future[Transcript]) -> None:
        self._pending -= 1

    async def _serve(self, slot: _Worker) -> None:
        while True:
            path, timeout_s, future = await self._queue.get()
            if future.done():  # the caller gave up while it waited
                continue
            try:
                result = await self._run(slot, path, timeout_s)
            except TranscriptionFailed as exc:
                if not future.done():
                    future.set_exception(exc)
            else:
                if not future.done():
                    future.set_result(result)

    async def _start(self, slot: _Worker) -> Connection:
        parent: Connection
        parent, child = self._context.Pipe()
        process = self._context.Process(target=_child, args=(child, self.factory),
                                        name=f"hotline-transcriber-{slot.index}", daemon=True)
        await asyncio.to_thread(process.start)
        child.close()
        slot.process, slot.conn = process, parent
        slot.starts += 1
        if not await _readable(parent, self.load_timeout_s):
            await asyncio.to_thread(slot.stop)
            raise WorkerCrashed(f"the model did not load within {self.load_timeout_s:.0f} s")
        try:
            kind, detail = parent.recv()
        except EOFError:
            kind, detail = "load_error", "the worker died while loading the model"
        if kind != "ready":
            await asyncio.to_thread(slot.stop)
            raise WorkerCrashed(str(detail))
        log.info("transcriber %d started (pid %s)", slot.index, process.pid)
        return parent

    async def _run(self, slot: _Worker, path: str, timeout_s: float) -> Transcript:
        conn = slot.conn if slot.alive() else None
        if conn is None:
            await asyncio.to_thread(slot.stop)
            conn = await self._start(slot)
        try:
            conn.send(path)
        except (BrokenPipeError, OSError) as exc:
            await asyncio.to_thread(slot.stop)
            raise WorkerCrashed(f"worker {slot.index} was gone: {exc}") from exc
        if not await _readable(conn, timeout_s):
            log.warning("transcriber %d: %s ran past %.0f s; restarting it", slot.index, path,
                        timeout_s)
            await asyncio.to_thread(slot.stop)
            raise TranscriptionTimeout(f"no result within {timeout_s:.0f} s")
        try:
            kind, detail = conn.recv()
        except (EOFError, OSError) as exc:
            process = slot.process
            await asyncio.to_thread(slot.stop)  # joins it, so its exit code is known
            code = process.exitcode if process is not None else None
            raise WorkerCrashed(f"worker {slot.index} died (exit code {code})") from exc
        if kind == "ok":
            assert isinstance(detail, Transcript)
            return detail
        if kind == "bad":
            raise BadRecording(str(detail))
        raise TranscriptionFailed(str(detail))
