"""The sweeper: a periodic, idempotent job that records what the clocks say (DESIGN.md invariant 4).

Deadlines are rows; nothing in memory waits for them. Each run claims the open
clocks that ran out (``due_at <= now``) in batches, one transaction per batch,
and records each miss once (``missed = True`` plus events, see
``forwarder.sweeper_consequences``); then it warns of clocks due soon (R11.1)
and repairs items missing from the city bureau's queue (R5.2); last it brings the
cockpit's summary tables up to date (``forwarder.cockpit_summary``).

Several workers may sweep at once (``hotline serve --only worker`` ×N on
PostgreSQL): rows are claimed ``FOR UPDATE SKIP LOCKED`` and re-checked after
the lock, so each consequence happens exactly once. The assignment is locked
``SKIP LOCKED`` too, so the sweeper never waits for (or deadlocks with) a desk
user working on the same item: a busy row is simply left to the next run. The
only lock a sweeper waits for is a unit's row, taken in id order before a batch
with late reads, so that the R11.2a count of a month is exact. SQLite runs every
transaction ``BEGIN IMMEDIATE`` (``registrar.db``), where the locks are moot.

A batch of missed clocks is settled under one savepoint, with what its consequences
read (rosters, earlier charges, warnings and late reads, the efficiency office) read
once for the batch and its writes sent in one flush (``Sweeper._settle_batch``). If
anything in it fails, the whole batch is rolled back and settled again one clock at a
time, each under its own savepoint: a deadline whose consequence fails then is rolled
back alone, logged with its traceback, counted in ``SweepReport.failed`` and retried
on the next run, so one bad row cannot stop the sweep of the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta, tzinfo
from typing import TypeVar

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from forwarder.charges import DIRECT, BatchLookups, Lookups, month_window
from forwarder.cockpit_summary import refresh as refresh_summaries
from forwarder.sweeper_consequences import (
    Missed,
    MonthsOfReads,
    apply_missed,
    close_moot,
    moot_reason,
    read_assignments,
)
from forwarder.sweeper_repair import forward_late, provisional_recount
from forwarder.workflow_base import SYSTEM, Context, add_event
from registrar.db import serial_plan
from registrar.models import (
    DEADLINE_OPEN,
    DEADLINE_UNWARNED,
    Assignment,
    Case,
    Deadline,
    DeadlineKind,
    Unit,
)

logger = logging.getLogger(__name__)
_Row = TypeVar("_Row", Case, Assignment, Unit)

__all__ = ["SweepReport", "Sweeper", "due_clocks", "provisional_recount", "sweeper_worker",
           "warning_clocks"]


@dataclass(frozen=True, slots=True)
class SweepReport:
    """What one run found, by kind of finding."""

    late_dispatch: int = 0
    late_read: int = 0
    overdue_handling: int = 0
    expired_unhandled: int = 0
    late_review: int = 0
    late_redo: int = 0
    return_refused: int = 0
    """R8.3d: the city bureau's silence refused a district's return."""
    return_decided: int = 0
    """A return-decision clock whose return was decided otherwise; only stopped."""
    late_return_decision: int = 0
    """R8.3a: a bureau has not decided a unit's return in time (the unit waits, uncharged)."""
    closed: int = 0
    """Clocks whose duty was gone (withdrawn, superseded); stopped without blame."""
    warnings: int = 0
    unit_notices: int = 0
    efficiency_warnings: int = 0
    forwarded_late: int = 0
    busy: int = 0
    """Rows whose assignment another transaction held; left to the next run."""
    failed: int = 0

    @property
    def findings(self) -> int:
        """Everything recorded (not counting busy or failed rows)."""
        return sum(getattr(self, f.name) for f in fields(self) if f.name not in ("busy", "failed"))


def due_clocks(now: datetime, batch: int) -> Select[Deadline]:
    """The next ``batch`` open clocks that ran out by ``now``, oldest first, locked (skipping
    rows another sweeper holds): a walk of the partial index ``ix_deadline_due_open``."""
    return (select(Deadline).where(DEADLINE_OPEN, Deadline.due_at <= now)
            .order_by(Deadline.due_at, Deadline.id).limit(batch).with_for_update(skip_locked=True))


