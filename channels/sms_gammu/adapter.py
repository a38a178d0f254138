"""The GSM-modem SMS channel as one long-lived resource: poll, register, answer, delete.

``gammu_sms_channel(settings, sink, commands)`` starts the modem thread and a
poll task and yields a ``GammuSmsChannel`` whose ``deliverer`` the outbox uses
for ``Channel.SMS_MODEM`` notices. Each poll:

1. reads every received part from the modem (in the modem thread);
2. groups parts with those kept in the partial store; a complete group, or
   one whose first part is older than ``parts_timeout_s``, is handled, an
   incomplete one is moved into the store (fsynced, then deleted from the SIM);
3. handles a message: an item goes to the sink; a keyword's answer is queued in the outbox;
   an empty SMS is only logged;
4. **only then** deletes its parts from the modem. The sink raising
   ``TryLater`` leaves everything in place and the next polls back off.

A crash anywhere leaves the SMS on the modem (or in the store); the re-read
yields the same external id, which the sink deduplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from channels.sms_gammu.deliver import GammuDeliverer, Sleep, TokenBucket
from channels.sms_gammu.inbound import Command, Discard, Item, classify
from channels.sms_gammu.modem import GammuPort, ModemPort, ModemThread, ModemUnavailable
from channels.sms_gammu.reassembly import (
    PartialStore,
    SmsMessage,
    SmsPart,
    assemble,
    group_parts,
    is_ready,
    part_from_gammu,
)
from channels.sms_gammu.settings import GammuSettings
from contract.envelope import Channel, Sink, TryLater
from contract.sms_keywords import (
    CaseQuery,
    QueryHelp,
    SmsCommands,
    Unsubscribe,
    parse_rating,
)

log = logging.getLogger(__name__)


@dataclass(slots=True)
class PollReport:
    """What one poll did; the run loop backs off on ``deferred``."""

    registered: int = 0
    answered: int = 0
    discarded: int = 0
    waiting: int = 0
    deferred: int = 0
    failed: int = 0


class _KeepOnModem(Exception):
    """Handling could not finish; leave the SMS where it is for the next poll."""


class GammuSmsChannel:
    """Inbound polling and outbound delivery over one modem thread."""

    def __init__(self, settings: GammuSettings, sink: Sink, commands: SmsCommands, *,
                 modem: ModemThread, deliverer: GammuDeliverer, store: PartialStore,
                 now: Callable[[], datetime]) -> None:
        self.settings = settings
        self.deliverer = deliverer
        self._sink = sink
        self._commands = commands
        self._modem = modem
        self._store = store
        self._now = now
        self._naive_tz = ZoneInfo(settings.modem_timezone)
        self._timeout = timedelta(seconds=settings.parts_timeout_s)
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Poll now instead of at the next interval (e.g. after a modem ring)."""
        self._wake.set()

    async def poll_once(self) -> PollReport:
        """Read the modem once and handle everything ready; see the module docstring."""
        async with self._lock:
            raws = await self._modem.call(lambda port: port.read_inbox(), reset_on_error=True)
            sim_parts = [part_from_gammu(raw, naive_tz=self._naive_tz) for raw in raws]
            stored = await asyncio.to_thread(self._store.load)
            done = {key for key, group in stored.items() if group.done}
            everything = sim_parts + [p for g in stored.values() if not g.done for p in g.parts]
            groups = group_parts(everything)
            report = PollReport()
            for key in done:
                # A message handled before a crash: only leftovers on the modem remain.
                await self._delete([p.location for p in groups.pop(key, []) if p.location])
                await asyncio.to_thread(self._store.remove, key)
            for key, parts in sorted(groups.items(), key=lambda kv: min(p.sent_at for p in kv[1])):
                group = stored.get(key)
                first_seen = group.first_seen if group else self._now()
                if not is_ready(parts, first_seen=first_seen, now=self._now(),
                                timeout=self._timeout):
                    await self._keep_waiting(key, parts, first_seen)
                    report.waiting += 1
                    continue
                message = assemble(parts)
                try:
                    await self._handle(message, report)
                except TryLater as exc:
                    log.warning("sms: store unavailable, %s stays on the modem: %s",
                                message.external_id, exc)
                    report.deferred += 1
                    break  # the store is down for the rest too
                except _KeepOnModem:
                    report.failed += 1
                    continue
                await self._finish(key, message, multipart=message.total > 1)
            return report

    async def _keep_waiting(self, key: str, parts: Sequence[SmsPart],
                            first_seen: datetime) -> None:
        on_modem = [p for p in parts if p.location is not None]
        if not on_modem:
            return
        await asyncio.to_thread(self._store.add, key, on_modem, first_seen=first_seen)
        await self._delete([p.location for p in on_modem if p.location is not None])

    async def _finish(self, key: str, message: SmsMessage, *, multipart: bool) -> None:
        if multipart:
            # Mark before deleting: a crash half-way must not leave parts that
            # later time out and file the same words again.
            await asyncio.to_thread(self._store.mark_done, key)
        await self._delete(list(message.locations))
        if multipart:
            await asyncio.to_thread(self._store.remove, key)

    async def _delete(self, locations: Sequence[int]) -> None:
        for location in locations:
            await self._modem.call(functools.partial(_delete_one, location=location))

    async def _handle(self, message: SmsMessage, report: PollReport) -> None:
        action = classify(message, received_at=self._now())
        if isinstance(action, Discard):
            log.info("sms: %s from %r deleted without registering: %s",
                     message.external_id, message.sender, action.reason)
            report.discarded += 1
            return
        if isinstance(action, Item) and await self._rated(action):
            report.answered += 1
            return
        if isinstance(action, Item):
            try:
                receipt = await self._sink(action.envelope)
            except TryLater:
                raise
            except Exception as exc:
                log.exception("sms: sink failed on %s; kept on the modem", message.external_id)
                raise _KeepOnModem from exc
            log.info("sms: %s registered as %s (new=%s)", message.external_id,
                     receipt.case_number, receipt.created)
            report.registered += 1
            return
        await self._answer(action)
        report.answered += 1

    async def _rated(self, item: Item) -> bool:
        """True when the item is a rating reply the commands took (R12 回访); a bare "1"
        from a number with no open rating request is registered as an item instead."""
        envelope = item.envelope
        choice = parse_rating(envelope.text) if not envelope.attachments else None
        if choice is None or not envelope.sender:
            return False
        taken = await self._commands.rate(choice, envelope.sender, channel=Channel.SMS_MODEM,
                                          in_reply=False)
        return taken.taken

    async def _answer(self, command: Command) -> None:
        """Have the commands queue the answer in the outbox; the modem never sends one
        itself, so every answer leaves a trace and waits out a modem that is down."""
        keyword, sender = command.keyword, command.sender_e164
        if isinstance(keyword, CaseQuery):
            await self._commands.case_status(keyword.case_number, sender,
                                             channel=Channel.SMS_MODEM, in_reply=False)
        elif isinstance(keyword, Unsubscribe):
            await self._commands.unsubscribe(sender, channel=Channel.SMS_MODEM, in_reply=False)
        else:
            assert isinstance(keyword, QueryHelp)
            await self._commands.query_help(sender, channel=Channel.SMS_MODEM, in_reply=False)

    async def run(self) -> None:
        """Poll forever: every ``poll_interval_s``, backing off while the store is down."""
        backoff = 0.0
        while True:
            self._wake.clear()  # a wake() during the poll below still counts
            try:
                report = await self.poll_once()
            except ModemUnavailable as exc:
                log.warning("sms: modem unavailable: %s", exc)
                report = PollReport()
            except Exception:
                # Whatever failed, the SMS are still on the modem or in the store;
                # the loop must outlive it, loudly, and try again after a pause.
                log.exception("sms: poll failed; retrying")
                report = PollReport(deferred=1)
            if report.deferred:
                backoff = min(self.settings.max_backoff_s,
                              max(backoff * 2, self.settings.poll_interval_s))
            else:
                backoff = 0.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(),
                                       backoff or self.settings.poll_interval_s)


