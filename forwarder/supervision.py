"""Supervision and commendation from the system's own data (R11.1, R12.1).

The efficiency office sees, per unit and city-wide or per district, how items
were read, answered and reviewed against their clocks; the yearly ranking adds
the citizens' ratings (on the portal and by call-back, 回访). Everything is
computed from stored deadlines, assignments and ratings with a few grouped
queries: no page ever scans all cases row by row in Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.util import AliasedClass

from registrar.models import Assignment, AssignmentRole, Deadline, DeadlineKind, Rating, Unit
from registrar.models_cockpit import CallbackRating
from registrar.models_supervision import Finding, FindingKind, FindingStatus


@dataclass(frozen=True, slots=True)
class UnitStats:
    """One unit's record over a period (items dispatched to it in the period)."""

    unit_code: str
    unit_name: str
    district: str | None
    dispatched: int
    read_on_time: int
    read_late: int
    answered_on_time: int
    answered_late: int
    overdue_handling: int
    expired_unhandled: int
    passed_first_time: int
    ratings: int
    rating_avg: float | None
    charges: int = 0
    """R11.2b findings against the unit that stand (charged or confirmed, not waived)."""
    waived: int = 0
    """R11.2b findings judged not caused by people, or withdrawn on the unit's contest."""
    notices: int = 0
    """Notices (通报) the efficiency office issued by hand, less withdrawn ones."""

    reviewed: int = 0
    """Answers reviewed at least once (the denominator of ``passed_first_time``)."""
    callbacks: int = 0
    """Call-back (回访) ratings of the unit's led cases, kept apart from the portal's
    ``ratings`` because the cockpit's summaries count the two in their own columns."""
    callback_avg: float | None = None

    @property
    def marks(self) -> int:
        """R11.2 marks against the unit: 逾期办理 and 过期未处理 less the findings waived or
        withdrawn (not caused by people, or contested successfully), plus hand notices."""
        return max(self.overdue_handling + self.expired_unhandled - self.waived, 0) + self.notices


#: The ``deadline`` table, or rows of it a query took first (``aliased(Deadline, cte)``).
Clocks = type[Deadline] | AliasedClass[Deadline]


def on_time(kind: DeadlineKind, clock: Clocks = Deadline) -> ColumnElement[Any]:
    """Clocks met before they ran out; a cancelled clock (duty gone) was never met."""
    return func.sum(case((and_(clock.kind == kind, clock.met_at.is_not(None),
                               clock.cancelled.is_(False),
                               clock.met_at < clock.due_at), 1), else_=0))


def late(kind: DeadlineKind, now: datetime | None = None, clock: Clocks = Deadline
         ) -> ColumnElement[Any]:
    """Clocks missed or met late, and with ``now`` those run out that no sweep has marked yet;
    a cancelled clock counts neither way, an open one not yet due neither (R12.1)."""
    failed = (clock.missed.is_(True)) | (clock.met_at >= clock.due_at)
    if now is not None:
        failed = failed | (clock.met_at.is_(None) & (clock.due_at <= now))
    return func.sum(case((and_(clock.kind == kind, clock.cancelled.is_(False), failed), 1),
                         else_=0))


