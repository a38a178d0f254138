"""The summary tables behind the cockpit and the bulletins, kept up to date by the sweeper.

Why: a month's per-unit figures over a million cases cannot be computed on
every page view. Every change to an assignment appends an ``event`` row
(DESIGN.md invariant 3), ratings, call-backs and findings are rows with
growing ids, and registration never changes a case's channel or time. So each
run reads only the ids above ``summary_mark``, finds the days whose figures
those rows can change, and recounts just those days with the same
``unit_stats`` the supervision desk uses; intake counts are added as cases
arrive. A day's figures are recomputed whole, never incremented, so a row that
was read twice (or a crash mid-run) cannot count twice.

The marks are locked for the run (``FOR UPDATE``; SQLite's ``BEGIN IMMEDIATE``),
so two workers on PostgreSQL take turns instead of counting the same day twice.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from sqlalchemy import Date, case, delete, func, insert, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from forwarder.supervision import _findings as findings_by_unit
from forwarder.supervision import unit_stats
from registrar.models import Assignment, AssignmentRole, Case, Event, Rating, Unit
from registrar.models_cockpit import (
    UNIT_DAY_FIGURES,
    CallbackRating,
    IntakeHour,
    SummaryMark,
    UnitDay,
    UnitMonth,
)
from registrar.models_supervision import Finding, FindingDecision

#: Source tables read by id, in the order a run takes them in (migration 0016 makes a mark each).
SOURCES = ("case", "event", "rating", "callback", "finding", "decision")
#: Most ids of one source a run takes in (the next run goes on from there).
BATCH = 20_000


def day_bounds(day: date, zone: tzinfo) -> tuple[datetime, datetime]:
    """``[start, end)`` of a city calendar day."""
    start = datetime.combine(day, time(0), tzinfo=zone)
    return start, datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)


async def _marks(session: AsyncSession) -> dict[str, SummaryMark]:
    rows = {m.name: m for m in (await session.execute(
        select(SummaryMark).where(SummaryMark.name.in_(SOURCES)).with_for_update())).scalars()}
    for name in SOURCES:
        if name not in rows:
            rows[name] = SummaryMark(name=name, last_id=0)
            session.add(rows[name])
    await session.flush()
    return rows


async def refresh(session: AsyncSession, *, zone: tzinfo, batch: int = BATCH) -> int:
    """Take in what changed since the last run; returns how many ids the marks moved by
    (0: the summaries are up to date; a large backlog takes several runs of ``batch``)."""
    marks = await _marks(session)
    before = sum(m.last_id for m in marks.values())
    await _take_intake(session, marks["case"], zone, batch)
    days: set[date] = set()
    queries: dict[str, tuple[Any, Any]] = {
        "event": (Event.id, select(Event.id, Assignment.created_at)
                  .join(Assignment, Assignment.id == Event.assignment_id)),
        "rating": (Rating.id, select(Rating.id, Assignment.created_at)
                   .join(Assignment, Assignment.case_id == Rating.case_id)),
        "callback": (CallbackRating.id, select(CallbackRating.id, Assignment.created_at)
                     .join(Assignment, Assignment.case_id == CallbackRating.case_id)),
        "finding": (Finding.id, select(Finding.id, Finding.created_at)),
        "decision": (FindingDecision.id, select(FindingDecision.id, Finding.created_at)
                     .join(Finding, Finding.id == FindingDecision.finding_id)),
    }
    for name, (id_column, query) in queries.items():
        mark = marks[name]
        top = await session.scalar(select(func.max(id_column)).where(id_column > mark.last_id))
        if top is None:
            continue
        top = min(int(top), mark.last_id + batch)
        for _, at in await session.execute(
                query.where(id_column > mark.last_id, id_column <= top)):
            days.add(at.astimezone(zone).date())
        mark.last_id = top
    for day in sorted(days):
        await recount_day(session, day, zone=zone)
    return sum(m.last_id for m in marks.values()) - before


async def rebuild(session: AsyncSession, *, zone: tzinfo) -> int:
    """Recount every day with assignments or findings and move the ``unit_day`` marks past
    all rows: for a database filled without the sweeper (an import, ``bench.bigdata``),
    where taking in millions of events ``BATCH`` at a time would take hours. Returns the
    days counted. ``intake_hour`` is left to ``refresh``."""
    marks = await _marks(session)
    tops = {"event": Event.id, "rating": Rating.id, "callback": CallbackRating.id,
            "finding": Finding.id, "decision": FindingDecision.id}
    # Read the tops first: a row added while counting stays above its mark for the next run.
    ids = {name: int(await session.scalar(select(func.max(column))) or 0)
           for name, column in tops.items()}
    spans = [await session.execute(select(func.min(at), func.max(at)))
             for at in (Assignment.created_at, Finding.created_at)]
    bounds = [at for span in spans for at in span.one() if at is not None]
    days = 0
    if bounds:
        day, last = min(bounds).astimezone(zone).date(), max(bounds).astimezone(zone).date()
        while day <= last:
            await recount_day(session, day, zone=zone)
            day, days = day + timedelta(days=1), days + 1
    for name, top in ids.items():
        marks[name].last_id = max(marks[name].last_id, top)
    await session.flush()
    return days


async def _take_intake(session: AsyncSession, mark: SummaryMark, zone: tzinfo, batch: int) -> None:
    """Add the cases registered since the mark to their hour's count."""
    rows = (await session.execute(
        select(Case.id, Case.registered_at, Case.channel, Case.district_hint)
        .where(Case.id > mark.last_id, Case.parent_case_id.is_(None))
        .order_by(Case.id).limit(batch))).all()
    # Parts of a split item (R8.7) are not new intake; the mark still moves past them.
    top = await session.scalar(select(func.max(Case.id)).where(Case.id > mark.last_id))
    if top is None:
        return
    counts: Counter[tuple[date, int, str, str]] = Counter()
    for _, at, channel, district in rows:
        local = at.astimezone(zone)
        counts[(local.date(), local.hour, channel, district or "")] += 1
    mark.last_id = int(rows[-1][0]) if len(rows) == batch else int(top)
    # One read of the days' rows, not one per hour: a backlog spans thousands of hours.
    have = {(r.day, r.hour, r.channel, r.district): r for r in (await session.execute(
        select(IntakeHour).where(IntakeHour.day.in_(sorted({key[0] for key in counts}))))).scalars()}
    for (day, hour, channel, district), n in counts.items():
        row = have.get((day, hour, channel, district))
        if row is None:
            session.add(IntakeHour(day=day, hour=hour, channel=channel, district=district, count=n))
        else:
            row.count += n
    await session.flush()


