"""Weekly and monthly supervision bulletins (R11.1 "publishes periodic reports", issue 15.2).

A bulletin is a snapshot: what the period's figures were when it was made, the
notices and warnings issued in it, the worst overdue items at that moment and
the period's commendations (R12.1's ranking over the period). So it is stored
whole (HTML and PDF) and never recomputed; a later correction (a waived
finding) shows in the next bulletin and on the cockpit, not by rewriting a
published one. Bulletins are numbered per year, kind and scope (〔2026〕第12期);
the unique constraints make a concurrent second worker fail instead of issuing
the same bulletin twice.

The worker makes the city-wide bulletin of the last complete week (Monday to
Sunday) and of the last complete month as soon as they have ended; staff may
make one for any period, or for one district, on demand.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from forwarder import cockpit
from forwarder.cockpit_drill import window
from forwarder.ranking import Ranked, rank
from forwarder.supervision import unit_stats
from registrar.models import Assignment, Case, Event, Unit
from registrar.models_cockpit import Bulletin
from registrar.models_supervision import Finding

log = logging.getLogger(__name__)
KINDS = {"weekly": "周报", "monthly": "月报"}
WORST = 10
COMMENDED = 5
FINDINGS_LISTED = 60
FINDING_STATUS = {"charged": "待认定", "confirmed": "已确认", "contested": "申诉中", "waived": "已免责",
                  "withdrawn": "已撤销"}


def period_of(kind: str, day: date) -> tuple[date, date]:
    """The week (Monday–Sunday) or calendar month that contains ``day``."""
    if kind == "weekly":
        first = day - timedelta(days=day.weekday())
        return first, first + timedelta(days=6)
    first = day.replace(day=1)
    return first, (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)


def last_complete(kind: str, today: date) -> tuple[date, date]:
    """The latest week or month that ended before ``today``."""
    first, _ = period_of(kind, today)
    return period_of(kind, first - timedelta(days=1))


@dataclass(frozen=True, slots=True)
class FindingLine:
    created_at: datetime
    unit_name: str
    kind: str
    persons: str
    status: str
    number: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class BulletinData:
    """Everything a bulletin says, gathered once and drawn as HTML and as PDF."""

    kind: str
    scope: str
    year: int
    serial: int
    first: date
    last: date
    made_at: datetime
    zone: tzinfo
    registered: int
    units: list[cockpit.UnitFigures]
    total: cockpit.UnitFigures
    notices: int
    warnings: int
    findings: list[FindingLine]
    worst: list[cockpit.ClockRow]
    commended: list[Ranked]

    @property
    def number(self) -> str:
        return f"〔{self.year}〕第{self.serial}期"

    @property
    def title(self) -> str:
        where = self.scope or "福州市"
        return f"{where}12345热线效能监督{KINDS[self.kind]} {self.number}"


async def next_serial(session: AsyncSession, kind: str, scope: str, year: int) -> int:
    top = await session.scalar(select(func.max(Bulletin.serial)).where(
        Bulletin.kind == kind, Bulletin.scope == scope, Bulletin.year == year))
    return int(top or 0) + 1


async def gather(session: AsyncSession, kind: str, first: date, last: date, *, scope: str,
                 now: datetime, zone: tzinfo) -> BulletinData:
    """The bulletin's content for ``[first, last]``, city-wide (``scope=""``) or one district."""
    district = scope or None
    start, end = window(first, last, zone)
    units = await cockpit.unit_figures(session, first, last, district=district)
    registered = sum((await cockpit.intake_by(session, "channel", first, last,
                                              district=district)).values())
    conditions = [Event.action.in_(("unit_notified", "efficiency_warning")), Event.at >= start,
                  Event.at < end]
    counted = dict((await session.execute(
        select(Event.action, func.count()).where(*conditions).group_by(Event.action))).all()) \
        if district is None else await _district_events(session, conditions, district)
    findings = await _issued(session, conditions, district)
    worst = await cockpit.clock_list(session, now, "overdue", district=district, limit=WORST)
    stats = await unit_stats(session, start, end, district=district)
    commended = [r for r in rank(stats).rows if r.stats.marks == 0][:COMMENDED]
    serial = await next_serial(session, kind, scope, first.year)
    return BulletinData(kind, scope, first.year, serial, first, last, now, zone, registered, units,
                        cockpit.totals(units), int(counted.get("unit_notified", 0)),
                        int(counted.get("efficiency_warning", 0)), findings, worst, commended)


