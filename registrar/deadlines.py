"""Deadline rows: opened when a clock starts, met when the duty is done, swept when missed.

The registrar stores clocks but does not count working days: the forwarder's
calendar does, through the small ``DuePolicy`` protocol, so the dependency
points one way (forwarder → registrar).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from registrar.models import Deadline, DeadlineKind


@dataclass(frozen=True, slots=True)
class Due:
    """When a clock of ``working_days`` started at some moment runs out."""

    at: datetime
    """Exclusive end: late when now >= at."""
    warn_at: datetime
    """When to warn (one working day before, R11.1 supervision)."""
    provisional: bool
    """Counted over a year whose holidays are not confirmed."""


class DuePolicy(Protocol):
    """Counts working days (implemented over the working-day calendar)."""

    def due(self, start: datetime, working_days: int) -> Due: ...


async def open_deadline(session: AsyncSession, policy: DuePolicy, *, case_id: int,
                        assignment_id: int, kind: DeadlineKind, rule: str, start: datetime,
                        working_days: int) -> Deadline:
    """Start a clock; returns the row (flushed, so it has an id)."""
    due = policy.due(start, working_days)
    row = Deadline(case_id=case_id, assignment_id=assignment_id, kind=kind, rule=rule,
                   started_at=start, working_days=working_days, due_at=due.at,
                   provisional=due.provisional, warn_at=due.warn_at, warned=False,
                   met_at=None, missed=False)
    session.add(row)
    await session.flush()
    return row


async def meet_deadlines(session: AsyncSession, assignment_id: int,
                         kinds: Iterable[DeadlineKind], at: datetime) -> list[Deadline]:
    """Stop the open clocks of ``kinds`` on an assignment (the duty was done at ``at``)."""
    rows = (await session.execute(select(Deadline).where(
        Deadline.assignment_id == assignment_id, Deadline.kind.in_(list(kinds)),
        Deadline.met_at.is_(None)))).scalars().all()
    for row in rows:
        row.met_at = at
    return list(rows)


async def cancel_deadlines(session: AsyncSession, assignment_id: int, at: datetime,
                           kinds: Iterable[DeadlineKind] = tuple(DeadlineKind)) -> list[Deadline]:
    """Close the open clocks of an assignment whose duty went away (withdrawn, released):
    stopped at ``at`` but marked ``cancelled``, so nobody reads them as met on time."""
    rows = await meet_deadlines(session, assignment_id, kinds, at)
    for row in rows:
        row.cancelled = True
    return rows


async def open_deadlines(session: AsyncSession, assignment_id: int) -> list[Deadline]:
    return list((await session.execute(select(Deadline).where(
        Deadline.assignment_id == assignment_id, Deadline.met_at.is_(None))
        .order_by(Deadline.due_at))).scalars())