def _delete_one(port: ModemPort, *, location: int) -> None:
    port.delete(location)


def _utc_now() -> datetime:
    return datetime.now(UTC)


@asynccontextmanager
async def gammu_sms_channel(
    settings: GammuSettings, sink: Sink, commands: SmsCommands, *,
    port_factory: Callable[[], ModemPort] | None = None,
    now: Callable[[], datetime] = _utc_now,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Sleep = asyncio.sleep,
    poll: bool = True,
) -> AsyncIterator[GammuSmsChannel]:
    """Run the channel for the block's duration; ``poll=False``: the caller polls.

    ``now``, ``monotonic`` and ``sleep`` are injected so tests never wait.
    """
    factory = port_factory or (lambda: GammuPort(settings))
    if settings.model == "dummy":
        # The dummy phone is a directory; make the demo work out of the box.
        await asyncio.to_thread((Path(settings.device) / "sms" / "1").mkdir,
                                parents=True, exist_ok=True)
    modem = ModemThread(factory, reconnect_delay_s=settings.reconnect_delay_s,
                        monotonic=monotonic)
    bucket = TokenBucket(settings.send_rate_per_minute, monotonic=monotonic, sleep=sleep)
    deliverer = GammuDeliverer(modem, bucket=bucket, attempts=settings.send_attempts,
                               sleep=sleep)
    channel = GammuSmsChannel(settings, sink, commands, modem=modem, deliverer=deliverer,
                              store=PartialStore(settings.state_dir), now=now)
    modem.start()
    task = asyncio.create_task(channel.run(), name="gammu-sms-poll") if poll else None
    try:
        yield channel
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await modem.stop()