async def _issued(session: AsyncSession, conditions: list[Any],
                  district: str | None) -> list[FindingLine]:
    """The notices and warnings themselves (the sweeper's events, R11.2a and R11.2b), with the
    office's judgement of the R11.2b charge where there is one."""
    query = (select(Event.at, Event.action, Event.data, Case.number, Event.assignment_id)
             .join(Case, Case.id == Event.case_id).where(*conditions))
    if district is not None:
        query = (query.join(Assignment, Assignment.id == Event.assignment_id)
                 .join(Unit, Unit.id == Assignment.unit_id).where(Unit.district == district))
    rows = (await session.execute(query.order_by(Event.at, Event.id).limit(FINDINGS_LISTED))).all()
    names = dict((await session.execute(select(Unit.code, Unit.name))).all())
    judged = dict((await session.execute(select(Finding.assignment_id, Finding.status).where(
        Finding.assignment_id.in_([r[4] for r in rows if r[4] is not None])))).all())
    out = []
    for at, action, data, number, assignment_id in rows:
        data = data or {}
        rule = str(data.get("rule", ""))
        status = judged.get(assignment_id) if rule == "R11.2b" else None
        persons = data.get("persons") or []
        out.append(FindingLine(at, names.get(str(data.get("unit", "")), str(data.get("unit", ""))),
                               f"{'效能告诫' if action == 'efficiency_warning' else '通报'}（{rule}）",
                               "、".join(str(p) for p in persons) if isinstance(persons, list) else "",
                               FINDING_STATUS.get(status, "—") if status else "—", number, ""))
    return out


async def _district_events(session: AsyncSession, conditions: list[Any],
                           district: str) -> dict[str, int]:
    rows = await session.execute(
        select(Event.action, func.count()).join(Assignment, Assignment.id == Event.assignment_id)
        .join(Unit, Unit.id == Assignment.unit_id).where(*conditions, Unit.district == district)
        .group_by(Event.action))
    return {str(a): int(n) for a, n in rows}


Renderer = Callable[[BulletinData], tuple[str, bytes]]


async def make(session: AsyncSession, kind: str, first: date, last: date, *, scope: str,
               now: datetime, zone: tzinfo, made_by: str, render: Renderer) -> Bulletin:
    """Gather, render (HTML, PDF) and store the next numbered bulletin of ``kind``.

    Rendering is CPU work (font subsetting): it runs in a thread, off the event loop."""
    data = await gather(session, kind, first, last, scope=scope, now=now, zone=zone)
    html, pdf = await asyncio.to_thread(render, data)
    bulletin = Bulletin(kind=kind, scope=scope, year=data.year, serial=data.serial, first_day=first,
                        last_day=last, title=data.title, html=html, pdf=pdf, made_by=made_by,
                        created_at=now)
    session.add(bulletin)
    await session.flush()
    return bulletin


async def existing(session: AsyncSession, kind: str, scope: str, first: date) -> Bulletin | None:
    return (await session.execute(select(Bulletin).where(
        Bulletin.kind == kind, Bulletin.scope == scope, Bulletin.first_day == first))).scalar_one_or_none()


async def make_due(sessionmaker: async_sessionmaker[AsyncSession], *, now: datetime, zone: tzinfo,
                   render: Renderer) -> list[str]:
    """The scheduled run: the last complete week's and month's city bulletins, once each."""
    made = []
    today = now.astimezone(zone).date()
    for kind in KINDS:
        first, last = last_complete(kind, today)
        try:
            async with sessionmaker.begin() as session:
                if await existing(session, kind, "", first) is not None:
                    continue
                made.append((await make(session, kind, first, last, scope="", now=now, zone=zone,
                                        made_by="worker", render=render)).title)
        except IntegrityError:
            log.info("bulletins: %s of %s made by another worker", kind, first)
    return made


@contextlib.asynccontextmanager
async def bulletin_worker(sessionmaker: async_sessionmaker[AsyncSession], clock: Callable[[], datetime],
                          *, zone: tzinfo, render: Renderer,
                          interval_s: float = 600.0) -> AsyncIterator[None]:
    """Make the due bulletins every ``interval_s`` seconds while the context is open."""
    async def loop() -> None:
        while True:
            try:
                for title in await make_due(sessionmaker, now=clock(), zone=zone, render=render):
                    log.info("bulletins: made %s", title)
            except Exception:
                log.exception("bulletins: run failed; next run in %.0f s", interval_s)
            await asyncio.sleep(interval_s)
    task = asyncio.create_task(loop(), name="bulletins")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
