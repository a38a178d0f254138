"""What a missed clock means, kind by kind (R7.2–R8.4), and who is charged for it (R10.3, R11.2).

The sweeper (``forwarder.sweeper``) claims a missed ``Deadline`` under a lock
and hands it here. Each consequence is a recorded fact, an event and a flag on
the assignment (late reading, 逾期办理, 过期未处理), never a state change that
stops the work; the only state change is R8.3d, where the city bureau's silence
is a refusal and the district bureau keeps the item.

Supervision (R11.2): every late read is a notice (通报) to the unit and the
third late read of a unit in one calendar month an efficiency warning (效能告诫);
an item that becomes 逾期办理 or 过期未处理 is a notice and a warning at once.
Warnings name whoever was on the roster at the last instant of the deadline
(R10.2); a unit with no handler then charges its principal leader (R10.3). The
notices and warnings themselves are ``forwarder.charges``, shared with the review
that makes an item 逾期办理 (R8.4c).

Interpretations, chosen here and tested:

* The month of a late read is the month of its deadline day (the last day the
  unit could have read it), not the day the sweeper happened to run.
* Every third late read of a month is a warning (the 3rd, 6th, 9th …). The count
  is taken under a lock on the unit's row, so two sweepers cannot both (or
  neither) see the third.
* R11.2b's joint-item clause ("a lead unit that refused without good reason is
  the one charged"): when a co-handling unit misses its answer clock while the
  lead assignment of the same item has ``return_refused``, the notice and the
  warning go to the lead unit; the co-handler's own flag is still set.
* A missed redo clock (R8.4c) makes the item 逾期办理 and so brings R11.2b as well,
  unless the assignment was charged already (one lateness, one charge).
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from forwarder.charges import DIRECT, Lookups, Occasion, charge_r11_2b, month_window, notify_unit, warn
from forwarder.workflow import reviewer_of
from forwarder.workflow_base import SYSTEM, Context, add_event
from forwarder.workflow_special import refuse_return
from registrar.models import (
    Assignment,
    AssignmentRole,
    AssignmentState,
    Case,
    Deadline,
    DeadlineKind,
    Event,
    Unit,
)

#: The deadline moment is the last instant before the exclusive end ``due_at``.
_LAST_INSTANT = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Missed:
    """A claimed, locked missed clock with the rows its consequence needs."""

    deadline: Deadline
    assignment: Assignment
    case: Case
    unit: Unit
    zone: tzinfo
    """The city's time zone (months of R11.2a, times in event data)."""
    lookups: Lookups = DIRECT
    """Where charging reads the roster and earlier charges: the sweeper's batch, or the database."""
    read: bool | None = None
    """Whether the assignment was read, when the sweeper looked it up for its batch; None: ask."""
    reads: MonthsOfReads | None = None
    """The batch's months of late reads (R11.2a); None: ask the database."""


def deadline_moment(deadline: Deadline) -> datetime:
    """The last instant in which the duty could still be done (who was on duty then is charged)."""
    return deadline.due_at - _LAST_INSTANT


def deadline_data(m: Missed, **extra: Any) -> dict[str, Any]:
    return {"rule": m.deadline.rule, "kind": m.deadline.kind,
            "due_at": m.deadline.due_at.astimezone(m.zone).isoformat(), "deadline_id": m.deadline.id,
            **extra}


async def apply_missed(session: AsyncSession, ctx: Context, m: Missed, tally: Counter[str]) -> None:
    """Record the missed clock ``m`` and its consequence (the caller holds the locks)."""
    kind = m.deadline.kind
    if kind == DeadlineKind.RETURN_DECISION:
        await _return_silence(session, ctx, m, tally)
        return
    m.deadline.missed = True
    if kind == DeadlineKind.DISPATCH:
        _event(session, ctx, m, "late_dispatch", reason=f"{m.deadline.rule}: 未按时交办")
        tally["late_dispatch"] += 1
    elif kind == DeadlineKind.READ:
        await _late_read(session, ctx, m, tally)
    elif kind == DeadlineKind.ANSWER:
        await _late_answer(session, ctx, m, tally)
    elif kind == DeadlineKind.REVIEW:
        reviewer = await reviewer_of(session, m.case, m.unit)
        _event(session, ctx, m, "late_review", reason="R8.4a: 答复未按时审核",
               reviewer=reviewer.code)
        tally["late_review"] += 1
    elif kind == DeadlineKind.REDO:
        await _late_redo(session, ctx, m, tally)
    else:  # pragma: no cover - the check constraint allows no other kind
        raise ValueError(f"unknown deadline kind {kind!r}")


