"""The supervision desk's period figures from the sweeper's summaries, exact at any moment (issue 12).

Why: ``unit_stats`` counts every assignment, clock and rating of a period on
each view; the year's ranking then reads a whole year (6.8 s at 1 000 000
cases). The sweeper already keeps the same counts per unit and day in
``unit_day`` (``forwarder.cockpit_summary``), recounted with ``unit_stats``
itself, and their sums per month in ``unit_month``. This module reads those rows
(a whole month's from ``unit_month`` unless one of its days is stale) and adds
only what they cannot know yet:

* **Days changed since the last refresh.** Every change to an assignment is an
  ``event`` row, and ratings, call-backs, findings and their decisions are rows
  with growing ids. A row above its ``summary_mark`` names the day whose
  figures it may change (the day its assignment was created, or its finding
  made), exactly as the refresh would find it; those days are counted live
  with ``unit_stats``, the others read from the summaries.
* **Clocks run out that no sweep has marked.** The summaries count as
  ``unit_stats`` does without ``now``; with ``now`` the desk also counts open
  clocks past due as late. Those are open rows, found through
  ``ix_deadline_open_due`` and added to the late columns.

So a figure right after a workflow action, before any sweep, equals the direct
count, while a view costs one ``unit_month`` row per unit and whole month, one
``unit_day`` row per unit and day of a partial month, plus what changed since
the last sweep (a year's ranking: 12 rows a unit, not 365). Without any summary mark yet (the sweeper never
ran) the direct count is used.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from forwarder.cockpit_summary import month_bounds
from forwarder.supervision import UnitStats, _findings, unit_stats
from registrar.models import Assignment, AssignmentRole, Deadline, DeadlineKind, Event, Rating, Unit
from registrar.models_cockpit import CallbackRating, SummaryMark, UnitDay, UnitMonth
from registrar.models_supervision import Finding, FindingDecision

#: The ``UnitStats`` counters the summaries hold, plus ``rating_sum`` for the average.
COUNTERS: tuple[str, ...] = (
    "dispatched", "read_on_time", "read_late", "answered_on_time", "answered_late",
    "overdue_handling", "expired_unhandled", "passed_first_time", "reviewed", "ratings",
    "rating_sum", "callbacks", "callback_sum", "charges", "waived", "notices",
)
FINDING_COUNTERS = ("charges", "waived", "notices")
#: The marks whose rows change ``unit_day`` (``case`` only feeds ``intake_hour``).
MARKS = ("event", "rating", "callback", "finding", "decision")
#: Assignment ids per ``IN (…)`` when looking up the units of unmarked clocks.
CHUNK = 1000


def whole_days(start: datetime, end: datetime, zone: tzinfo) -> tuple[date, date] | None:
    """``(first, last)`` when ``[start, end)`` is whole city days, else ``None``."""
    first, after = start.astimezone(zone), end.astimezone(zone)
    if first.time() != time(0) or after.time() != time(0) or after <= first:
        return None
    return first.date(), after.date() - timedelta(days=1)


async def stale_days(session: AsyncSession, marks: dict[str, int], start: datetime,
                     end: datetime, zone: tzinfo) -> set[date]:
    """Days of ``[start, end)`` whose ``unit_day`` rows the rows above the marks may change."""
    queries: dict[str, Any] = {
        "event": select(Assignment.created_at).join(Event, Event.assignment_id == Assignment.id)
        .where(Event.id > marks["event"], Assignment.created_at >= start, Assignment.created_at < end),
        "rating": select(Assignment.created_at).join(Rating, Rating.case_id == Assignment.case_id)
        .where(Rating.id > marks["rating"], Assignment.created_at >= start,
               Assignment.created_at < end),
        "callback": select(Assignment.created_at)
        .join(CallbackRating, CallbackRating.case_id == Assignment.case_id)
        .where(CallbackRating.id > marks["callback"], Assignment.created_at >= start,
               Assignment.created_at < end),
        "finding": select(Finding.created_at).where(
            Finding.id > marks["finding"], Finding.created_at >= start, Finding.created_at < end),
        "decision": select(Finding.created_at)
        .join(FindingDecision, FindingDecision.finding_id == Finding.id)
        .where(FindingDecision.id > marks["decision"], Finding.created_at >= start,
               Finding.created_at < end),
    }
    days: set[date] = set()
    for query in queries.values():
        days.update(at.astimezone(zone).date() for at in (await session.execute(query)).scalars())
    return days


def runs(days: set[date]) -> list[tuple[date, date]]:
    """Consecutive days as ``(first, last)`` runs, so a busy week is one live count, not seven."""
    out: list[tuple[date, date]] = []
    for day in sorted(days):
        if out and out[-1][1] + timedelta(days=1) == day:
            out[-1] = (out[-1][0], day)
        else:
            out.append((day, day))
    return out


def split(first: date, last: date, skip: set[date]) -> tuple[list[date], list[tuple[date, date]]]:
    """``[first, last]`` less ``skip`` as the months it covers whole with no day skipped (their
    first days: read from ``unit_month``) and runs of the other days (from ``unit_day``)."""
    months: list[date] = []
    days: set[date] = set()
    day = first
    while day <= last:
        month, after = month_bounds(day)
        end = min(after, last + timedelta(days=1))
        span = {day + timedelta(days=i) for i in range((end - day).days)}
        if day == month and end == after and not span & skip:
            months.append(month)
        else:
            days |= span - skip
        day = end
    return months, runs(days)


async def _summed(session: AsyncSession, first: date, last: date, skip: set[date],
                  district: str | None) -> dict[str, Counter[str]]:
    """Per unit code, the summaries' sums of ``[first, last]`` less the days in ``skip``: a
    year is twelve ``unit_month`` rows a unit, plus the ``unit_day`` rows of partial months."""
    months, days = split(first, last, skip)
    wanted: list[tuple[Any, Any]] = []
    if months:
        wanted.append((UnitMonth, UnitMonth.month.in_(months)))
    if days:
        wanted.append((UnitDay, or_(*(UnitDay.day.between(a, b) for a, b in days))))
    out: dict[str, Counter[str]] = {}
    for table, where in wanted:
        query = (select(Unit.code, *(func.sum(getattr(table, name)) for name in COUNTERS))
                 .join(table, table.unit_id == Unit.id).where(where).group_by(Unit.code))
        if district is not None:
            query = query.where(Unit.district == district)
        for code, *values in await session.execute(query):
            out.setdefault(code, Counter()).update(
                {k: int(v or 0) for k, v in zip(COUNTERS, values, strict=True)})
    return out


async def _live(session: AsyncSession, start: datetime, end: datetime,
                district: str | None) -> dict[str, Counter[str]]:
    """Per unit code, the direct count of ``[start, end)`` as ``unit_day`` would hold it.

    Findings are taken for every unit: a unit's finding on a day it was given
    nothing still counts when it was given something elsewhere in the period."""
    out: dict[str, Counter[str]] = {}
    for s in await unit_stats(session, start, end, district=district):
        out[s.unit_code] = Counter({k: getattr(s, k) for k in COUNTERS
                                    if k not in FINDING_COUNTERS and not k.endswith("_sum")})
    for code, total in await session.execute(
            select(Unit.code, func.sum(Rating.score)).join(Assignment, Assignment.unit_id == Unit.id)
            .join(Rating, Rating.case_id == Assignment.case_id)
            .where(Assignment.role == AssignmentRole.LEAD, Assignment.created_at >= start,
                   Assignment.created_at < end).group_by(Unit.code)):
        if code in out:
            out[code]["rating_sum"] = int(total or 0)
    for code, total in await session.execute(
            select(Unit.code, func.sum(CallbackRating.score))
            .join(Assignment, Assignment.unit_id == Unit.id)
            .join(CallbackRating, CallbackRating.case_id == Assignment.case_id)
            .where(Assignment.role == AssignmentRole.LEAD, Assignment.created_at >= start,
                   Assignment.created_at < end).group_by(Unit.code)):
        if code in out:
            out[code]["callback_sum"] = int(total or 0)
    for code, found in (await _findings(session, start, end)).items():
        out.setdefault(code, Counter()).update(dict(zip(FINDING_COUNTERS, found, strict=True)))
    return out


async def _unmarked_late(session: AsyncSession, start: datetime, end: datetime, now: datetime,
                         district: str | None) -> dict[str, Counter[str]]:
    """Per unit code, open read and answer clocks past due at ``now`` that no sweep marked missed.

    The open clocks past due are taken first, through ``ix_deadline_open_due`` (a
    sweep a minute leaves few), and only then their assignments: joined the other
    way round, PostgreSQL walks the period's assignments (a year: 200 ms at 1 M)."""
    clocks = (await session.execute(
        select(Deadline.assignment_id, Deadline.kind)
        .where(Deadline.met_at.is_(None), Deadline.missed.is_(False), Deadline.due_at <= now,
               Deadline.cancelled.is_(False),
               Deadline.kind.in_([DeadlineKind.READ, DeadlineKind.ANSWER])))).all()
    kinds: dict[int, list[Any]] = {}
    for assignment_id, kind in clocks:
        kinds.setdefault(assignment_id, []).append(kind)
    out: dict[str, Counter[str]] = {}
    ids = sorted(kinds)
    for at in range(0, len(ids), CHUNK):
        query = (select(Unit.code, Assignment.id).join(Assignment, Assignment.unit_id == Unit.id)
                 .where(Assignment.id.in_(ids[at:at + CHUNK]),
                        Assignment.role.in_([AssignmentRole.LEAD, AssignmentRole.CO]),
                        Assignment.created_at >= start, Assignment.created_at < end))
        if district is not None:
            query = query.where(Unit.district == district)
        for code, assignment_id in await session.execute(query):
            for kind in kinds[assignment_id]:
                column = "read_late" if kind == DeadlineKind.READ else "answered_late"
                out.setdefault(code, Counter())[column] += 1
    return out


