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
(R10.2); a unit with no handler then charges its leader (R10.3).

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
* A missed redo clock (R8.4c) makes the item 逾期办理 and so brings R11.2b as well.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from forwarder.rules import clocks_at
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
from registrar.roster import roster_at

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
        _event(session, ctx, m, "late_dispatch", reason=f"{m.deadline.rule}: not dispatched in time")
        tally["late_dispatch"] += 1
    elif kind == DeadlineKind.READ:
        await _late_read(session, ctx, m, tally)
    elif kind == DeadlineKind.ANSWER:
        await _late_answer(session, ctx, m, tally)
    elif kind == DeadlineKind.REVIEW:
        reviewer = await reviewer_of(session, m.case, m.unit)
        _event(session, ctx, m, "late_review", reason="R8.4a: the answer was not reviewed in time",
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
    """Stop a clock whose duty is gone, with an event saying why (no lateness is recorded)."""
    m.deadline.met_at = ctx.clock.now()
    _event(session, ctx, m, "deadline_closed", reason=reason)


def _event(session: AsyncSession, ctx: Context, m: Missed, action: str, *, reason: str,
           **data: Any) -> Event:
    return add_event(session, m.case, SYSTEM, action, now=ctx.clock.now(), assignment=m.assignment,
                     reason=reason, deadline=m.deadline.due_at,
                     data=deadline_data(m, unit=m.unit.code, **data))


async def _return_silence(session: AsyncSession, ctx: Context, m: Missed,
                          tally: Counter[str]) -> None:
    """R8.3d: no decision within 1 working day is a refusal; already decided, the clock just stops."""
    if m.assignment.state != AssignmentState.RETURN_REQUESTED:
        m.deadline.met_at = ctx.clock.now()
        tally["return_decided"] += 1
        return
    m.deadline.missed = True
    await refuse_return(session, ctx, m.assignment, m.case, SYSTEM,
                        reason="R8.3d: the city bureau did not accept the return within 1 working "
                               "day; silence is refusal and the district keeps the item")
    tally["return_refused"] += 1


# --- R8.1 and R11.2a: reading -------------------------------------------------------------


def month_of(deadline: Deadline, zone: tzinfo) -> date:
    """The first day of the month of the deadline day, in the city's zone."""
    return deadline_moment(deadline).astimezone(zone).date().replace(day=1)


def _month_window(first: date, zone: tzinfo) -> tuple[datetime, datetime]:
    """``due_at`` bounds (exclusive, inclusive] of deadlines whose deadline day is in the month."""
    after = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return (datetime.combine(first, datetime.min.time(), zone),
            datetime.combine(after, datetime.min.time(), zone))


async def _late_read(session: AsyncSession, ctx: Context, m: Missed, tally: Counter[str]) -> None:
    m.assignment.late_read = True
    _event(session, ctx, m, "late_read", reason="R8.1: not read within 2 working days")
    tally["late_read"] += 1
    _notify_unit(session, ctx, m, m.unit, "R11.2a")
    tally["unit_notices"] += 1
    first = month_of(m.deadline, m.zone)
    start, end = _month_window(first, m.zone)
    await session.flush()
    numbers = list((await session.execute(
        select(Case.number).join(Deadline, Deadline.case_id == Case.id)
        .join(Assignment, Assignment.id == Deadline.assignment_id)
        .where(Assignment.unit_id == m.unit.id, Deadline.kind == DeadlineKind.READ,
               Deadline.missed.is_(True), Deadline.due_at > start, Deadline.due_at <= end)
        .order_by(Deadline.due_at, Deadline.id))).scalars())
    per_warning = clocks_at(m.deadline.due_at).late_reads_per_warning
    if len(numbers) % per_warning == 0:
        await _warn(session, ctx, m, m.unit, "R11.2a", month=first.strftime("%Y-%m"),
                    late_reads=len(numbers), cases=numbers[-per_warning:])
        tally["efficiency_warnings"] += 1


# --- R8.2a, R8.4c and R11.2b: answering ---------------------------------------------------


async def _was_read(session: AsyncSession, m: Missed) -> bool:
    return (await session.execute(select(Event.id).where(
        Event.case_id == m.case.id, Event.assignment_id == m.assignment.id,
        Event.action == "read").limit(1))).first() is not None


async def _late_answer(session: AsyncSession, ctx: Context, m: Missed, tally: Counter[str]) -> None:
    """R8.2a: never read → 过期未处理; read but not answered → 逾期办理; R11.2b either way."""
    if await _was_read(session, m):
        m.assignment.overdue_handling = True
        _event(session, ctx, m, "overdue_handling",
               reason="R8.2a: not answered within 10 working days (逾期办理)")
        tally["overdue_handling"] += 1
    else:
        m.assignment.expired_unhandled = True
        _event(session, ctx, m, "expired_unhandled",
               reason="R8.2a: never read, not answered within 10 working days (过期未处理)")
        tally["expired_unhandled"] += 1
    await _charge_r11_2b(session, ctx, m, tally)


async def _late_redo(session: AsyncSession, ctx: Context, m: Missed, tally: Counter[str]) -> None:
    """R8.4b/R8.4c: an answer not redone within 3 working days makes the item 逾期办理."""
    if m.assignment.overdue_handling:
        # Already 逾期办理 (failed review twice): the missed clock is recorded, nobody charged twice.
        _event(session, ctx, m, "late_redo", reason="R8.4b: not redone within 3 working days")
        tally["late_redo"] += 1
        return
    m.assignment.overdue_handling = True
    _event(session, ctx, m, "overdue_handling",
           reason="R8.4c: not redone within 3 working days (逾期办理)")
    tally["overdue_handling"] += 1
    await _charge_r11_2b(session, ctx, m, tally)


async def _refusing_lead(session: AsyncSession, m: Missed) -> Unit | None:
    """The lead unit of a co-handler's item, when it refused the item (R11.2b joint clause)."""
    if m.assignment.role != AssignmentRole.CO:
        return None
    parent = (Assignment.parent_id.is_(None) if m.assignment.parent_id is None
              else Assignment.parent_id == m.assignment.parent_id)
    lead = (await session.execute(select(Assignment).where(
        Assignment.case_id == m.case.id, Assignment.role == AssignmentRole.LEAD, parent,
        Assignment.state != AssignmentState.WITHDRAWN).order_by(Assignment.id.desc())
    )).scalars().first()
    if lead is None or not lead.return_refused:
        return None
    return await session.get(Unit, lead.unit_id)


async def _charge_r11_2b(session: AsyncSession, ctx: Context, m: Missed, tally: Counter[str]) -> None:
    lead = await _refusing_lead(session, m)
    charged = lead or m.unit
    extra = {"instead_of": m.unit.code, "clause": "joint item: the lead unit refused it"} if lead else {}
    _notify_unit(session, ctx, m, charged, "R11.2b", **extra)
    tally["unit_notices"] += 1
    await _warn(session, ctx, m, charged, "R11.2b", **extra)
    tally["efficiency_warnings"] += 1


# --- R10.3 and the notices and warnings themselves ------------------------------------------


async def responsible(session: AsyncSession, unit: Unit, moment: datetime) -> dict[str, Any]:
    """Who answers for ``unit`` at ``moment``: its handlers then, else its leader (R10.3)."""
    roster = await roster_at(session, unit.code, moment)
    handlers = [e.person_name for e in roster if e.duty == "handler"]
    if handlers:
        return {"persons": handlers, "duty": "handler", "R10.3": False}
    leaders = [e.person_name for e in roster if e.duty == "leader"]
    return {"persons": leaders, "duty": "leader" if leaders else "unassigned", "R10.3": True}


def _notify_unit(session: AsyncSession, ctx: Context, m: Missed, unit: Unit, rule: str,
                 **extra: Any) -> None:
    """A notice (通报) to the unit, recorded as an event the efficiency office reports on."""
    add_event(session, m.case, SYSTEM, "unit_notified", now=ctx.clock.now(), assignment=m.assignment,
              reason=f"{rule}: 通报", deadline=m.deadline.due_at,
              data={"rule": rule, "unit": unit.code, "deadline_id": m.deadline.id, **extra})


async def _warn(session: AsyncSession, ctx: Context, m: Missed, unit: Unit, rule: str,
                **extra: Any) -> None:
    """An efficiency warning (效能告诫) to the person responsible at the deadline moment."""
    who = await responsible(session, unit, deadline_moment(m.deadline))
    add_event(session, m.case, SYSTEM, "efficiency_warning", now=ctx.clock.now(),
              assignment=m.assignment, reason=f"{rule}: 效能告诫", deadline=m.deadline.due_at,
              data={"rule": rule, "unit": unit.code, "deadline_id": m.deadline.id, **who, **extra})
    await _escalate(session, ctx, m, unit)


async def _escalate(session: AsyncSession, ctx: Context, m: Missed, unit: Unit) -> None:
    """R11.3: repeated failures go up step by step — the second warning of a month to the
    unit's leader in charge, the third and later ones also to the city efficiency office."""
    await session.flush()
    now = ctx.clock.now()
    first = now.astimezone(m.zone).date().replace(day=1)
    start, end = _month_window(first, m.zone)
    warnings = [e for e in (await session.execute(select(Event).where(
        Event.action == "efficiency_warning", Event.at >= start, Event.at < end))).scalars()
        if e.data.get("unit") == unit.code]
    count = len(warnings)
    if count < 2:
        return
    leaders = [e.person_name for e in await roster_at(session, unit.code, now) if e.duty == "leader"]
    data = {"rule": "R11.3", "unit": unit.code, "warnings_this_month": count, "leaders": leaders,
            "month": first.strftime("%Y-%m")}
    if count == 2:
        add_event(session, m.case, SYSTEM, "escalated_to_leader", now=now, assignment=m.assignment,
                  reason="R11.3: 同月第二次效能告诫，报单位分管领导", data=data)
    else:
        office = (await session.execute(select(Unit).where(
            Unit.kind == "efficiency", Unit.district.is_(None)))).scalars().first()
        add_event(session, m.case, SYSTEM, "escalated_to_efficiency_office", now=now,
                  assignment=m.assignment, reason="R11.3: 同月多次效能告诫，报市效能办",
                  data={**data, "office": office.code if office else None})
