"""The one thread that owns the modem, and the asyncio side's way to reach it.

python-gammu blocks (an AT modem answers in hundreds of milliseconds, times
out in seconds) and a ``StateMachine`` must not be shared between threads.
So one dedicated thread holds it and runs commands from a queue, one at a
time; each command's result goes back to the event loop with
``loop.call_soon_threadsafe``. Reads, deletes and sends all pass here, so the
SIM is never read and written at once.

When the modem fails (unplugged, a serial error, a vanished device) the thread
drops the ``StateMachine`` — it is never used again: python-gammu crashes the
process when a machine whose ``Init`` failed is used — and opens a fresh one
``reconnect_delay_s`` later, on the next command. Until then commands fail
fast with ``ModemUnavailable``, and the callers keep their messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import gammu

from channels.sms_gammu.settings import GammuSettings

log = logging.getLogger(__name__)

T = TypeVar("T")

# Errors that mean "the link to the modem is gone", not "this message is bad".
CONNECTION_ERRORS = frozenset({
    "ERR_DEVICEOPENERROR", "ERR_DEVICELOCKED", "ERR_DEVICENOTEXIST", "ERR_DEVICEBUSY",
    "ERR_DEVICENOPERMISSION", "ERR_DEVICENODRIVER", "ERR_DEVICENOTWORK",
    "ERR_DEVICEDTRRTSERROR", "ERR_DEVICECHANGESPEEDERROR", "ERR_DEVICEWRITEERROR",
    "ERR_DEVICEREADERROR", "ERR_DEVICEPARITYERROR", "ERR_TIMEOUT", "ERR_NOTCONNECTED",
    "ERR_PHONEOFF", "ERR_NOSIM", "ERR_ABORTED", "ERR_COULDNT_CONNECT",
})


class ModemUnavailable(Exception):
    """The modem cannot be reached now; try again later, nothing was changed."""


class ModemPort(Protocol):
    """The few operations the channel needs from a phone or modem."""

    def read_inbox(self) -> list[dict[str, Any]]:
        """Every received SMS part on the device (SIM and phone memory)."""
        ...

    def delete(self, location: int) -> None:
        """Delete one SMS; one already gone is not an error."""
        ...

    def send(self, message: dict[str, Any]) -> int:
        """Send one encoded part; returns the network's message reference."""
        ...

    def close(self) -> None:
        """Release the device."""
        ...


class GammuPort:
    """A ``ModemPort`` over a python-gammu ``StateMachine`` configured from settings."""

    def __init__(self, settings: GammuSettings) -> None:
        machine = gammu.StateMachine()
        machine.SetConfig(0, {
            "Device": settings.device,
            "Connection": settings.connection,
            "Model": settings.model,
            "LockDevice": False,
            "StartInfo": False,
            "SyncTime": False,
        })
        machine.Init()  # raises; the half-made machine is then dropped, never used
        self._machine: Any = machine

    def read_inbox(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        try:
            batch = self._machine.GetNextSMS(Start=True, Folder=0)
            while True:
                found.extend(batch)
                batch = self._machine.GetNextSMS(Location=batch[0]["Location"], Folder=0)
        except gammu.ERR_EMPTY:
            pass
        # Folder 0 walks every folder; outgoing copies and reports are not ours.
        return [sms for sms in found if sms.get("Type") == "Deliver"]

    def delete(self, location: int) -> None:
        with contextlib.suppress(gammu.ERR_EMPTY, gammu.ERR_INVALIDLOCATION):
            self._machine.DeleteSMS(Folder=0, Location=location)

    def send(self, message: dict[str, Any]) -> int:
        return int(self._machine.SendSMS(message))

    def close(self) -> None:
        with contextlib.suppress(gammu.GSMError):
            self._machine.Terminate()


PortFactory = Callable[[], ModemPort]

_STOP = object()


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # the caller gave up (cancelled) meanwhile
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class ModemThread:
    """Owns the port in one thread; ``await call(fn)`` runs ``fn(port)`` there."""

    def __init__(self, factory: PortFactory, *, reconnect_delay_s: float,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._factory = factory
        self._delay = reconnect_delay_s
        self._monotonic = monotonic
        self._queue: queue.Queue[Any] = queue.Queue()
        self._port: ModemPort | None = None
        self._retry_at = 0.0
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.resets = 0
        """How often the modem was dropped and reopened (for tests and metrics)."""

    def start(self) -> None:
        """Start the thread, bound to the running event loop."""
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="gammu-modem", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        """Finish the command under way, fail the rest, close the device."""
        if self._thread is None:
            return
        self._queue.put(_STOP)
        await asyncio.to_thread(self._thread.join, 30)
        self._thread = None

    async def call(self, fn: Callable[[ModemPort], T], *, reset_on_error: bool = False) -> T:
        """Run ``fn`` in the modem thread; ``reset_on_error`` reopens the modem on any error."""
        if self._loop is None or self._thread is None:
            raise ModemUnavailable("modem thread not running")
        future: asyncio.Future[T] = self._loop.create_future()
        self._queue.put((fn, future, reset_on_error))
        return await future

    def _open(self) -> ModemPort:
        if self._port is not None:
            return self._port
        if self._monotonic() < self._retry_at:
            raise ModemUnavailable("modem failed recently; waiting before reopening it")
        try:
            self._port = self._factory()
        except (gammu.GSMError, OSError) as exc:
            self._retry_at = self._monotonic() + self._delay
            log.warning("gammu: cannot open the modem (retry in %.0f s): %s", self._delay, exc)
            raise ModemUnavailable(f"cannot open the modem: {exc}") from exc
        log.info("gammu: modem opened")
        return self._port

    def _drop(self, exc: BaseException) -> None:
        log.warning("gammu: modem failed, reopening in %.0f s: %s", self._delay, exc)
        port, self._port = self._port, None
        self._retry_at = self._monotonic() + self._delay
        self.resets += 1
        if port is not None:
            port.close()

    def _execute(self, fn: Callable[[ModemPort], Any], reset_on_error: bool) -> Any:
        port = self._open()
        try:
            return fn(port)
        except gammu.GSMError as exc:
            if reset_on_error or type(exc).__name__ in CONNECTION_ERRORS:
                self._drop(exc)
                raise ModemUnavailable(f"modem failed: {exc}") from exc
            raise
        except OSError as exc:  # a serial port or directory that vanished under us
            self._drop(exc)
            raise ModemUnavailable(f"modem failed: {exc}") from exc

    def _run(self) -> None:
        assert self._loop is not None
        loop = self._loop
        while True:
            item = self._queue.get()
            if item is _STOP:
                break
            fn, future, reset_on_error = item
            result: Any = None
            error: BaseException | None = None
            try:
                result = self._execute(fn, reset_on_error)
            except Exception as exc:  # handed to the awaiting coroutine, never swallowed
                error = exc
            try:
                loop.call_soon_threadsafe(_settle, future, result, error)
            except RuntimeError:  # the loop closed while we worked: nobody waits
                break
        if self._port is not None:
            self._port.close()
            self._port = None
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item is not _STOP:
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(
                        _settle, item[1], None, ModemUnavailable("modem thread stopped"))