async def recount_day(session: AsyncSession, day: date, *, zone: tzinfo) -> None:
    """Replace one day's ``unit_day`` rows by a fresh count (``unit_stats`` plus the extras)."""
    start, end = day_bounds(day, zone)
    stats = await unit_stats(session, start, end)
    extra = await _extras(session, start, end)
    ids = dict((await session.execute(select(Unit.code, Unit.id))).all())
    await session.execute(delete(UnitDay).where(UnitDay.day == day))
    seen: set[str] = set()
    for s in stats:
        seen.add(s.unit_code)
        more = extra.get(s.unit_code, (0, 0, 0, 0, 0))
        session.add(UnitDay(
            day=day, unit_id=ids[s.unit_code], dispatched=s.dispatched, read_on_time=s.read_on_time,
            read_late=s.read_late, answered_on_time=s.answered_on_time,
            answered_late=s.answered_late, overdue_handling=s.overdue_handling,
            expired_unhandled=s.expired_unhandled, passed_first_time=s.passed_first_time,
            reviewed=s.reviewed, returns=more[0], redone=more[1], ratings=s.ratings,
            rating_sum=more[2], callbacks=more[3], callback_sum=more[4], charges=s.charges,
            waived=s.waived, notices=s.notices))
    # A unit with findings of the day but no assignment of the day still has its marks.
    for code, (charges, waived, notices) in (await findings_by_unit(session, start, end)).items():
        if code not in seen:
            session.add(UnitDay(day=day, unit_id=ids[code], dispatched=0, read_on_time=0,
                                read_late=0, answered_on_time=0, answered_late=0,
                                overdue_handling=0, expired_unhandled=0, passed_first_time=0,
                                reviewed=0, returns=0, redone=0, ratings=0, rating_sum=0,
                                callbacks=0, callback_sum=0, charges=charges, waived=waived,
                                notices=notices))
    await session.flush()
    await sum_month(session, day)


def month_bounds(day: date) -> tuple[date, date]:
    """The first day of ``day``'s month and of the next."""
    first = day.replace(day=1)
    return first, (first + timedelta(days=31)).replace(day=1)


async def sum_month(session: AsyncSession, day: date) -> None:
    """Replace the ``unit_month`` rows of ``day``'s month by the sums of its ``unit_day`` rows."""
    first, after = month_bounds(day)
    await session.execute(delete(UnitMonth).where(UnitMonth.month == first))
    await session.execute(insert(UnitMonth).from_select(
        ["month", "unit_id", *UNIT_DAY_FIGURES],
        select(literal(first, Date), UnitDay.unit_id,
               *(func.sum(getattr(UnitDay, name)) for name in UNIT_DAY_FIGURES))
        .where(UnitDay.day >= first, UnitDay.day < after).group_by(UnitDay.unit_id)))


async def _extras(session: AsyncSession, start: datetime,
                  end: datetime) -> dict[str, tuple[int, int, int, int, int]]:
    """Per unit: (returns, redone, rating sum, call-backs, call-back sum) for the window."""
    handling = [Assignment.role.in_([AssignmentRole.LEAD, AssignmentRole.CO]),
                Assignment.created_at >= start, Assignment.created_at < end]
    base = {code: (int(r or 0), int(d or 0)) for code, r, d in await session.execute(
        select(Unit.code, func.sum(case((Assignment.return_reason.is_not(None), 1), else_=0)),
               func.sum(case((Assignment.review_failures > 0, 1), else_=0)))
        .join(Assignment, Assignment.unit_id == Unit.id).where(*handling).group_by(Unit.code))}
    lead = [*handling, Assignment.role == AssignmentRole.LEAD]
    rated = dict((code, int(total or 0)) for code, total in await session.execute(
        select(Unit.code, func.sum(Rating.score)).join(Assignment, Assignment.unit_id == Unit.id)
        .join(Rating, Rating.case_id == Assignment.case_id).where(*lead).group_by(Unit.code)))
    called = {code: (int(n), int(total or 0)) for code, n, total in await session.execute(
        select(Unit.code, func.count(CallbackRating.id), func.sum(CallbackRating.score))
        .join(Assignment, Assignment.unit_id == Unit.id)
        .join(CallbackRating, CallbackRating.case_id == Assignment.case_id)
        .where(*lead).group_by(Unit.code))}
    out = {}
    for code in set(base) | set(rated) | set(called):
        returns, redone = base.get(code, (0, 0))
        n_called, called_sum = called.get(code, (0, 0))
        out[code] = (returns, redone, rated.get(code, 0), n_called, called_sum)
    return out
