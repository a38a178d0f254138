"""The sweeper's two repairs: items missing from the city bureau's queue (R5.2) and clocks
counted over a year whose holidays were not yet published (recounted once they are).

Both fix data rather than judge people: a case the registrar wrote without its
queue assignment is forwarded late (registration writes both in one
transaction, so only something else can cause this), and a provisional clock
gets the due date the State Council's notice gives it, with an event each so
the change is visible on the case.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, time, timedelta, tzinfo

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from forwarder.workflow import unit_by_kind_city
from forwarder.workflow_base import SYSTEM, Context, add_event
from registrar.deadlines import open_deadline
from registrar.models import (
    Assignment,
    AssignmentRole,
    AssignmentState,
    Case,
    CaseStatus,
    Deadline,
    DeadlineKind,
)


def start_of_local_day(moment: datetime, zone: tzinfo) -> datetime:
    return datetime.combine(moment.astimezone(zone).date(), time(0), zone)


async def forward_late(session: AsyncSession, ctx: Context, tally: Counter[str], *, now: datetime,
                       zone: tzinfo, lookback: timedelta, batch: int) -> int:
    """R5.2: put registered cases whose local registration day has ended into the city queue.

    Only cases registered within ``lookback`` are looked at, so the sweep uses the
    ``registered_at`` index instead of scanning every case each run. Returns how
    many cases were claimed (the caller loops while a full batch comes back).
    """
    city = await unit_by_kind_city(session)
    in_queue = exists().where(Assignment.case_id == Case.id, Assignment.unit_id == city.id,
                              Assignment.role == AssignmentRole.BUREAU)
    cases = list((await session.execute(
        select(Case).where(Case.registered_at >= now - lookback,
                           Case.registered_at < start_of_local_day(now, zone),
                           Case.status == CaseStatus.REGISTERED, ~in_queue)
        .order_by(Case.id).limit(batch).with_for_update(skip_locked=True))).scalars())
    for case in cases:
        # Re-check after the lock: another sweeper may have repaired it and committed meanwhile.
        again = (await session.execute(select(Assignment.id).where(
            Assignment.case_id == case.id, Assignment.unit_id == city.id,
            Assignment.role == AssignmentRole.BUREAU).limit(1))).first()
        if again is not None or case.status != CaseStatus.REGISTERED:
            continue
        queue = Assignment(case_id=case.id, unit_id=city.id, role=AssignmentRole.BUREAU,
                           state=AssignmentState.QUEUED, created_at=ctx.clock.now())
        session.add(queue)
        await session.flush()
        # The bureau's own 1 working day (R7.2) starts when the item reaches it.
        clock = await open_deadline(session, ctx.due, case_id=case.id, assignment_id=queue.id,
                                    kind=DeadlineKind.DISPATCH, rule="R7.2", start=ctx.clock.now(),
                                    working_days=ctx.clocks_at(now).dispatch_days)
        add_event(session, case, SYSTEM, "forwarded_late", now=ctx.clock.now(), assignment=queue,
                  to_state=AssignmentState.QUEUED, deadline=clock.due_at,
                  reason="R5.2: 未在收到当日转市信访局",
                  data={"rule": "R5.2", "unit": city.code,
                        "registered_at": case.registered_at.astimezone(zone).isoformat()})
        tally["forwarded_late"] += 1
    return len(cases)


async def provisional_recount(session: AsyncSession, ctx: Context) -> int:
    """Recount open provisional clocks with ``ctx.due`` (e.g. after the State Council's notice
    for next year was loaded); returns how many changed, each with a "deadline_recounted" event.

    A clock whose warning moves into the future is warned again at the new time.
    """
    now = ctx.clock.now()
    rows = list((await session.execute(
        select(Deadline).where(Deadline.met_at.is_(None), Deadline.missed.is_(False),
                               Deadline.provisional.is_(True))
        .order_by(Deadline.id).with_for_update(skip_locked=True))).scalars())
    changed = 0
    for row in rows:
        due = ctx.due.due(row.started_at, row.working_days)
        if (due.at, due.warn_at, due.provisional) == (row.due_at, row.warn_at, row.provisional):
            continue
        old = row.due_at
        row.due_at, row.warn_at, row.provisional = due.at, due.warn_at, due.provisional
        if row.warned and due.warn_at > now:
            row.warned = False
        case = await session.get(Case, row.case_id)
        assignment = await session.get(Assignment, row.assignment_id)
        assert case is not None and assignment is not None
        add_event(session, case, SYSTEM, "deadline_recounted", now=now, assignment=assignment,
                  deadline=due.at, reason=f"{row.rule}: 按已确认的放假安排重新计算",
                  data={"kind": row.kind, "rule": row.rule, "deadline_id": row.id,
                        "old_due_at": old.astimezone(due.at.tzinfo).isoformat(),
                        "due_at": due.at.isoformat(),
                        "provisional": due.provisional})
        changed += 1
    return changed