async def period_stats(session: AsyncSession, start: datetime, end: datetime, *, zone: tzinfo,
                       district: str | None = None, now: datetime | None = None) -> list[UnitStats]:
    """``unit_stats(start, end, district=, now=)``, read from ``unit_day`` where it is current.

    ``zone`` is the city's, the one the sweeper cuts days in; a period that is
    not whole days of it, or a database the sweeper never summarised, is
    counted directly."""
    days = whole_days(start, end, zone)
    marks = dict((await session.execute(
        select(SummaryMark.name, SummaryMark.last_id).where(SummaryMark.name.in_(MARKS)))).all())
    if days is None or set(marks) != set(MARKS):
        return await unit_stats(session, start, end, district=district, now=now)
    first, last = days
    stale = await stale_days(session, marks, start, end, zone)
    parts = [await _summed(session, first, last, stale, district)]
    for run_first, run_last in runs(stale):
        parts.append(await _live(session, datetime.combine(run_first, time(0), tzinfo=zone),
                                 datetime.combine(run_last + timedelta(days=1), time(0), tzinfo=zone),
                                 district))
    if now is not None:
        parts.append(await _unmarked_late(session, start, end, now, district))
    total: dict[str, Counter[str]] = {}
    for part in parts:
        for code, figures in part.items():
            total.setdefault(code, Counter()).update(figures)
    units = {code: (name, unit_district) for code, name, unit_district in await session.execute(
        select(Unit.code, Unit.name, Unit.district).where(Unit.code.in_(sorted(total))))}
    out = []
    for code in sorted(total):
        f, (name, unit_district) = total[code], units[code]
        if f["dispatched"] == 0 or (district is not None and unit_district != district):
            continue  # as unit_stats: only units given something in the period (and the district)
        out.append(UnitStats(
            code, name, unit_district, f["dispatched"], f["read_on_time"], f["read_late"],
            f["answered_on_time"], f["answered_late"], f["overdue_handling"],
            f["expired_unhandled"], f["passed_first_time"], f["ratings"],
            round(f["rating_sum"] / f["ratings"], 2) if f["ratings"] else None,
            f["charges"], f["waived"], f["notices"], f["reviewed"], f["callbacks"],
            round(f["callback_sum"] / f["callbacks"], 2) if f["callbacks"] else None))
    return out