async def moot_reason(session: AsyncSession, m: Missed) -> str | None:
    """Why the duty of a due clock no longer exists, if it does not; nobody is charged then.

    A withdrawn assignment owes nothing. A bureau's dispatch clock is answered by a
    return asked within it (R8.3c) and replaced by the fresh clock of a refusal
    (R8.3d). ``request_return`` stops that clock itself; the checks here keep rows
    written otherwise (older versions, repairs) from charging a district for the
    city bureau's wait.
    """
    if m.assignment.state == AssignmentState.WITHDRAWN:
        return "the assignment was withdrawn"
    if m.deadline.kind != DeadlineKind.DISPATCH:
        return None
    if m.assignment.state == AssignmentState.RETURN_REQUESTED:
        return "R8.3c: waiting for the city bureau's decision on the return"
    newer = (await session.execute(select(Deadline.id).where(
        Deadline.assignment_id == m.assignment.id, Deadline.kind == DeadlineKind.DISPATCH,
        Deadline.started_at > m.deadline.started_at).limit(1))).first()
    return "R8.3d: superseded by the dispatch clock of the refused return" if newer else None


def close_moot(session: AsyncSession, ctx: Context, m: Missed, reason: str) -> None:
    """Stop a clock whose duty is gone, with an event saying why: cancelled, neither met nor
    late, and left out of the timeliness figures."""
    m.deadline.met_at = ctx.clock.now()
    m.deadline.cancelled = True
    _event(session, ctx, m, "deadline_closed", reason=reason)


def _event(session: AsyncSession, ctx: Context, m: Missed, action: str, *, reason: str,
           **data: Any) -> Event:
    return add_event(session, m.case, SYSTEM, action, now=ctx.clock.now(), assignment=m.assignment,
                     reason=reason, deadline=m.deadline.due_at,
                     data=deadline_data(m, unit=m.unit.code, **data))


async def _return_silence(session: AsyncSession, ctx: Context, m: Missed,
                          tally: Counter[str]) -> None:
    """R8.3d: no decision within 1 working day is a refusal; already decided, the clock just stops.
    A unit's return (R8.3a) is not refused by silence: the bureau is late, the unit waits."""
    if m.assignment.state != AssignmentState.RETURN_REQUESTED:
        m.deadline.met_at = ctx.clock.now()
        tally["return_decided"] += 1
        return
    if m.assignment.role != AssignmentRole.BUREAU:
        m.deadline.missed = True
        _event(session, ctx, m, "late_return_decision",
               reason="R8.3a: the bureau has not decided the unit's return in time")
        tally["late_return_decision"] += 1
        return
    m.deadline.missed = True
    await refuse_return(session, ctx, m.assignment, m.case, SYSTEM,
                        reason="R8.3d: 市信访局 1 个工作日内未同意退回，视为不同意，"
                               "由区里继续办理")
    tally["return_refused"] += 1


# --- R8.1 and R11.2a: reading -------------------------------------------------------------


def month_of(deadline: Deadline, zone: tzinfo) -> date:
    """The first day of the month of the deadline day, in the city's zone."""
    return _month(deadline.due_at, zone)


def _month(due_at: datetime, zone: tzinfo) -> date:
    return (due_at - _LAST_INSTANT).astimezone(zone).date().replace(day=1)


_LateRead = tuple[datetime, int, str]
"""A missed read clock as R11.2a counts it: (``due_at``, id, case number)."""


def _late_reads_of(unit_ids: Sequence[int], start: datetime,
                   end: datetime) -> Select[int, datetime, int, str]:
    """The missed read clocks of the units whose ``due_at`` is in ``(start, end]``, in order."""
    return (select(Assignment.unit_id, Deadline.due_at, Deadline.id, Case.number)
            .join(Deadline, Deadline.case_id == Case.id)
            .join(Assignment, Assignment.id == Deadline.assignment_id)
            .where(Assignment.unit_id.in_(unit_ids), Deadline.kind == DeadlineKind.READ,
                   Deadline.missed.is_(True), Deadline.due_at > start, Deadline.due_at <= end)
            .order_by(Deadline.due_at, Deadline.id))


@dataclass
class MonthsOfReads:
    """The late reads of a batch's units in the months of its read clocks (R11.2a), read in one
    statement and kept up to date as the batch records more: what the count after each would
    read, without a flush and a statement each. Exact, as the count one at a time is: the
    units' rows are locked (``Sweeper._lock_units_of_reads``) and only a sweeper marks a read
    clock missed."""

    found: dict[tuple[int, date], list[_LateRead]]

    @classmethod
    async def load(cls, session: AsyncSession, reads: Sequence[tuple[Deadline, Assignment]],
                   zone: tzinfo) -> MonthsOfReads:
        """For the read clocks ``reads`` (with their assignments) about to be settled."""
        found: dict[tuple[int, date], list[_LateRead]] = {
            (a.unit_id, month_of(d, zone)): [] for d, a in reads}
        if found:
            windows = [month_window(first, zone) for _, first in found]
            rows = await session.execute(_late_reads_of(
                sorted({unit for unit, _ in found}), min(w[0] for w in windows),
                max(w[1] for w in windows)))
            for unit, due_at, deadline_id, number in rows:
                found.get((unit, _month(due_at, zone)), []).append((due_at, deadline_id, number))
        return cls(found)

    def add(self, m: Missed) -> list[str]:
        """Count the late read ``m``: the case numbers of its unit's month, oldest first."""
        month = self.found[(m.unit.id, month_of(m.deadline, m.zone))]
        bisect.insort(month, (m.deadline.due_at, m.deadline.id, m.case.number))
        return [number for _, _, number in month]


