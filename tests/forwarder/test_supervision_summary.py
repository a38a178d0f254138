"""The supervision desk's summary-backed figures equal a direct count (issue 12).

``period_stats`` reads the sweeper's ``unit_day`` rows plus what changed since
the last refresh; after a month of simulated activity (``forwarder.demo_history``:
the real workflow and the sweeper) every period, district and ``now`` must give
exactly what ``unit_stats`` counts from the rows, including right after actions
the summaries have not taken in yet."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from forwarder.cockpit_drill import window
from forwarder.cockpit_summary import rebuild
from forwarder.demo_history import HistoryReport
from forwarder.ranking import ranking
from forwarder.supervision import unit_stats
from forwarder.supervision_summary import period_stats, runs
from registrar.db import create_engine, make_sessionmaker
from registrar.models import Assignment, Event, Unit
from registrar.models_cockpit import UNIT_DAY_FIGURES, SummaryMark, UnitDay, UnitMonth
from tests.conftest import TZ
from tests.forwarder.history_kit import END, START, history_fixture  # noqa: F401  (the fixture)

FIRST, LAST = START.astimezone(TZ).date(), END.astimezone(TZ).date()


@pytest.fixture
async def db(history_db: tuple[str, HistoryReport]) -> AsyncIterator[AsyncSession]:
    engine = create_engine(history_db[0])
    try:
        async with make_sessionmaker(engine)() as session:
            yield session
    finally:
        await engine.dispose()


def periods() -> list[tuple[date, date]]:
    """The month, each week of it, a single day, the year so far, and the calendar month the
    history begins in, whole (read from ``unit_month``)."""
    weeks = [(FIRST + timedelta(days=d), min(FIRST + timedelta(days=d + 6), LAST))
             for d in range(0, (LAST - FIRST).days + 1, 7)]
    month = (FIRST.replace(day=1), LAST.replace(day=1) - timedelta(days=1))
    return [(FIRST, LAST), *weeks, (LAST - timedelta(days=3),) * 2, (date(LAST.year, 1, 1), LAST),
            month]


async def month_sums(db: AsyncSession) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """``unit_month``'s rows and the sums of ``unit_day``'s by month, both sorted."""
    kept = [(r.month, r.unit_id, *(getattr(r, k) for k in UNIT_DAY_FIGURES))
            for r in (await db.execute(select(UnitMonth))).scalars()]
    days: dict[tuple[date, int], list[int]] = {}
    for r in (await db.execute(select(UnitDay))).scalars():
        sums = days.setdefault((r.day.replace(day=1), r.unit_id), [0] * len(UNIT_DAY_FIGURES))
        for i, k in enumerate(UNIT_DAY_FIGURES):
            sums[i] += getattr(r, k)
    return sorted(kept), sorted((*key, *sums) for key, sums in days.items())


async def assert_same(db: AsyncSession, first: date, last: date, *, district: str | None = None,
                      now: datetime | None = None) -> None:
    start, end = window(first, last, TZ)
    direct = await unit_stats(db, start, end, district=district, now=now)
    summed = await period_stats(db, start, end, zone=TZ, district=district, now=now)
    assert summed == direct, (first, last, district, now)


async def test_summaries_were_kept_by_the_sweeps(db: AsyncSession) -> None:
    assert await db.scalar(select(SummaryMark.last_id).where(SummaryMark.name == "event"))
    assert (await db.execute(select(UnitDay).limit(1))).first() is not None
    kept, summed = await month_sums(db)
    assert len(kept) > 10 and kept == summed


async def test_summary_figures_equal_a_direct_count_after_a_month(db: AsyncSession) -> None:
    districts = sorted({d for d in (await db.execute(select(Unit.district))).scalars() if d})
    assert len(districts) > 2
    for first, last in periods():
        for now in (None, END, END + timedelta(days=20)):
            await assert_same(db, first, last, now=now)
        for district in districts:
            await assert_same(db, first, last, district=district, now=END)
    direct = await unit_stats(db, *window(FIRST, LAST, TZ), now=END)
    assert sum(s.dispatched for s in direct) > 50 and any(s.read_late + s.answered_late
                                                          for s in direct)


async def test_rows_newer_than_the_summaries_are_counted_live(db: AsyncSession) -> None:
    """The last third of the events not taken in yet, and the days they touch wrong in
    ``unit_day``: the figures must still be the direct count (as right after actions, before
    a sweep)."""
    events = list((await db.execute(select(Event.id).order_by(Event.id))).scalars())
    mark = events[2 * len(events) // 3]
    touched = {at.astimezone(TZ).date() for at in (await db.execute(
        select(Assignment.created_at).join(Event, Event.assignment_id == Assignment.id)
        .where(Event.id > mark))).scalars()}
    assert touched
    await db.execute(update(SummaryMark).where(SummaryMark.name == "event").values(last_id=mark))
    await db.execute(update(UnitDay).where(UnitDay.day.in_(sorted(touched)))
                     .values(dispatched=UnitDay.dispatched + 7, read_late=99, ratings=3))
    try:
        for first, last in periods():
            await assert_same(db, first, last, now=END)
        year = window(date(LAST.year, 1, 1), date(LAST.year, 12, 31), TZ)
        assert (await ranking(db, *year, now=END, zone=TZ)).rows == (
            await ranking(db, *year, now=END)).rows
    finally:
        await db.rollback()


async def test_without_summaries_the_figures_are_counted_directly(db: AsyncSession) -> None:
    await db.execute(SummaryMark.__table__.delete())
    await db.execute(UnitDay.__table__.delete())
    try:
        await assert_same(db, FIRST, LAST, now=END)
    finally:
        await db.rollback()


async def test_a_rebuild_gives_the_same_summaries(db: AsyncSession) -> None:
    """``rebuild`` (for a database filled without the sweeper) recounts every day at once."""
    kept = sorted((await db.execute(select(UnitDay))).scalars(), key=lambda r: (r.day, r.unit_id))
    before = [(r.day, r.unit_id, *(getattr(r, k) for k in UNIT_DAY_FIGURES)) for r in kept]
    await db.execute(SummaryMark.__table__.delete())
    await db.execute(UnitDay.__table__.delete())
    try:
        assert await rebuild(db, zone=TZ) >= (LAST - FIRST).days
        rows = sorted((await db.execute(select(UnitDay))).scalars(), key=lambda r: (r.day, r.unit_id))
        assert [(r.day, r.unit_id, *(getattr(r, k) for k in UNIT_DAY_FIGURES)) for r in rows] == before
        kept, summed = await month_sums(db)
        assert kept == summed
        await assert_same(db, FIRST, LAST, now=END)
    finally:
        await db.rollback()


def test_consecutive_days_are_one_run() -> None:
    d = date(2026, 11, 1)
    days = {d, d + timedelta(days=1), d + timedelta(days=2), d + timedelta(days=5)}
    assert runs(days) == [(d, d + timedelta(days=2)), (d + timedelta(days=5),) * 2]
