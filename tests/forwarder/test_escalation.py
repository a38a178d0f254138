"""R11.3: repeated failures go up step by step to the unit's leaders and the efficiency office."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from forwarder.workflow_base import Context
from registrar.models import Event
from tests.forwarder.conftest import Maker
from tests.forwarder.kit import dispatched
from tests.forwarder.test_sweeper import at, sweep


async def _actions(session: AsyncSession, action: str) -> list[Event]:
    return list((await session.execute(select(Event).where(Event.action == action)
                                       .order_by(Event.id))).scalars())


async def test_R11_3_one_warning_stays_with_the_person_responsible(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case()
    await dispatched(session, ctx, case.number, "city-housing")
    await sweep(session, ctx, at("2026-12-09 00:00"))  # the answer clock ran out, never read
    assert len(await _actions(session, "efficiency_warning")) == 1
    assert await _actions(session, "escalated_to_leader") == []


async def test_R11_3_repeated_warnings_escalate_to_leader_then_efficiency_office(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    for text in ("小区电梯停运", "楼道灯坏了", "物业乱收费"):
        case = await make.case(text)
        await dispatched(session, ctx, case.number, "city-housing")
    await sweep(session, ctx, at("2026-12-09 00:00"))
    warnings = await _actions(session, "efficiency_warning")
    assert len(warnings) >= 3
    [leader] = await _actions(session, "escalated_to_leader")
    assert leader.data["rule"] == "R11.3" and leader.data["unit"] == "city-housing"
    assert leader.data["leaders"]  # the unit's leader in charge, named from the roster
    office = await _actions(session, "escalated_to_efficiency_office")
    assert office and office[0].data["office"] == "city-efficiency"
    assert len(office) == len(warnings) - 2


async def test_R11_3_counts_only_the_unit_s_own_warnings_of_the_month(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    for text, unit in (("小区电梯停运", "city-housing"), ("井盖缺失", "city-urban"),
                       ("物业乱收费", "city-housing")):
        case = await make.case(text)
        await dispatched(session, ctx, case.number, unit)
    await sweep(session, ctx, at("2026-12-09 00:00"))
    assert len(await _actions(session, "efficiency_warning")) == 3
    [leader] = await _actions(session, "escalated_to_leader")  # the second of city-housing's two
    assert (leader.data["unit"], leader.data["warnings_this_month"]) == ("city-housing", 2)
    assert await _actions(session, "escalated_to_efficiency_office") == []