def warning_clocks(now: datetime, batch: int) -> Select[Deadline]:
    """The next ``batch`` open, unwarned clocks whose warning time came by ``now`` and that are
    not due yet, locked: a walk of the partial index ``ix_deadline_warn_open``."""
    return (select(Deadline).where(DEADLINE_UNWARNED, Deadline.warn_at <= now, Deadline.due_at > now)
            .order_by(Deadline.warn_at, Deadline.id).limit(batch).with_for_update(skip_locked=True))


class Sweeper:
    """Finds missed and soon-due clocks and records them; safe to run in several workers."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], ctx: Context, *,
                 batch: int = 100, zone: tzinfo | None = None,
                 lookback: timedelta = timedelta(days=31)) -> None:
        """``zone`` is the city's (default: the clock's); ``lookback`` bounds the R5.2 repair."""
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        self.sessionmaker, self.ctx, self.batch, self.lookback = sessionmaker, ctx, batch, lookback
        found = zone or ctx.clock.now().tzinfo
        if found is None:
            raise ValueError("the clock gives naive datetimes; pass zone=")
        self.zone: tzinfo = found

    async def run_once(self) -> SweepReport:
        """One sweep at the clock's current time."""
        now = self.ctx.clock.now()
        tally: Counter[str] = Counter()
        await self._sweep_missed(now, tally)
        await self._sweep_warnings(now, tally)
        while True:
            async with self.sessionmaker.begin() as session:
                claimed = await forward_late(session, self.ctx, tally, now=now, zone=self.zone,
                                             lookback=self.lookback, batch=self.batch)
            if claimed < self.batch:
                break
        # The cockpit's per-day figures follow what this run (and the desks) changed. A day's
        # recount reads one day's rows by index; over a large history PostgreSQL would plan each
        # of its queries with parallel workers, whose start costs more than the reading.
        async with self.sessionmaker.begin() as session:
            await serial_plan(session)
            await refresh_summaries(session, zone=self.zone)
        return SweepReport(**tally)

    async def recount(self) -> int:
        """Recount provisional clocks on the calendar this process loaded."""
        async with self.sessionmaker.begin() as session:
            return await provisional_recount(session, self.ctx)

    # -- missed clocks --------------------------------------------------------------------

    async def _sweep_missed(self, now: datetime, tally: Counter[str]) -> None:
        passed: set[int] = set()  # busy, failed or stale rows: not again in this run
        while True:
            async with self.sessionmaker.begin() as session:
                query = due_clocks(now, self.batch)
                if passed:
                    query = query.where(Deadline.id.not_in(passed))
                rows = list((await session.execute(query)).scalars())
                if not rows:
                    return
                await self._lock_units_of_reads(session, rows)
                locked, _held = await self._lock_assignments(session, rows)
                ids = [r.id for r in rows]
                if await self._settle_batch(session, rows, locked, now, passed, tally):
                    continue
                # Something in the batch failed: its savepoint undid all of it (and expired the
                # rows it had changed); now each clock under its own, so that only the failing
                # one is left for the next run.
                await session.execute(select(Deadline).where(Deadline.id.in_(ids))
                                      .execution_options(populate_existing=True))
                for row in rows:
                    await self._settle(session, row, row.assignment_id in locked, now, passed, tally)

    async def _lock_units_of_reads(self, session: AsyncSession, rows: Sequence[Deadline]) -> None:
        """Lock, in id order, the units whose month of late reads this batch may count (R11.2a)."""
        reads = [r.assignment_id for r in rows if r.kind == DeadlineKind.READ]
        if not reads:
            return
        units = select(Assignment.unit_id).where(Assignment.id.in_(reads))
        await session.execute(select(Unit.id).where(Unit.id.in_(units)).order_by(Unit.id)
                              .with_for_update())

    async def _lock_assignments(self, session: AsyncSession,
                                rows: Sequence[Deadline]) -> tuple[set[int], list[object]]:
        """Lock the batch's assignments that nobody else holds and load their cases and units:
        one round trip each for the whole batch instead of three per row.

        Returns the ids locked (one missing is busy, ``SKIP LOCKED``, as when the rows were
        locked one by one) and the loaded rows, which the caller holds while it settles the
        batch: the session keeps them only weakly, and ``session.get`` finds them there.
        """
        assignments = list((await session.execute(
            select(Assignment).where(Assignment.id.in_(sorted({r.assignment_id for r in rows})))
            .with_for_update(skip_locked=True))).scalars())
        cases = await _load(session, Case, {r.case_id for r in rows})
        units = await _load(session, Unit, {a.unit_id for a in assignments})
        return {a.id for a in assignments}, [*assignments, *cases, *units]

    async def _settle_batch(self, session: AsyncSession, rows: Sequence[Deadline], locked: set[int],
                            now: datetime, passed: set[int], tally: Counter[str]) -> bool:
        """Settle the whole batch under one savepoint; False if anything in it failed (then
        nothing of it was kept, and the caller settles its clocks one by one).

        Most batches fail nowhere, and a savepoint per clock costs two statements. What the
        consequences read (rosters, earlier charges and warnings, whether an item was read,
        the months of late reads, the efficiency office) is read here once for the batch
        (``BatchLookups``, ``read_assignments``, ``MonthsOfReads``), and with
        nothing read in between, what they write goes out in one flush at the end, a
        statement per table instead of several per clock. The consequences are the same code
        as one by one, in the same order, so they record the same.
        """
        skipped: set[int] = set()
        found: Counter[str] = Counter()
        try:
            async with session.begin_nested():
                lookups, read, reads = await self._batch_lookups(session, rows, locked, now)
                for row in rows:
                    missed = await self._claim(session, row, row.assignment_id in locked, now,
                                               skipped, found, lookups=lookups,
                                               read=row.assignment_id in read, reads=reads)
                    if missed is not None:
                        await self._consequence(session, missed, found)
        except Exception as exc:
            logger.info("sweeper: a batch of %d clocks failed (%r); settling them one by one",
                        len(rows), exc)
            return False
        passed.update(skipped)
        tally.update(found)
        return True

    async def _batch_lookups(self, session: AsyncSession, rows: Sequence[Deadline], locked: set[int],
                             now: datetime) -> tuple[BatchLookups, set[int], MonthsOfReads]:
        """What the batch's consequences will ask, read in a statement or two each."""
        due = [a for a in [await session.get(Assignment, i) for i in sorted(locked)] if a is not None]
        units = [u for u in [await session.get(Unit, i) for i in sorted({a.unit_id for a in due})]
                 if u is not None]
        charging = {r.assignment_id for r in rows if r.kind in (DeadlineKind.ANSWER, DeadlineKind.REDO)}
        answering = {r.assignment_id for r in rows if r.kind == DeadlineKind.ANSWER}
        first = now.astimezone(self.zone).date().replace(day=1)
        lookups = await BatchLookups.load(session, units=[u.code for u in units],
                                          assignments=[a for a in due if a.id in charging],
                                          month=month_window(first, self.zone))
        read = await read_assignments(session, [a for a in due if a.id in answering])
        by_id = {a.id: a for a in due}
        reading = [(r, by_id[r.assignment_id]) for r in rows
                   if r.kind == DeadlineKind.READ and r.assignment_id in by_id]
        return lookups, read, await MonthsOfReads.load(session, reading, self.zone)

    async def _claim(self, session: AsyncSession, row: Deadline, locked: bool, now: datetime,
                     passed: set[int], tally: Counter[str], *, lookups: Lookups = DIRECT,
                     read: bool | None = None, reads: MonthsOfReads | None = None) -> Missed | None:
        """The missed clock ``row`` with its rows, or None if it is not to be settled now."""
        if row.met_at is not None or row.missed or row.due_at > now:
            passed.add(row.id)  # changed since it was selected
            return None
        if not locked:
            passed.add(row.id)
            tally["busy"] += 1
            return None
        # From the session (SQL only for a row a failed savepoint expired).
        assignment = await session.get(Assignment, row.assignment_id)
        case = await session.get(Case, row.case_id)
        assert assignment is not None and case is not None
        unit = await session.get(Unit, assignment.unit_id)
        assert unit is not None
        return Missed(row, assignment, case, unit, self.zone, lookups=lookups, read=read, reads=reads)

    async def _consequence(self, session: AsyncSession, missed: Missed, found: Counter[str]) -> None:
        reason = await moot_reason(session, missed)
        if reason is not None:
            close_moot(session, self.ctx, missed, reason)
            found["closed"] += 1
        else:
            await apply_missed(session, self.ctx, missed, found)

    async def _settle(self, session: AsyncSession, row: Deadline, locked: bool, now: datetime,
                      passed: set[int], tally: Counter[str]) -> None:
        """One clock under its own savepoint, reading as it goes (after a batch failed)."""
        row_id = row.id
        missed = await self._claim(session, row, locked, now, passed, tally)
        if missed is None:
            return
        number, found = missed.case.number, Counter[str]()
        try:
            async with session.begin_nested():
                await self._consequence(session, missed, found)
        except Exception:
            logger.exception("sweeper: deadline %s of case %s failed; retried next run", row_id, number)
            passed.add(row_id)
            tally["failed"] += 1
            return
        tally.update(found)

    # -- warnings (R11.1) -----------------------------------------------------------------

    async def _sweep_warnings(self, now: datetime, tally: Counter[str]) -> None:
        while True:
            async with self.sessionmaker.begin() as session:
                rows = list((await session.execute(warning_clocks(now, self.batch))).scalars())
                # Held while the batch is warned, so that ``_warn`` finds them in the session.
                assignments = await _load(session, Assignment, {r.assignment_id for r in rows})
                _held = [*assignments, *await _load(session, Case, {r.case_id for r in rows}),
                        *await _load(session, Unit, {a.unit_id for a in assignments})]
                for row in rows:
                    if row.met_at is None and not row.missed and not row.warned:
                        await self._warn(session, row, now)
                        tally["warnings"] += 1
            if len(rows) < self.batch:
                return

    async def _warn(self, session: AsyncSession, row: Deadline, now: datetime) -> None:
        row.warned = True
        case = await session.get(Case, row.case_id)
        assignment = await session.get(Assignment, row.assignment_id)
        assert case is not None and assignment is not None
        unit_row = await session.get(Unit, assignment.unit_id)
        assert unit_row is not None
        unit = unit_row.code
        due_at = row.due_at.astimezone(self.zone)
        day = (due_at - timedelta(microseconds=1)).date()
        add_event(session, case, SYSTEM, "deadline_warning", now=now, assignment=assignment,
                  deadline=row.due_at, reason=f"{row.rule}: 须在 {day.isoformat()} 当天内完成",
                  data={"kind": row.kind, "rule": row.rule, "due_at": due_at.isoformat(),
                        "provisional": row.provisional, "unit": unit, "deadline_id": row.id})