async def unit_stats(session: AsyncSession, start: datetime, end: datetime, *,
                     district: str | None = None, now: datetime | None = None) -> list[UnitStats]:
    """Per-unit statistics for handling assignments created in ``[start, end)`` (R11.1).

    ``now`` counts clocks that ran out before it as late even if no sweep marked them yet.
    """
    handling = [Assignment.role.in_([AssignmentRole.LEAD, AssignmentRole.CO]),
                Assignment.created_at >= start, Assignment.created_at < end]
    if district is not None:
        handling.append(Unit.district == district)
    base = (await session.execute(
        select(Unit.code, Unit.name, Unit.district, func.count(Assignment.id),
               func.sum(case((Assignment.overdue_handling.is_(True), 1), else_=0)),
               func.sum(case((Assignment.expired_unhandled.is_(True), 1), else_=0)),
               func.sum(case((and_(Assignment.state == "passed", Assignment.review_failures == 0), 1),
                             else_=0)),
               func.sum(case(((Assignment.state == "passed") | (Assignment.review_failures > 0), 1),
                             else_=0)))
        .join(Assignment, Assignment.unit_id == Unit.id).where(*handling)
        .group_by(Unit.code, Unit.name, Unit.district))).all()
    clocks = {row[0]: row[1:] for row in (await session.execute(
        select(Unit.code, on_time(DeadlineKind.READ), late(DeadlineKind.READ, now),
               on_time(DeadlineKind.ANSWER), late(DeadlineKind.ANSWER, now))
        .join(Assignment, Assignment.unit_id == Unit.id)
        .join(Deadline, Deadline.assignment_id == Assignment.id).where(*handling)
        .group_by(Unit.code))).all()}
    ratings = {row[0]: (row[1], row[2]) for row in (await session.execute(
        select(Unit.code, func.count(Rating.id), func.avg(Rating.score))
        .join(Assignment, Assignment.unit_id == Unit.id)
        .join(Rating, Rating.case_id == Assignment.case_id)
        .where(*handling, Assignment.role == AssignmentRole.LEAD)
        .group_by(Unit.code))).all()}
    callbacks = {row[0]: (row[1], row[2]) for row in (await session.execute(
        select(Unit.code, func.count(CallbackRating.id), func.avg(CallbackRating.score))
        .join(Assignment, Assignment.unit_id == Unit.id)
        .join(CallbackRating, CallbackRating.case_id == Assignment.case_id)
        .where(*handling, Assignment.role == AssignmentRole.LEAD)
        .group_by(Unit.code))).all()}
    found = await _findings(session, start, end)
    out = []
    for code, name, unit_district, count, overdue, expired, first, reviewed in base:
        read_ok, read_late, ans_ok, ans_late = clocks.get(code, (0, 0, 0, 0))
        n_ratings, avg = ratings.get(code, (0, None))
        n_callbacks, callback_avg = callbacks.get(code, (0, None))
        out.append(UnitStats(code, name, unit_district, int(count), int(read_ok or 0),
                             int(read_late or 0), int(ans_ok or 0), int(ans_late or 0),
                             int(overdue or 0), int(expired or 0), int(first or 0), int(n_ratings),
                             round(float(avg), 2) if avg is not None else None,
                             *found.get(code, (0, 0, 0)), int(reviewed or 0), int(n_callbacks),
                             round(float(callback_avg), 2) if callback_avg is not None else None))
    return sorted(out, key=lambda s: s.unit_code)


async def _findings(session: AsyncSession, start: datetime,
                    end: datetime) -> dict[str, tuple[int, int, int]]:
    """Per unit code: (standing R11.2b charges, waived or withdrawn ones, standing hand notices)
    made in the period. A contested finding stands until the office answers the contest."""
    rows = (await session.execute(
        select(Unit.code, Finding.kind, Finding.status, func.count(Finding.id))
        .join(Finding, Finding.unit_id == Unit.id)
        .where(Finding.created_at >= start, Finding.created_at < end)
        .group_by(Unit.code, Finding.kind, Finding.status))).all()
    out: dict[str, list[int]] = {}
    for code, kind, status, count in rows:
        if kind == FindingKind.CALLBACK:
            continue  # a referral for the office's judgement; the rating counts as satisfaction
        gone = status in (FindingStatus.WAIVED, FindingStatus.WITHDRAWN)
        if kind == FindingKind.NOTICE:
            if gone:
                continue  # a withdrawn notice is no mark, and nothing to subtract either
            slot = 2
        else:
            slot = 1 if gone else 0
        out.setdefault(code, [0, 0, 0])[slot] += int(count)
    return {code: (c[0], c[1], c[2]) for code, c in out.items()}
