"""R8.3a: a unit's clocks wait while its bureau decides on the unit's return.

The regulation gives the bureau no time to decide a unit's return (R8.3d gives
the city bureau 1 working day for a district's). Here the bureau's decision has
a clock of its own (``return_decision`` with rule R8.3a, as many working days as
R8.3d's), and the unit's read/answer/redo clocks are paused meanwhile: closed as
cancelled when the unit asks, with the working days they had left recorded in a
``clocks_paused`` event, and opened again with those days when the bureau
refuses (R8.3b). An accepted return ends the unit's duty, so nothing resumes.
A late decision is the bureau's lateness (``late_return_decision``), never the
unit's; unlike R8.3d, silence refuses nothing (docs/regulation-reading.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from forwarder.workflow_base import Actor, Context, add_event
from registrar.deadlines import DuePolicy, open_deadline
from registrar.models import Assignment, Case, Deadline, DeadlineKind, Event

UNIT_CLOCKS = (DeadlineKind.READ, DeadlineKind.ANSWER, DeadlineKind.REDO)


def days_left(due: DuePolicy, now: datetime, due_at: datetime, most: int) -> int:
    """Working days from ``now`` that reach ``due_at`` (rounded up: the unit loses nothing)."""
    for days in range(1, most + 1):
        if due.due(now, days).at >= due_at:
            return days
    return most


async def pause_unit_clocks(session: AsyncSession, ctx: Context, case: Case,
                            assignment: Assignment, actor: Actor, *, now: datetime) -> None:
    """Stop the unit's running clocks that are not yet due; remember what each had left."""
    rows = (await session.execute(select(Deadline).where(
        Deadline.assignment_id == assignment.id, Deadline.kind.in_(UNIT_CLOCKS),
        Deadline.met_at.is_(None), Deadline.missed.is_(False), Deadline.due_at > now)
        .order_by(Deadline.id))).scalars().all()
    paused: list[dict[str, Any]] = []
    for row in rows:
        paused.append({"kind": row.kind, "rule": row.rule, "due_at": row.due_at.isoformat(),
                       "working_days": days_left(ctx.due, now, row.due_at, row.working_days)})
        row.met_at, row.cancelled = now, True
    if paused:
        add_event(session, case, actor, "clocks_paused", now=now, assignment=assignment,
                  reason="R8.3a: waiting for the bureau's decision on the return",
                  data={"clocks": paused})


async def resume_unit_clocks(session: AsyncSession, ctx: Context, case: Case,
                             assignment: Assignment, actor: Actor, *, now: datetime) -> None:
    """The return was refused: the paused clocks run again from now with the days they had."""
    paused = (await session.execute(select(Event.data).where(
        Event.assignment_id == assignment.id, Event.action == "clocks_paused")
        .order_by(Event.id.desc()).limit(1))).scalar_one_or_none()
    if not paused:
        return
    resumed = []
    for clock in paused.get("clocks", []):
        row = await open_deadline(session, ctx.due, case_id=case.id,
                                  assignment_id=assignment.id, kind=DeadlineKind(clock["kind"]),
                                  rule=str(clock["rule"]), start=now,
                                  working_days=int(clock["working_days"]))
        resumed.append({"kind": row.kind, "due_at": row.due_at.isoformat()})
    add_event(session, case, actor, "clocks_resumed", now=now, assignment=assignment,
              reason="R8.3b: the return was refused; the unit's clocks run again",
              data={"clocks": resumed})