async def _load(session: AsyncSession, entity: type[_Row], ids: set[int]) -> list[_Row]:
    """The rows ``ids`` of ``entity`` in one query: while they are held, ``session.get`` finds
    them in the session instead of asking the database once per row."""
    if not ids:
        return []
    return list((await session.execute(select(entity).where(entity.id.in_(sorted(ids))))).scalars())


@contextlib.asynccontextmanager
async def sweeper_worker(sweeper: Sweeper, *, interval_s: float) -> AsyncIterator[Sweeper]:
    """Run ``sweeper`` every ``interval_s`` seconds until the context exits (for cleanup_ctx).

    The first run recounts provisional clocks, since a new process may have loaded
    a calendar that confirms a year. A failing run is logged with its traceback
    and the loop goes on; leaving the context cancels the loop and waits for it.
    """
    task = asyncio.create_task(_loop(sweeper, interval_s), name="sweeper")
    try:
        yield sweeper
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _loop(sweeper: Sweeper, interval_s: float) -> None:
    try:
        recounted = await sweeper.recount()
        if recounted:
            logger.info("sweeper: %d provisional deadline(s) recounted", recounted)
    except Exception:
        logger.exception("sweeper: recounting provisional deadlines failed")
    while True:
        try:
            report = await sweeper.run_once()
            if report.findings or report.failed:
                logger.info("sweeper: %s", report)
        except Exception:
            logger.exception("sweeper: run failed; next run in %.1f s", interval_s)
        await asyncio.sleep(interval_s)
