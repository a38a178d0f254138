"""The outbox dispatcher: every notice row is delivered through its channel's ``deliver()``.

One pass (``run_once``) has three steps, so that no transaction is held open
while a provider is being talked to:

1. **Claim** in one short transaction the due rows: PENDING whose time has
   come, and SENDING whose lease ran out (the worker that claimed them died).
   On PostgreSQL the rows are locked ``FOR UPDATE SKIP LOCKED``, so several
   worker processes share the outbox without taking the same row; SQLite runs
   every transaction ``BEGIN IMMEDIATE``, which serialises the claims. A claimed
   row is SENDING with ``next_attempt_at`` = now + lease and one more attempt
   counted, so a worker that crashes mid-send costs one attempt, not the notice.
2. **Deliver** outside any transaction.
3. **Record** each result in its own transaction: SENT, a retry later with
   exponential backoff, or FAILED for good followed by the fallback to another
   contact of the citizen. A result only changes a row the same claim still
   holds (status SENDING with the attempt count it was claimed with).

Delivery is at least once: a worker that dies after the provider accepted a
notice but before recording it makes the next claim send it again. Deadlines
for retries are rows, not timers (DESIGN.md, invariant 4): a restarted worker
finds every due notice in the table.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contract.clock import Clock
from contract.contact_kinds import sms_to_landline
from contract.envelope import Channel, TryLater
from contract.notice import Deliverer, Heard, SendError
from contract.notice import Notice as WireNotice
from forwarder.callbacks import CHOICES, REQUEST_KIND, record_callback, request_rating
from forwarder.outbox_rules import (
    CallPolicy,
    DispatchReport,
    RetryPolicy,
    exhausted,
    is_call,
    retry_at,
)
from forwarder.outbox_states import (
    add_event,
    call_unanswered,
    cancel,
    mark_failed,
    mark_retry,
    mark_sent,
    opted_out,
)
from forwarder.outbox_states import record_status as _record_status
from registrar.models import Case, Notice, NoticeStatus
from registrar.models_cockpit import CallbackRating

log = logging.getLogger(__name__)

SMS_TO_LANDLINE = "座机无法接收短信，未发送（转下一联系方式）"
"""Why an SMS notice to a landline was never handed to the gateway."""
SILENT_CALL = "no-status-report"
"""The status a call gets when the provider never reported its end (``calls.status_timeout``)."""


@dataclass(frozen=True, slots=True)
class _Claim:
    """One row this worker holds: what to send, or why it cannot be sent at all."""

    notice_id: int
    attempt: int
    wire: WireNotice | None
    problem: str = ""


@dataclass(frozen=True, slots=True)
class _Outcome:
    ref: str | None = None
    error: str = ""
    retryable: bool = False
    code: str = ""
    heard: bool = False
    """A call answered and played to its end (``Heard``): delivered, not only sent."""
    key: str = ""
    """The key a callee pressed in a keypad call-back."""


class OutboxDispatcher:
    """Delivers the outbox; one per worker process, any number of processes on PostgreSQL."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession],
                 deliverers: Mapping[str, Deliverer], clock: Clock, *,
                 policy: RetryPolicy | None = None, sms_channel: str = Channel.SMS_MODEM,
                 rand: Callable[[], float] = random.random,
                 callback_window_days: int = 7, calls: CallPolicy | None = None,
                 voice_channel: str = "") -> None:
        self._sessionmaker = sessionmaker
        self._deliverers = dict(deliverers)
        self._clock = clock
        self.policy = policy or RetryPolicy()
        self._sms_channel = sms_channel
        self._rand = rand
        self._callback_window_days = callback_window_days
        self.calls = calls or CallPolicy()
        """When notices spoken in a call may ring, and how often one is tried."""
        self._voice_channel = voice_channel
        self._wake = asyncio.Event()

    def poke(self) -> None:
        """A notice was just written: let the worker look now instead of at its next tick."""
        self._wake.set()

    async def wait_for_poke(self, interval_s: float) -> None:
        """Sleep until poked or ``interval_s`` seconds passed (the worker loop's pause)."""
        with suppress(TimeoutError):
            async with asyncio.timeout(interval_s):
                await self._wake.wait()
        self._wake.clear()

    async def run_once(self, *, limit: int = 20) -> DispatchReport:
        """Claim up to ``limit`` due notices, deliver them, record each result."""
        report = DispatchReport()
        await self._expire_silent_calls(limit, report)
        claims = await self._claim(limit, report)
        gate = asyncio.Semaphore(self.policy.concurrency)

        async def one(claim: _Claim) -> None:
            async with gate:
                outcome = await self._deliver(claim)
            try:
                await self._record(claim, outcome, report)
            except (OperationalError, DBAPIError, OSError):
                # The row keeps its lease and is claimed again when it runs out.
                report.errors += 1
                log.exception("outbox: could not record the result of notice %s", claim.notice_id)

        await asyncio.gather(*(one(claim) for claim in claims))
        return report

    async def record_delivery_status(self, ref: str, status: str, error_code: str | None) -> None:
        """A provider's delivery report (the Twilio status webhook's ``StatusRecorder``).

        ``ref`` is our notice id or the provider's message reference. Raises
        ``TryLater`` when the database cannot take it, so the provider retries.
        """
        try:
            async with self._sessionmaker.begin() as session:
                now = self._clock.now()
                changed = await _record_status(session, ref, status, error_code, now=now,
                                               sms_channel=self._sms_channel,
                                               usable_channels=self._deliverers.keys(),
                                               again=self._again,
                                               voice_channel=self._voice_channel)
                if changed is not None:
                    await self._ask_rating(session, changed, now)
        except (OperationalError, DBAPIError, OSError) as exc:
            log.exception("outbox: could not record delivery status %r for %r", status, ref)
            raise TryLater(str(exc)) from exc

    # -- step 0: calls whose end was never reported ----------------------------------------

    async def _expire_silent_calls(self, limit: int, report: DispatchReport) -> None:
        """Calls SENT longer than ``calls.status_timeout`` ago count as unanswered.

        Twilio only queues a call at ``deliver``; its status callback says how it
        ended. A callback that never arrives (our web process down for longer than
        Twilio retries, a lost request) would leave the notice SENT forever, with no
        retry and no fallback. Rows the outbox never sent (``attempts`` 0: a receipt
        given in the call) are not calls waiting for a status.
        """
        if not self.calls.channels & self._deliverers.keys():
            return  # no calls placed here: no transaction per pass for nothing
        async with self._sessionmaker.begin() as session:
            now = self._clock.now()
            query = (select(Notice).where(
                Notice.status == NoticeStatus.SENT, Notice.channel.in_(self.calls.channels),
                Notice.attempts > 0, Notice.sent_at <= now - self.calls.status_timeout)
                .order_by(Notice.sent_at, Notice.id).limit(limit))
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            for notice in (await session.execute(query)).scalars():
                await call_unanswered(session, notice, SILENT_CALL, now=now,
                                      sms_channel=self._sms_channel,
                                      usable_channels=self._deliverers.keys(), again=self._again,
                                      voice_channel=self._voice_channel)
                report.silent += 1
                if notice.status == NoticeStatus.FAILED:
                    report.failed += 1
                else:
                    report.retried += 1
        if report.silent:
            log.warning("outbox: %d call(s) had no status report within %s; counted unanswered",
                        report.silent, self.calls.status_timeout)

    # -- step 1 -----------------------------------------------------------------------------

    async def _claim(self, limit: int, report: DispatchReport) -> list[_Claim]:
        claims: list[_Claim] = []
        async with self._sessionmaker.begin() as session:
            now = self._clock.now()
            due = or_(
                and_(Notice.status == NoticeStatus.PENDING,
                     or_(Notice.next_attempt_at <= now, Notice.next_attempt_at.is_(None))),
                and_(Notice.status == NoticeStatus.SENDING, Notice.next_attempt_at <= now),
            )
            # Outer join: a keyword answer that concerns no case has no number.
            query = (select(Notice, Case.number).outerjoin(Case, Case.id == Notice.case_id)
                     .where(due).order_by(Notice.next_attempt_at, Notice.id).limit(limit))
            if session.get_bind().dialect.name == "postgresql":
                # Lock the notice rows only, never the case: the workflow may be updating it.
                query = query.with_for_update(skip_locked=True, of=Notice)
            rows = (await session.execute(query)).all()
            report.due = len(rows)
            for notice, number in rows:
                claim = await self._claim_one(session, notice, number, report)
                if claim is not None:
                    claims.append(claim)
        report.claimed = len(claims)
        return claims

    async def _claim_one(self, session: AsyncSession, notice: Notice, number: str | None,
                         report: DispatchReport) -> _Claim | None:
        now = self._clock.now()
        before = notice.status
        reclaimed = before == NoticeStatus.SENDING
        if reclaimed and self._spent(notice):
            # The last allowed attempt died with its worker: no more tries.
            await self._fail(session, notice, error="worker stopped during the last attempt "
                             "(lease expired)", code="lease_expired", report=report)
            return None
        if is_call(self.calls, notice.channel) and (at := self.calls.next_opening(now)) > now:
            # Nobody's phone rings at night or on a day off: the call waits, no attempt spent.
            notice.next_attempt_at = at
            add_event(session, notice, "notice_deferred", now=now, from_state=before,
                      reason="非工作时间不外呼", deadline=at)
            report.deferred += 1
            return None
        if not notice.essential and await opted_out(session, notice):
            cancel(session, notice, now=now, reason="诉求人已退订非必要通知")
            report.cancelled += 1
            return None
        notice.status = NoticeStatus.SENDING
        notice.attempts += 1
        notice.next_attempt_at = now + self.policy.lease
        add_event(session, notice, "notice_reclaimed" if reclaimed else "notice_sending",
                  now=now, from_state=before, deadline=notice.next_attempt_at)
        wire, problem = self._wire(notice, number)
        return _Claim(notice.id, notice.attempts, wire, problem)

    def _wire(self, notice: Notice, number: str | None) -> tuple[WireNotice | None, str]:
        """The channel's view of the row, or why no channel can take it."""
        if notice.channel not in self._deliverers:
            return None, f"no deliverer for channel {notice.channel} (channel not enabled)"
        try:
            channel = Channel(notice.channel)
        except ValueError:
            return None, f"unknown channel {notice.channel!r}"
        if not notice.address:
            return None, "notice has no address"
        if sms_to_landline(notice.channel, notice.address):
            # Accepted by the gateway and read by nobody: never sent; the fallback goes on.
            return None, SMS_TO_LANDLINE
        return WireNotice(notice_id=notice.id, channel=channel, address=notice.address,
                          text=notice.text, case_number=number or "", kind=notice.kind), ""

    # -- step 2 -----------------------------------------------------------------------------

    async def _deliver(self, claim: _Claim) -> _Outcome:
        if claim.wire is None:
            return _Outcome(error=claim.problem, retryable=False, code="undeliverable")
        deliverer = self._deliverers[claim.wire.channel]
        try:
            result = await deliverer.deliver(claim.wire)
        except SendError as exc:
            log.warning("outbox: notice %s on %s failed (%s, retryable=%s): %s",
                        claim.notice_id, claim.wire.channel, exc.code, exc.retryable, exc)
            return _Outcome(error=str(exc) or exc.code, retryable=exc.retryable,
                            code=exc.code or "send_error")
        except Exception as exc:  # a bug in an adapter must not stop the outbox
            log.exception("outbox: deliverer for %s raised on notice %s",
                          claim.wire.channel, claim.notice_id)
            return _Outcome(error=f"unexpected {type(exc).__name__}: {exc}", retryable=True,
                            code="unexpected")
        if isinstance(result, Heard):
            return _Outcome(ref=result.ref, heard=True, key=result.key)
        return _Outcome(ref=result or f"{claim.wire.channel}:{claim.notice_id}")

    # -- step 3 -----------------------------------------------------------------------------

    async def _record(self, claim: _Claim, outcome: _Outcome, report: DispatchReport) -> None:
        async with self._sessionmaker.begin() as session:
            now = self._clock.now()
            query = select(Notice).where(Notice.id == claim.notice_id)
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update()
            notice = (await session.execute(query)).scalar_one()
            ours = notice.status == NoticeStatus.SENDING and notice.attempts == claim.attempt
            if outcome.ref is not None:
                self._record_sent(session, notice, outcome.ref, ours=ours, report=report)
                if outcome.heard and notice.status == NoticeStatus.SENT:
                    notice.status = NoticeStatus.DELIVERED
                    add_event(session, notice, "notice_delivered", now=now,
                              from_state=NoticeStatus.SENT, provider_status="heard")
                if outcome.key:
                    await self._keyed(session, notice, outcome.key)
                # R12 回访: an answer that reached the citizen by SMS asks for a rating (also when
                # its delivery report overtook us; ``request_rating`` asks once per case).
                await self._ask_rating(session, notice, now)
                return
            if not ours:
                log.warning("outbox: result for notice %s dropped: another claim holds it (%s)",
                            notice.id, notice.status)
                return
            if outcome.retryable and not self._spent(notice):
                at = retry_at(self.policy, notice.attempts, now, calls=self.calls,
                              channel=notice.channel, rand=self._rand)
                mark_retry(session, notice, now=now, at=at, error=outcome.error, code=outcome.code)
                report.retried += 1
                return
            error = outcome.error
            if outcome.retryable:
                error = f"gave up after {notice.attempts} attempts: {error}"
            await self._fail(session, notice, error=error, code=outcome.code, report=report)

    def _record_sent(self, session: AsyncSession, notice: Notice, ref: str, *, ours: bool,
                     report: DispatchReport) -> bool:
        """Record the provider's acceptance; True when this made the notice SENT."""
        now = self._clock.now()
        if notice.status in (NoticeStatus.SENDING, NoticeStatus.PENDING):
            # Late (the lease ran out and another claim has it) still means it went out.
            mark_sent(session, notice, now=now, ref=ref, late=not ours)
            report.sent += 1
            report.sent_ids.append(notice.id)
            return True
        if notice.provider_ref is None:
            # A delivery report overtook us (DELIVERED or FAILED already): keep its word.
            notice.provider_ref = ref[:255]
            notice.sent_at = notice.sent_at or now
        return False

    async def _ask_rating(self, session: AsyncSession, notice: Notice, now: datetime) -> None:
        """R12 回访 once an answer reached the citizen: sent by SMS, or heard in a call (a call
        only queued at the provider has reached nobody yet)."""
        reached = notice.status == NoticeStatus.DELIVERED or (
            notice.status == NoticeStatus.SENT and not is_call(self.calls, notice.channel))
        if reached and await request_rating(session, notice, now=now,
                                            window_days=self._callback_window_days,
                                            voice_channel=self._voice_channel):
            self.poke()

    def _spent(self, notice: Notice) -> bool:
        """Whether ``notice`` had all the tries its channel allows (fewer for a call)."""
        return exhausted(self.policy, notice.attempts, calls=self.calls, channel=notice.channel)

    def _again(self, notice: Notice, now: datetime) -> datetime | None:
        """When a call reported unanswered rings again; None when its tries are spent."""
        if self._spent(notice):
            return None
        return retry_at(self.policy, notice.attempts, now, calls=self.calls,
                        channel=notice.channel, rand=self._rand)

    async def _keyed(self, session: AsyncSession, notice: Notice, key: str) -> None:
        """The key pressed in a keypad call-back, recorded like the SMS reply (R12)."""
        if notice.kind != REQUEST_KIND or not key.isdigit() or int(key) not in CHOICES:
            log.warning("outbox: key %r on notice %s (%s) is no rating; ignored", key, notice.id,
                        notice.kind)
            return
        answered = await session.execute(select(
            exists().where(CallbackRating.request_notice_id == notice.id)))
        if answered.scalar():  # a repeated result of the same call: rated once
            return
        await record_callback(session, notice, int(key), via=notice.channel, now=self._clock.now())

    async def _fail(self, session: AsyncSession, notice: Notice, *, error: str, code: str,
                    report: DispatchReport) -> None:
        # A keypad call-back nobody answered is given up: no rating, no SMS instead.
        keypad = notice.kind == REQUEST_KIND and is_call(self.calls, notice.channel)
        copy = await mark_failed(session, notice, now=self._clock.now(), error=error, code=code,
                                 sms_channel=self._sms_channel,
                                 usable_channels=self._deliverers.keys(), fallback=not keypad,
                                 voice_channel=self._voice_channel)
        report.failed += 1
        if copy is not None:
            report.fallbacks += 1
            self.poke()


@asynccontextmanager
async def outbox_worker(dispatcher: OutboxDispatcher, *, interval_s: float,
                        limit: int = 20) -> AsyncIterator[OutboxDispatcher]:
    """Run the dispatcher in a loop task while the context is open (for ``app.cleanup_ctx``)."""
    task = asyncio.create_task(_work(dispatcher, interval_s=interval_s, limit=limit),
                               name="outbox-worker")
    try:
        yield dispatcher
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


async def _work(dispatcher: OutboxDispatcher, *, interval_s: float, limit: int) -> None:
    while True:
        try:
            report = await dispatcher.run_once(limit=limit)
        except Exception:
            # Database down or a bug: say so loudly, then try again on the next tick.
            log.exception("outbox: pass failed")
            await dispatcher.wait_for_poke(interval_s)
            continue
        if report.due:
            log.info("outbox: %s", report)
        if report.due < limit:
            await dispatcher.wait_for_poke(interval_s)
        else:
            await asyncio.sleep(0)  # more is due: go on, but let others run
