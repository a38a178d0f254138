"""The pool of SIP worker processes: start, talk to, restart, and recover after each of them.

Each worker is ``python -m channels.sip.worker`` with one end of a
socketpair (no socket path to clean up, no port to pick); this side reads its
JSON lines in the service's event loop and answers through ``LineService``.
When a worker exits for any reason (a native abort, ``kill -9``, OOM), the
recordings it was writing are registered from the spool at once and the worker
is started again after ``restart_delay_s``; the rest of the service never
notices. A sweep offers the spool again every ``retry_s`` (the store was down).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from channels.sip.link import MAX_LINE, Message, WorkerConfig, decode, encode
from channels.sip.service import LineService
from channels.sip.settings import SipSettings

log = logging.getLogger(__name__)
READY_TIMEOUT_S = 30.0


@dataclass
class Worker:
    """One worker process as the service sees it."""

    index: int
    port: int = 0
    pid: int = 0
    calls: int = 0
    starts: int = 0
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    process: asyncio.subprocess.Process | None = None
    writer: asyncio.StreamWriter | None = None
    dials: dict[int, asyncio.Future[Message]] = field(default_factory=dict)
    """Outbound calls placed on this worker, by request id, until its ``dialed`` answer."""


class LineDown(Exception):
    """No worker could place the call (none running, or one died during it)."""


def worker_config(settings: SipSettings, index: int, spool_dir: Path) -> WorkerConfig:
    """What worker ``index`` is told: its ports, the menu's timings, the trunk."""
    return WorkerConfig(
        index=index, host=settings.host, port=settings.worker_sip_port(index),
        rtp_port=settings.worker_rtp_port(index), rtp_range=settings.rtp_ports_per_worker,
        number=settings.number, spool_dir=spool_dir, choice_timeout_s=settings.choice_timeout_s,
        digit_timeout_s=settings.digit_timeout_s, max_record_s=settings.max_record_s,
        silence_s=settings.silence_s, silence_level=settings.silence_level,
        agent_ring_s=settings.agent_ring_s, readback_times=settings.readback_times,
        registrar=settings.registrar,
        username=settings.username, password=settings.password, realm=settings.realm,
        log_level=settings.log_level, transfer=settings.transfer,
        emergency_transfer=settings.emergency_transfer, emergency_ring_s=settings.emergency_ring_s)


