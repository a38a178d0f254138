"""A realistic history for the demo and the benchmarks (issue 15.6): months of cases moved
through the real workflow with a simulated clock.

Why not insert rows: the cockpit, the bulletins and the ranking read clocks,
flags, events and findings that only the workflow and the sweeper write
correctly. So every item here is registered by ``registrar.register`` and moved
by the same actions the desks call (accept, dispatch, read, draft, approve,
submit, review, publish, return, split), each at its simulated moment; the
sweeper runs at every simulated midnight and records what ran late, exactly as
it would have. The choices are random but seeded, so a seed gives the same
history on every machine; the rates below make late reads, 逾期办理, returns,
redone answers, repeats, splits, ratings and call-backs all appear.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contract.clock import FixedClock
from contract.envelope import Channel, Envelope
from forwarder import demo_texts
from forwarder import workflow as wf
from forwarder import workflow_special as special
from forwarder.calendar import WorkingCalendar
from forwarder.cockpit_summary import refresh
from forwarder.sweeper import Sweeper
from forwarder.workflow_base import Actor, Context, WorkflowError, load_assignment, load_case
from registrar.attachments import AttachmentStore
from registrar.models import Case, Duty, Rating, RosterEntry, Unit
from registrar.models_cockpit import CallbackRating
from registrar.registration import register

Step = Callable[[AsyncSession], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class UnitInfo:
    """What the history needs of a unit, kept outside any session."""

    code: str
    kind: str
    district: str | None
    parent_code: str | None


@dataclass(frozen=True, slots=True)
class Rates:
    """How often each twist happens; the defaults give a city with visible problems."""

    not_accepted: float = 0.04
    internal: float = 0.08
    split: float = 0.04
    repeat: float = 0.04
    to_district: float = 0.5
    late_dispatch: float = 0.05
    late_read: float = 0.12
    late_answer: float = 0.08
    returns: float = 0.05
    fail_review: float = 0.15
    rating: float = 0.5
    callback: float = 0.3


@dataclass(slots=True)
class HistoryReport:
    """What the generated history holds."""

    cases: int = 0
    actions: Counter[str] = field(default_factory=Counter)
    refused: int = 0
    """Actions the workflow refused (a real rule said no); the item simply stops there."""


class History:
    """Generates ``cases`` items over ``[start, end)`` and runs them to where they would be."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], ctx: Context,
                 calendar: WorkingCalendar, *, store_dir: Path, seed: int = 12345,
                 rates: Rates | None = None, prefix: str = "FZ12345") -> None:
        if not isinstance(ctx.clock, FixedClock):
            raise TypeError("the history needs a FixedClock it can move")
        self.sm, self.ctx, self.cal, self.clock = sessionmaker, ctx, calendar, ctx.clock
        self.rng, self.rates, self.prefix = random.Random(seed), rates or Rates(), prefix
        self.store = AttachmentStore(store_dir)
        self.queue: list[tuple[datetime, int, Step]] = []
        self.seq = itertools.count()
        self.report = HistoryReport()
        self.people: dict[tuple[str, str], str] = {}
        self.units: list[UnitInfo] = []
        self.senders: list[tuple[str, str, str]] = []

    # -- time ------------------------------------------------------------------------------

    def at(self, moment: datetime, step: Step) -> None:
        heapq.heappush(self.queue, (moment, next(self.seq), step))

    def after(self, moment: datetime, working_days: int, *, hour: int | None = None) -> datetime:
        """An office-hours moment ``working_days`` working days after ``moment`` (0: same day,
        or the next working day when ``moment`` is not in one)."""
        day = self.cal.local_date(moment)
        if working_days == 0 and not self.cal.is_working_day(day):
            working_days = 1
        for _ in range(working_days):
            day = self.cal.next_working_day(day)
        when = time(hour if hour is not None else self.rng.choice((9, 10, 11, 14, 15, 16)),
                    self.rng.randrange(60))
        out = datetime.combine(day, when, tzinfo=self.cal.zone)
        return max(out, moment + timedelta(minutes=5))

    # -- people ----------------------------------------------------------------------------

    def actor(self, unit: UnitInfo | str, duty: str = Duty.HANDLER) -> Actor:
        code = unit if isinstance(unit, str) else unit.code
        name = self.people.get((code, duty)) or self.people.get((code, Duty.HANDLER), "值班人员")
        kind = next((u.kind for u in self.units if u.code == code), "")
        role = {"city_bureau": "city_bureau", "district_bureau": "district_bureau"}.get(
            kind, "unit_leader" if duty == Duty.LEADER else "unit_handler")
        return Actor(name, role, code)

    async def _load(self, start: datetime) -> None:
        async with self.sm.begin() as session:
            self.units = [UnitInfo(*row) for row in await session.execute(
                select(Unit.code, Unit.kind, Unit.district, Unit.parent_code)
                .where(Unit.active.is_(True)).order_by(Unit.id))]
            # A fresh demo organisation is on duty from the start of its history (R10.1).
            await session.execute(update(RosterEntry).where(
                RosterEntry.valid_from > start, RosterEntry.valid_to.is_(None))
                .values(valid_from=start - timedelta(days=1)))
            for entry in (await session.execute(select(RosterEntry, Unit.code).join(
                    Unit, Unit.id == RosterEntry.unit_id).where(RosterEntry.valid_to.is_(None))
                    .order_by(RosterEntry.id))).all():
                self.people.setdefault((entry[1], entry[0].duty), entry[0].person_name)

    # -- the run ---------------------------------------------------------------------------

    async def run(self, start: datetime, end: datetime, cases: int) -> HistoryReport:
        """Register ``cases`` items spread over ``[start, end)``, then play every step due
        before ``end``, sweeping at each midnight; the summaries are brought up to date."""
        await self._load(start)
        span = (end - start).total_seconds()
        for n in range(cases):
            moment = start + timedelta(seconds=span * n / max(cases, 1))
            moment = moment.replace(hour=demo_texts.intake_hour(self.rng),
                                    minute=self.rng.randrange(60))
            if start <= moment < end:
                self.at(moment, self._intake(n))
        self.at(start + (end - start) / 2, self._roster_change)
        sweeper = Sweeper(self.sm, self.ctx, zone=self.cal.zone)
        midnight = datetime.combine(self.cal.local_date(start) + timedelta(days=1), time(0, 5),
                                    tzinfo=self.cal.zone)
        while self.queue and self.queue[0][0] < end:
            async with self.sm.begin() as session:
                while self.queue and self.queue[0][0] < min(midnight, end):
                    moment, _, step = heapq.heappop(self.queue)
                    self.clock.moment = moment
                    try:
                        async with session.begin_nested():
                            await step(session)
                    except WorkflowError:
                        self.report.refused += 1
            if midnight < end:
                self.clock.moment = midnight
                await sweeper.run_once()
            midnight += timedelta(days=1)
        self.clock.moment = end
        await sweeper.run_once()
        while True:
            async with self.sm.begin() as session:
                if not await refresh(session, zone=self.cal.zone):
                    break
        return self.report

    async def _roster_change(self, session: AsyncSession) -> None:
        """R10.2: a handler of 市城管委 leaves mid-history and a successor is reported."""
        unit = (await session.execute(select(Unit).where(Unit.code == "city-urban"))).scalar_one_or_none()
        if unit is None:
            return
        now = self.clock.now()
        old = (await session.execute(select(RosterEntry).where(
            RosterEntry.unit_id == unit.id, RosterEntry.duty == Duty.HANDLER,
            RosterEntry.valid_to.is_(None)).order_by(RosterEntry.id))).scalars().first()
        if old is None:
            return
        old.valid_to = now
        session.add(RosterEntry(unit_id=unit.id, person_name="林晓东", duty=Duty.HANDLER,
                                valid_from=now, reported_by="市城管委（演示数据）"))
        self.people[(unit.code, Duty.HANDLER)] = "林晓东"
        self.report.actions["roster_change"] += 1

    # -- one item --------------------------------------------------------------------------

    def _intake(self, n: int) -> Step:
        async def step(session: AsyncSession) -> None:
            item = demo_texts.item(self.rng, self.units, self.senders,
                                   repeat=self.rng.random() < self.rates.repeat,
                                   to_district=self.rates.to_district)
            public = self.rng.random() >= self.rates.internal
            envelope = Envelope(channel=Channel(item.channel), external_id=f"demo-{n}",
                                received_at=self.clock.now(), text=item.text, sender=item.phone,
                                reply_address=item.phone, display_name=item.name,
                                public_allowed=public, district_hint=item.district,
                                location_hint=item.place)
            case = (await register(session, envelope, clock=self.clock, store=self.store,
                                   prefix=self.prefix, due=self.ctx.due)).case
            self.report.cases += 1
            late = self.rng.random() < self.rates.late_dispatch
            self.at(self.after(self.clock.now(), 2 if late else self.rng.choice((0, 1))),
                    self._screen(case.number, item.unit_code))
        return step

    def _screen(self, number: str, unit_code: str) -> Step:
        async def step(session: AsyncSession) -> None:
            city = self.actor("city-bureau")
            roll = self.rng.random()
            if roll < self.rates.not_accepted:
                await wf.not_accept(session, self.ctx, number, self.rng.choice(("R3.5", "R3.9")), city)
                self.report.actions["not_accept"] += 1
                return
            await wf.accept(session, self.ctx, number, city)
            if roll < self.rates.not_accepted + self.rates.split:
                parts = await special.split(session, self.ctx, number, demo_texts.parts(self.rng),
                                            city)
                self.report.actions["split"] += 1
                for part in parts:
                    code = self.rng.choice([u.code for u in self.units if u.kind == "city_unit"])
                    await self._dispatch(session, part.number, code)
                return
            await self._dispatch(session, number, unit_code)
        return step

    async def _dispatch(self, session: AsyncSession, number: str, unit_code: str) -> None:
        unit = next(u for u in self.units if u.code == unit_code)
        city = self.actor("city-bureau")
        if unit.kind == "district_unit" and unit.parent_code:
            await wf.dispatch(session, self.ctx, number, unit.parent_code, city)
            self.at(self.after(self.clock.now(), self.rng.choice((0, 1))),
                    self._district(number, unit))
            return
        for made in await wf.dispatch(session, self.ctx, number, unit_code, city):
            self._handle(made.id, unit)
        self.report.actions["dispatch"] += 1

    def _district(self, number: str, unit: UnitInfo) -> Step:
        async def step(session: AsyncSession) -> None:
            assert unit.parent_code is not None
            for made in await wf.district_dispatch(session, self.ctx, number, unit.code,
                                                   self.actor(unit.parent_code)):
                self._handle(made.id, unit)
            self.report.actions["district_dispatch"] += 1
        return step

    def _handle(self, assignment_id: int, unit: UnitInfo) -> None:
        late = self.rng.random() < self.rates.late_read
        self.at(self.after(self.clock.now(), self.rng.choice((3, 4)) if late
                           else self.rng.choice((0, 1))), self._read(assignment_id, unit))

    def _read(self, assignment_id: int, unit: UnitInfo) -> Step:
        async def step(session: AsyncSession) -> None:
            await wf.read(session, self.ctx, assignment_id, self.actor(unit))
            self.report.actions["read"] += 1
            if unit.kind == "city_unit" and self.rng.random() < self.rates.returns:
                self.at(self.after(self.clock.now(), 1), self._return(assignment_id, unit))
                return
            late = self.rng.random() < self.rates.late_answer
            days = self.rng.randint(11, 14) if late else self.rng.randint(2, 8)
            self.at(self.after(self.clock.now(), days), self._answer(assignment_id, unit))
        return step

    def _return(self, assignment_id: int, unit: UnitInfo) -> Step:
        async def step(session: AsyncSession) -> None:
            other = self.rng.choice([u for u in self.units if u.kind == "city_unit" and u != unit])
            await special.request_return(session, self.ctx, assignment_id, actor=self.actor(unit),
                                         reason="该事项不属于本单位职责", proposed_unit=other.code)
            made = await special.decide_return(session, self.ctx, assignment_id, accept=True,
                                               actor=self.actor("city-bureau"))
            self.report.actions["return"] += 1
            for assignment in made:
                self._handle(assignment.id, other)
        return step

    def _answer(self, assignment_id: int, unit: UnitInfo) -> Step:
        async def step(session: AsyncSession) -> None:
            await wf.draft(session, self.ctx, assignment_id,
                           wf.Answer(demo_texts.answer(self.rng)), self.actor(unit))
            await wf.approve(session, self.ctx, assignment_id, self.actor(unit, Duty.LEADER))
            made = await wf.submit(session, self.ctx, assignment_id, self.actor(unit))
            self.report.actions["answer"] += 1
            if made.state == "submitted":
                self.at(self.after(self.clock.now(), 1), self._review(assignment_id, unit))
        return step

    def _review(self, assignment_id: int, unit: UnitInfo) -> Step:
        async def step(session: AsyncSession) -> None:
            assignment, case, handling = await load_assignment(session, assignment_id)
            reviewer = await wf.reviewer_of(session, case, handling)
            passed = assignment.review_failures > 0 or self.rng.random() >= self.rates.fail_review
            await wf.review(session, self.ctx, assignment_id, passed=passed,
                            actor=self.actor(reviewer.code), comment="" if passed else "答复过于简单")
            self.report.actions["pass" if passed else "redo"] += 1
            if not passed:
                self.at(self.after(self.clock.now(), self.rng.choice((1, 2, 4))),
                        self._answer(assignment_id, unit))
                return
            top = case
            if case.parent_case_id is not None:
                top = await session.get(Case, case.parent_case_id) or case
            if top.status == "answered":
                self.at(self.after(self.clock.now(), 1), self._publish(top.number, reviewer.code))
        return step

    def _publish(self, number: str, bureau_code: str) -> Step:
        async def step(session: AsyncSession) -> None:
            public = (await load_case(session, number, lock=False)).classification == "public"
            case = await wf.decide_publication(session, self.ctx, number, publish=public,
                                               actor=self.actor(bureau_code))
            self.report.actions["close"] += 1
            later = self.clock.now() + timedelta(days=self.rng.randint(1, 3))
            if self.rng.random() < self.rates.rating:
                session.add(Rating(case_id=case.id, score=demo_texts.score(self.rng),
                                   comment=None, created_at=later))
            if self.rng.random() < self.rates.callback:
                session.add(CallbackRating(case_id=case.id, score=demo_texts.score(self.rng),
                                           comment="回访：已解决" if self.rng.random() < .8 else None,
                                           recorded_by=self.actor("service-centre").name,
                                           created_at=later))
        return step
