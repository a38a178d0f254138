"""Who is charged, by whatever route a failure was found (R10.3, R11.2b, R8.4c).

Article 10 charges missed work traced to unassigned responsibilities to the
unit's principal leader (主要领导), not to its leader in charge (分管领导); Article
11 attaches the same notice and warning to 逾期办理 whether a clock ran out or a
redone answer failed review again.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from forwarder import workflow as wf
from forwarder.workflow_base import Context
from registrar.models import Assignment, Case, RosterEntry, Unit
from tests.forwarder.conftest import Maker
from tests.forwarder.kit import CITY, URBAN, answer_and_submit, dispatched
from tests.forwarder.test_sweeper import at, events, sweep

URBAN_PRINCIPAL = "胡永平"  # config/organisation.toml: city-urban's 主要领导
URBAN_LEADER = "高静怡"  # its 分管领导


async def _relieve(session: AsyncSession, duties: tuple[str, ...], when: str) -> None:
    from sqlalchemy import select

    urban = (await session.execute(select(Unit).where(Unit.code == "city-urban"))).scalar_one()
    await session.execute(update(RosterEntry).where(
        RosterEntry.unit_id == urban.id, RosterEntry.duty.in_(duties),
        RosterEntry.valid_to.is_(None)).values(valid_to=at(when)))


async def test_R10_3_charges_principal_leader_not_leader_in_charge(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case()
    [lead] = await dispatched(session, ctx, case.number)
    await wf.read(session, ctx, lead.id, URBAN)
    await _relieve(session, ("handler",), "2026-11-30 10:00")
    await sweep(session, ctx, at("2026-12-09 00:00"))
    [warning] = await events(session, case.id, "efficiency_warning", rule="R11.2b")
    assert (warning.data["persons"], warning.data["duty"], warning.data["R10.3"]) == (
        [URBAN_PRINCIPAL], "principal", True)
    assert URBAN_LEADER not in warning.data["persons"]


async def test_R10_3_empty_roster_still_charges_the_principal_role(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case()
    [lead] = await dispatched(session, ctx, case.number)
    await wf.read(session, ctx, lead.id, URBAN)
    await _relieve(session, ("handler", "leader", "principal"), "2026-11-30 10:00")
    await sweep(session, ctx, at("2026-12-09 00:00"))
    [warning] = await events(session, case.id, "efficiency_warning", rule="R11.2b")
    assert (warning.data["unit"], warning.data["duty"], warning.data["persons"]) == (
        "city-urban", "principal", [])
    assert warning.data["vacant"] is True


async def _failed_twice(session: AsyncSession, ctx: Context, make: Maker) -> tuple[Case, Assignment]:
    """An answer that fails review, is redone and fails again: 逾期办理 (R8.4c)."""
    case = await make.case()
    [lead] = await dispatched(session, ctx, case.number)
    await answer_and_submit(session, ctx, lead.id, URBAN)
    await wf.review(session, ctx, lead.id, passed=False, actor=CITY, comment="未说明维修时间")
    await answer_and_submit(session, ctx, lead.id, URBAN, read=False)
    await wf.review(session, ctx, lead.id, passed=False, actor=CITY, comment="仍未说明")
    return case, lead


async def test_R11_2b_second_failed_review_notifies_and_warns_at_once(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case, lead = await _failed_twice(session, ctx, make)
    assert lead.overdue_handling
    [notice] = await events(session, case.id, "unit_notified", rule="R11.2b")
    [warning] = await events(session, case.id, "efficiency_warning", rule="R11.2b")
    assert notice.data["unit"] == warning.data["unit"] == "city-urban"
    assert set(warning.data["persons"]) == {"郑建华", "梁秀英"}


async def test_R11_2b_redo_clock_after_second_failure_is_charged_once(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case, _lead = await _failed_twice(session, ctx, make)
    report = await sweep(session, ctx, at("2026-12-10 00:00"))
    assert report.late_redo == 1 and report.efficiency_warnings == 0
    assert len(await events(session, case.id, "efficiency_warning", rule="R11.2b")) == 1


async def test_R11_2b_late_redo_of_an_uncharged_overdue_item_charges_it(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    """An item made 逾期办理 without a charge (an older version) is charged when its redo
    clock runs out: no route into 逾期办理 ends with nobody charged."""
    case = await make.case()
    [lead] = await dispatched(session, ctx, case.number)
    await answer_and_submit(session, ctx, lead.id, URBAN)
    await wf.review(session, ctx, lead.id, passed=False, actor=CITY, comment="未说明维修时间")
    lead.overdue_handling = True
    report = await sweep(session, ctx, at("2026-11-28 00:00"))
    assert (report.late_redo, report.unit_notices, report.efficiency_warnings) == (1, 1, 1)
