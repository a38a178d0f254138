"""Clocks hold at the moment of each action (R8.3d), and clocks whose duty went away are
closed as cancelled, never as met, and left out of the figures (R8.1, R11.1).
"""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from forwarder import workflow as wf
from forwarder import workflow_special as special
from forwarder.supervision import unit_stats
from forwarder.workflow_base import Context, WorkflowError
from registrar.models import Assignment, Case
from tests.conftest import TZ
from tests.forwarder.conftest import Maker
from tests.forwarder.kit import CITY, GULOU, URBAN, answer_and_submit, dispatched
from tests.forwarder.test_sweeper import at, clocks, moved, queue_of_case, sweep

YEAR = (datetime(2026, 1, 1, tzinfo=TZ), datetime(2027, 1, 1, tzinfo=TZ))


async def _district_asks_back(session: AsyncSession, ctx: Context,
                              make: Maker) -> tuple[Case, Assignment]:
    """A district bureau asks the city bureau to take an item back (R8.3c), on 24 Nov."""
    case = await make.case()
    [copy] = await dispatched(session, ctx, case.number, "gulou-bureau")
    await special.request_return(session, ctx, copy.id, reason="不属本区", proposed_unit="city-housing",
                                 actor=GULOU)
    return case, copy


async def test_R8_3d_city_bureau_cannot_accept_after_its_day_even_before_a_sweep(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    _case, copy = await _district_asks_back(session, ctx, make)
    moved(ctx, at("2026-11-26 00:00"))  # the R8.3d day is over; no sweeper has run
    with pytest.raises(WorkflowError, match="R8.3d"):
        await special.decide_return(session, ctx, copy.id, accept=True, actor=CITY)
    moved(ctx, at("2026-11-25 23:59"))
    await special.decide_return(session, ctx, copy.id, accept=True, actor=CITY)


async def test_R8_3d_refusing_late_is_what_silence_said_and_stays_possible(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case, copy = await _district_asks_back(session, ctx, make)
    moved(ctx, at("2026-11-27 10:00"))
    await special.decide_return(session, ctx, copy.id, accept=False, actor=CITY, comment="属本区")
    copy = await queue_of_case(session, case.id)
    assert copy.return_refused


async def test_R8_1_withdrawn_assignments_read_clock_is_cancelled_not_met(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case()
    [lead] = await dispatched(session, ctx, case.number)
    await special.request_return(session, ctx, lead.id, reason="不属本单位职责",
                                 proposed_unit="city-housing", actor=URBAN)
    await special.decide_return(session, ctx, lead.id, accept=True, actor=CITY)
    own = await clocks(session, lead.id)
    assert (own["read"].cancelled, own["answer"].cancelled) == (True, True)
    assert not own["read"].missed and own["read"].met_at is not None
    stats = {s.unit_code: s for s in await unit_stats(session, *YEAR)}
    assert (stats["city-urban"].read_on_time, stats["city-urban"].read_late) == (0, 0)
    assert (stats["city-urban"].answered_on_time, stats["city-urban"].answered_late) == (0, 0)


async def test_R8_6_released_co_handlers_clocks_are_cancelled(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case()
    lead, co = await dispatched(session, ctx, case.number, co_units=("city-housing",))
    await answer_and_submit(session, ctx, lead.id, URBAN)
    await wf.review(session, ctx, lead.id, passed=True, actor=CITY)
    own = await clocks(session, co.id)
    assert own["read"].cancelled and own["answer"].cancelled
    stats = {s.unit_code: s for s in await unit_stats(session, *YEAR)}
    assert (stats["city-housing"].read_on_time, stats["city-housing"].answered_on_time) == (0, 0)


async def test_R11_1_sweeper_closes_a_withdrawn_clock_as_cancelled(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    from forwarder.workflow_base import move_assignment

    case = await make.case()
    [lead] = await dispatched(session, ctx, case.number)
    move_assignment(session, case, lead, "withdraw", CITY, now=ctx.clock.now())
    report = await sweep(session, ctx, at("2026-12-10 00:00"))
    assert report.closed == 2
    assert all(c.cancelled for c in (await clocks(session, lead.id)).values())
    stats = {s.unit_code: s for s in await unit_stats(session, *YEAR)}
    assert (stats["city-urban"].read_on_time, stats["city-urban"].answered_on_time) == (0, 0)