async def _late_read(session: AsyncSession, ctx: Context, m: Missed, tally: Counter[str]) -> None:
    m.assignment.late_read = True
    _event(session, ctx, m, "late_read", reason="R8.1: 交办后 2 个工作日内未阅件")
    tally["late_read"] += 1
    o = occasion(m)
    notify_unit(session, o, m.unit, "R11.2a", ctx.clock.now())
    tally["unit_notices"] += 1
    first = month_of(m.deadline, m.zone)
    # ``due_at`` bounds (exclusive, inclusive] of deadlines whose deadline day is in the month.
    start, end = month_window(first, m.zone)
    if m.reads is not None:
        numbers = m.reads.add(m)
    else:
        await session.flush()
        numbers = [number for *_, number in await session.execute(
            _late_reads_of([m.unit.id], start, end))]
    per_warning = ctx.clocks_at(m.deadline.due_at).late_reads_per_warning
    if len(numbers) % per_warning == 0:
        await warn(session, o, m.unit, "R11.2a", ctx.clock.now(), lookups=m.lookups,
                   month=first.strftime("%Y-%m"), late_reads=len(numbers),
                   cases=numbers[-per_warning:])
        tally["efficiency_warnings"] += 1


# --- R8.2a, R8.4c and R11.2b: answering ---------------------------------------------------


async def read_assignments(session: AsyncSession, assignments: Iterable[Assignment]) -> set[int]:
    """Which of ``assignments`` were read, in one statement (the sweeper asks once for its batch;
    it never records a read itself, so the answer holds while the batch is settled)."""
    ids = {a.id: a.case_id for a in assignments}
    if not ids:
        return set()
    found = await session.execute(select(Event.case_id, Event.assignment_id).where(
        Event.case_id.in_(sorted(set(ids.values()))), Event.assignment_id.in_(sorted(ids)),
        Event.action == "read").distinct())
    return {a for c, a in found if a is not None and ids.get(a) == c}


async def _was_read(session: AsyncSession, m: Missed) -> bool:
    if m.read is not None:
        return m.read
    return (await session.execute(select(Event.id).where(
        Event.case_id == m.case.id, Event.assignment_id == m.assignment.id,
        Event.action == "read").limit(1))).first() is not None


async def _late_answer(session: AsyncSession, ctx: Context, m: Missed, tally: Counter[str]) -> None:
    """R8.2a: never read → 过期未处理; read but not answered → 逾期办理; R11.2b either way."""
    if await _was_read(session, m):
        m.assignment.overdue_handling = True
        _event(session, ctx, m, "overdue_handling",
               reason="R8.2a: 10 个工作日内未答复（逾期办理）")
        tally["overdue_handling"] += 1
    else:
        m.assignment.expired_unhandled = True
        _event(session, ctx, m, "expired_unhandled",
               reason="R8.2a: 始终未阅，10 个工作日内未答复（过期未处理）")
        tally["expired_unhandled"] += 1
    await _charge_r11_2b(session, ctx, m, tally)


async def _late_redo(session: AsyncSession, ctx: Context, m: Missed, tally: Counter[str]) -> None:
    """R8.4b/R8.4c: an answer not redone within 3 working days makes the item 逾期办理."""
    if m.assignment.overdue_handling:
        # Already 逾期办理 (failed review twice): the missed clock is recorded; the charge of
        # R11.2b is made once (at the failed review), here only if it was never made.
        _event(session, ctx, m, "late_redo", reason="R8.4b: 3 个工作日内未重办")
        tally["late_redo"] += 1
        await _charge_r11_2b(session, ctx, m, tally)
        return
    m.assignment.overdue_handling = True
    _event(session, ctx, m, "overdue_handling",
           reason="R8.4c: 3 个工作日内未重办（逾期办理）")
    tally["overdue_handling"] += 1
    await _charge_r11_2b(session, ctx, m, tally)


def occasion(m: Missed) -> Occasion:
    """The missed clock as a failure to charge: the roster at its last instant answers."""
    return Occasion(case=m.case, assignment=m.assignment, unit=m.unit, moment=deadline_moment(m.deadline),
                    zone=m.zone, due_at=m.deadline.due_at, deadline_id=m.deadline.id)


async def _charge_r11_2b(session: AsyncSession, ctx: Context, m: Missed, tally: Counter[str]) -> None:
    if await charge_r11_2b(session, occasion(m), ctx.clock.now(), lookups=m.lookups):
        tally["unit_notices"] += 1
        tally["efficiency_warnings"] += 1
