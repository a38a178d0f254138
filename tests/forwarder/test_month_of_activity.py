"""Articles 10 to 12 over a month of simulated activity (issue 15): the history
(``forwarder.demo_history``) moves ninety items through the real workflow and the sweeper, and
each rule is checked on what it left, as the cockpit and the bulletins show it."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from forwarder import bulletins, cockpit
from forwarder.cockpit_drill import window
from forwarder.demo_history import HistoryReport
from forwarder.ranking import rank
from forwarder.supervision import unit_stats
from registrar.db import create_engine, make_sessionmaker
from registrar.models import Assignment, Duty, Event, RosterEntry, Unit
from registrar.models_supervision import Finding, FindingKind
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


async def _events(db: AsyncSession, action: str) -> list[Event]:
    return list((await db.execute(select(Event).where(Event.action == action)
                                  .order_by(Event.at, Event.id))).scalars())


async def test_R10_1_every_answer_was_approved_by_the_units_named_leader(db: AsyncSession) -> None:
    rows = (await db.execute(select(Assignment.approved_by, Unit.id).join(
        Unit, Unit.id == Assignment.unit_id).where(Assignment.state == "passed"))).all()
    leaders = {(unit_id, name) for unit_id, name in await db.execute(
        select(RosterEntry.unit_id, RosterEntry.person_name).where(RosterEntry.duty == Duty.LEADER))}
    assert len(rows) > 20
    assert all((unit_id, approved_by) in leaders for approved_by, unit_id in rows)


async def test_R10_2_reads_after_the_roster_change_are_by_the_successor(db: AsyncSession) -> None:
    urban = (await db.execute(select(Unit.id).where(Unit.code == "city-urban"))).scalar_one()
    entries = list((await db.execute(select(RosterEntry).where(
        RosterEntry.unit_id == urban, RosterEntry.duty == Duty.HANDLER).order_by(RosterEntry.id))).scalars())
    successor = entries[-1]
    assert successor.person_name == "林晓东" and successor.reported_by
    left = next(e for e in entries if e.valid_to == successor.valid_from)
    reads = (await db.execute(select(Event.actor, Event.at).join(
        Assignment, Assignment.id == Event.assignment_id).where(
        Event.action == "read", Assignment.unit_id == urban))).all()
    after = {actor.split("@")[0] for actor, at in reads if at >= successor.valid_from}
    before = {actor.split("@")[0] for actor, at in reads if at < successor.valid_from}
    assert after == {"林晓东"} and before and "林晓东" not in before
    assert left.person_name != "林晓东"


async def test_R10_3_every_warning_names_the_people_on_duty(db: AsyncSession) -> None:
    warnings = await _events(db, "efficiency_warning")
    assert warnings
    # Every unit of the demo has handlers on duty: nobody is charged as the principal by default.
    assert all(w.data.get("persons") and not w.data.get("R10.3") for w in warnings)


async def test_R11_1_district_figures_add_up_to_the_city_figures(db: AsyncSession) -> None:
    city = await cockpit.unit_figures(db, FIRST, LAST)
    districts = {u.district for u in city if u.district}
    assert len(districts) > 2
    by_district = [u for d in districts for u in await cockpit.unit_figures(db, FIRST, LAST, district=d)]
    assert sorted(u.unit_code for u in by_district) == sorted(u.unit_code for u in city if u.district)
    assert sum(u["dispatched"] for u in by_district) == sum(u["dispatched"] for u in city if u.district)


async def test_R11_2a_each_late_read_is_a_notice_and_each_third_in_a_month_a_warning(
        db: AsyncSession) -> None:
    late = await _events(db, "late_read")
    notices = [e for e in await _events(db, "unit_notified") if e.data.get("rule") == "R11.2a"]
    assert late and len(notices) == len(late)
    warnings = [e for e in await _events(db, "efficiency_warning") if e.data.get("rule") == "R11.2a"]
    per_unit_month = Counter((e.data["unit"], e.data["due_at"][:7]) for e in late)
    assert len(warnings) == sum(n // 3 for n in per_unit_month.values())


async def test_R11_2b_each_late_item_is_one_charge_in_the_figures(db: AsyncSession) -> None:
    flagged = (await db.execute(select(Assignment.id).where(
        (Assignment.overdue_handling.is_(True)) | (Assignment.expired_unhandled.is_(True))))).scalars()
    charges = Counter((await db.execute(select(Finding.assignment_id).where(
        Finding.kind == FindingKind.R11_2B))).scalars())
    flagged_ids = set(flagged)
    assert flagged_ids and set(charges) == flagged_ids and set(charges.values()) == {1}
    figures = await cockpit.unit_figures(db, FIRST - (LAST - FIRST), LAST)
    assert sum(u["charges"] for u in figures) == sum(charges.values())


async def test_R11_3_second_warning_of_a_month_goes_to_the_leader_then_the_office(
        db: AsyncSession) -> None:
    to_leader = await _events(db, "escalated_to_leader")
    to_office = await _events(db, "escalated_to_efficiency_office")
    assert to_leader
    assert all(e.data["warnings_this_month"] == 2 and e.data["leaders"] for e in to_leader)
    assert all(e.data["warnings_this_month"] >= 3 for e in to_office)
    assert {(e.data["unit"], e.data["month"]) for e in to_office} <= {
        (e.data["unit"], e.data["month"]) for e in to_leader}


async def test_R12_1_the_months_commendations_are_the_top_units_without_marks(db: AsyncSession) -> None:
    month = (date(2026, 11, 1), date(2026, 11, 30))
    data = await bulletins.gather(db, "monthly", *month, scope="", now=END, zone=TZ)
    ranked = rank(await unit_stats(db, *window(*month, TZ))).rows
    clean = [r.stats.unit_code for r in ranked if r.stats.marks == 0]
    assert [r.stats.unit_code for r in data.commended] == clean[:bulletins.COMMENDED]
    assert data.commended and data.commended[0].score >= data.commended[-1].score