class WorkerPool:
    """Runs ``settings.workers`` workers and keeps them running."""

    def __init__(self, settings: SipSettings, service: LineService) -> None:
        self.settings, self.service = settings, service
        self.workers = [Worker(i) for i in range(settings.workers)]
        service.to_worker = self.send_to
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []
        self._dial_ids = itertools.count(1)

    async def start(self) -> None:
        """Start every worker and wait until each answers on its SIP port."""
        self._tasks = [asyncio.create_task(self._keep_running(w), name=f"sip-worker-{w.index}")
                       for w in self.workers]
        self._tasks.append(asyncio.create_task(self._sweep(), name="sip-spool-sweep"))
        self._tasks.append(asyncio.create_task(self._renew(), name="sip-agent-leases"))
        async with asyncio.timeout(READY_TIMEOUT_S):
            await asyncio.gather(*(w.ready.wait() for w in self.workers))

    async def dial(self, request: Message, *, timeout_s: float) -> Message:
        """Place one outbound call on the least busy worker; its ``dialed`` answer.

        Raises ``LineDown`` when no worker runs or the one placing it died, and
        ``TimeoutError`` after ``timeout_s`` (the worker hangs up long before).
        """
        ready = [w for w in self.workers if w.writer is not None and not w.writer.is_closing()]
        if not ready:
            raise LineDown("no SIP worker is running")
        worker = min(ready, key=lambda w: w.calls + len(w.dials))
        ident = next(self._dial_ids)
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        worker.dials[ident] = future
        try:
            assert worker.writer is not None
            worker.writer.write(encode({**request, "op": "dial", "id": ident}))
            async with asyncio.timeout(timeout_s):
                return await future
        finally:
            worker.dials.pop(ident, None)

    def send_to(self, index: int, message: dict[str, object]) -> bool:
        """Write ``message`` to worker ``index``; False when it is not running now."""
        writer = self.workers[index].writer if 0 <= index < len(self.workers) else None
        if writer is None or writer.is_closing():
            return False
        try:
            writer.write(encode(message))
        except (OSError, RuntimeError):
            return False
        return True

    async def stop(self) -> None:
        self._stopping = True
        for worker in self.workers:
            await self._ask_to_stop(worker)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _ask_to_stop(self, worker: Worker) -> None:
        process = worker.process
        if process is None or process.returncode is not None:
            return
        if worker.writer is not None:
            with contextlib.suppress(OSError, RuntimeError):
                worker.writer.write(encode({"op": "stop"}))
        try:
            async with asyncio.timeout(5):
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()

    async def _keep_running(self, worker: Worker) -> None:
        while not self._stopping:
            try:
                await self._run_once(worker)
            except OSError as exc:
                log.error("sip worker %d could not start: %s", worker.index, exc)
            if self._stopping:
                return
            await self.service.worker_gone(worker.index)
            recovered = await self.service.recover(worker=worker.index)
            log.warning("sip worker %d exited; %d recording(s) registered from the spool; restarting",
                        worker.index, recovered)
            await asyncio.sleep(self.settings.restart_delay_s)

    async def _run_once(self, worker: Worker) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        config = worker_config(self.settings, worker.index, self.service.spool.directory)
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "channels.sip.worker", config.to_json(), str(theirs.fileno()),
                pass_fds=(theirs.fileno(),), stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        finally:
            theirs.close()
        worker.process, worker.pid, worker.calls = process, process.pid, 0
        worker.starts += 1
        reader, writer = await asyncio.open_unix_connection(sock=ours, limit=MAX_LINE * 2)
        worker.writer = writer
        assert process.stdout is not None  # pjsua logs to stdout, Python to stderr: both here
        logs = asyncio.create_task(_forward_log(worker.index, process.stdout))
        try:
            await self._serve(worker, reader, writer)
        finally:
            logs.cancel()
            worker.writer = None
            for future in worker.dials.values():  # its outbound calls died with it
                if not future.done():
                    future.set_exception(LineDown(f"sip worker {worker.index} exited"))
            writer.close()
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
            await process.wait()

    async def _serve(self, worker: Worker, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        pending: set[asyncio.Task[None]] = set()
        while True:
            try:
                line = await reader.readline()
            except (ValueError, asyncio.LimitOverrunError):
                log.error("sip worker %d sent an over-long line; restarting it", worker.index)
                return
            if not line:
                return
            message = decode(line)
            if message is None:
                continue
            if message["op"] == "hello":
                worker.port = int(message.get("port", 0))
                worker.ready.set()
                log.info("sip worker %d (pid %d) on %s:%d", worker.index, worker.pid,
                         self.settings.host, worker.port)
                continue
            if message["op"] == "call":
                worker.calls = int(message.get("calls", 0))
                continue
            if message["op"] == "dialed":
                waiting = worker.dials.get(int(message.get("id", 0)))
                if waiting is not None and not waiting.done():
                    waiting.set_result(message)
                continue
            # Answered in their own task: a slow registration never holds up another call.
            task = asyncio.create_task(self._answer(worker, writer, message))
            pending.add(task)
            task.add_done_callback(pending.discard)

    async def _answer(self, worker: Worker, writer: asyncio.StreamWriter,
                      message: dict[str, object]) -> None:
        try:
            answer = await self.service.handle(worker.index, message)
        except Exception:
            # The caller must hear something; a recording stays in the spool for the sweep.
            log.exception("sip: answering %s from worker %d failed", message.get("op"), worker.index)
            answer = {"op": "answer", "id": message.get("id"), "result": "kept", "text": ""}
        if answer is not None and not writer.is_closing():
            with contextlib.suppress(OSError, RuntimeError):
                writer.write(encode(answer))

    async def _sweep(self) -> None:
        """Offer the spool again every ``retry_s``: what the store could not take, and leftovers."""
        while True:
            await asyncio.sleep(self.settings.retry_s)
            registered = await self.service.recover()
            if registered:
                log.info("sip: %d spooled recording(s) registered", registered)


    async def _renew(self) -> None:
        """Keep the agents on this pool's calls "on a call": their leases renewed every third."""
        while True:
            await asyncio.sleep(self.settings.agent_lease_s / 3)
            try:
                await self.service.renew_holds()
            except Exception:  # the database is away: the leases may lapse, the calls go on
                log.exception("sip: agents' leases not renewed")


async def _forward_log(index: int, stream: asyncio.StreamReader) -> None:
    """A worker's output (its own log and pjsua's) into the service's log, line by line."""
    worker_log = logging.getLogger(f"channels.sip.worker.{index}")
    while True:
        try:
            line = await stream.readline()
        except ValueError:  # an over-long line: skip it
            continue
        if not line:
            return
        worker_log.info("%s", line.decode("utf-8", "replace").rstrip())


@asynccontextmanager
async def running_pool(settings: SipSettings, service: LineService) -> AsyncIterator[WorkerPool]:
    """The pool, started (spool recovered first), stopped on exit."""
    recovered = await service.recover()
    if recovered:
        log.info("sip: %d recording(s) left from before registered at start", recovered)
    pool = WorkerPool(settings, service)
    try:
        await pool.start()
        yield pool
    finally:
        await pool.stop()
