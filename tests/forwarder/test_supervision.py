"""Supervision figures and the yearly ranking come from the stored clocks and ratings."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from contract.clock import FixedClock
from forwarder import workflow as wf
from forwarder.ranking import ranking
from forwarder.supervision import unit_stats
from forwarder.workflow_base import Context
from registrar.models import Rating
from tests.conftest import TZ
from tests.forwarder.conftest import Maker
from tests.forwarder.kit import CITY, HOUSING, URBAN, answer_and_submit, dispatched

YEAR = (datetime(2026, 1, 1, tzinfo=TZ), datetime(2027, 1, 1, tzinfo=TZ))


async def _two_units(session: AsyncSession, ctx: Context, make: Maker) -> None:
    assert isinstance(ctx.clock, FixedClock)
    good = await make.case("五四路路灯不亮")
    [lead] = await dispatched(session, ctx, good.number, "city-urban")
    await answer_and_submit(session, ctx, lead.id, URBAN)
    await wf.review(session, ctx, lead.id, passed=True, actor=CITY)
    await wf.decide_publication(session, ctx, good.number, publish=True, actor=CITY)
    session.add(Rating(case_id=good.id, score=5, comment="很好", created_at=ctx.clock.now()))
    slow = await make.case("小区电梯经常停运")
    [late] = await dispatched(session, ctx, slow.number, "city-housing")
    ctx.clock.advance(timedelta(days=6))  # past the 2-working-day reading clock
    await answer_and_submit(session, ctx, late.id, HOUSING)
    await wf.review(session, ctx, late.id, passed=False, actor=CITY, comment="未答复具体时间")
    await session.flush()


async def test_R11_1_efficiency_office_sees_each_units_timeliness(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    await _two_units(session, ctx, make)
    stats = {s.unit_code: s for s in await unit_stats(session, *YEAR)}
    urban, housing = stats["city-urban"], stats["city-housing"]
    assert (urban.dispatched, urban.read_on_time, urban.answered_on_time, urban.passed_first_time) == (
        1, 1, 1, 1)
    assert (urban.ratings, urban.rating_avg) == (1, 5.0)
    assert (housing.read_on_time, housing.read_late, housing.passed_first_time) == (0, 1, 0)
    assert await unit_stats(session, *YEAR, district="鼓楼区") == []


async def test_R12_1_units_are_ranked_from_timeliness_care_and_ratings(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    await _two_units(session, ctx, make)
    ranked = (await ranking(session, *YEAR)).rows
    assert [r.stats.unit_code for r in ranked] == ["city-urban", "city-housing"]
    assert ranked[0].score > ranked[1].score
    assert (await ranking(session, *YEAR, min_items=2)).rows == []
