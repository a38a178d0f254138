"""Articles 3–7: screening, classification and dispatch, with deadlines on the 2026 calendar."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from forwarder import rules
from forwarder import workflow as wf
from forwarder.workflow_base import Actor, Context, WorkflowError
from registrar.models import AssignmentState, CaseStatus, Classification, Deadline, DeadlineKind
from tests.conftest import TZ
from tests.forwarder.conftest import Maker
from tests.forwarder.kit import (
    CITY,
    GULOU,
    URBAN,
    actions,
    deadlines,
    dispatched,
    lead_of,
    notices,
)


@pytest.mark.parametrize("reason", sorted(rules.NOT_ACCEPTED_REASONS))
async def test_R3_items_not_accepted_keep_the_record_and_tell_the_citizen_why(
        session: AsyncSession, ctx: Context, make: Maker, reason: str) -> None:
    """R3.1 R3.2 R3.3 R3.4 R3.5 R3.6 R3.7 R3.8 R3.9 each: coded reason, record kept, citizen told."""
    case = await make.case()
    await wf.not_accept(session, ctx, case.number, reason, CITY, note="screened")
    assert (case.status, case.screening_reason) == (CaseStatus.NOT_ACCEPTED, reason)
    [notice] = await notices(session, case.id, "not_accepted")
    assert rules.NOT_ACCEPTED_REASONS[reason] in notice.text
    assert (notice.channel, notice.address) == ("sms_modem", "+8613905910001")
    assert "case_not_accept" in await actions(session, case.id)


async def test_R3_8_emergency_not_accepted_tells_citizen_to_call_110_122(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case("家门口发生车祸有人受伤")
    await wf.not_accept(session, ctx, case.number, "R3.8", CITY)
    [notice] = await notices(session, case.id, "not_accepted")
    assert "110" in notice.text and "122" in notice.text and "120" in notice.text


async def test_R3_unknown_reason_and_second_screening_are_refused(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case()
    with pytest.raises(WorkflowError, match="请从列表中选择不予受理的理由"):
        await wf.not_accept(session, ctx, case.number, "R3.10", CITY)
    await wf.not_accept(session, ctx, case.number, "R3.5", CITY)
    with pytest.raises(WorkflowError):
        await wf.accept(session, ctx, case.number, CITY)


async def test_screening_is_the_city_bureaus_alone(session: AsyncSession, ctx: Context,
                                                   make: Maker) -> None:
    case = await make.case()
    with pytest.raises(WorkflowError, match="只有福州市信访局可以"):
        await wf.not_accept(session, ctx, case.number, "R3.5", URBAN)


async def test_R4_3_every_accepted_item_is_classified_before_dispatch(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case()
    with pytest.raises(WorkflowError, match="须先受理并确定办理方式"):
        await wf.dispatch(session, ctx, case.number, "city-urban", CITY)
    await wf.accept(session, ctx, case.number, CITY)
    assert case.classification == Classification.PUBLIC


async def test_R7_1_an_item_not_internal_is_public(session: AsyncSession, ctx: Context,
                                                   make: Maker) -> None:
    case = await make.case()
    await wf.accept(session, ctx, case.number, CITY)
    assert (case.classification, case.internal_reason) == (Classification.PUBLIC, None)


async def test_R6_1_misconduct_goes_to_the_discipline_commission_internally(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case("某科长吃拿卡要")
    await wf.accept(session, ctx, case.number, CITY, internal_reason="R6.1")
    with pytest.raises(WorkflowError, match="纪委监委"):
        await wf.dispatch(session, ctx, case.number, "city-urban", CITY)
    await wf.dispatch(session, ctx, case.number, "city-discipline", CITY)
    assert case.classification == Classification.INTERNAL


async def test_R6_2_efficiency_problems_go_to_the_efficiency_office(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case("办事窗口推诿拖延")
    await wf.accept(session, ctx, case.number, CITY, internal_reason="R6.2")
    with pytest.raises(WorkflowError, match="效能办"):
        await wf.dispatch(session, ctx, case.number, "city-discipline", CITY)
    await wf.dispatch(session, ctx, case.number, "city-efficiency", CITY)


async def test_R6_3_bureau_may_make_any_item_internal(session: AsyncSession, ctx: Context,
                                                      make: Maker) -> None:
    case = await make.case()
    await wf.accept(session, ctx, case.number, CITY, internal_reason="R6.3")
    await wf.dispatch(session, ctx, case.number, "city-housing", CITY)
    assert (case.classification, case.internal_reason) == (Classification.INTERNAL, "R6.3")


async def test_R6_4_citizen_who_chose_not_public_makes_the_item_internal(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case(public=False)
    await wf.accept(session, ctx, case.number, CITY)
    assert (case.classification, case.internal_reason) == (Classification.INTERNAL, "R6.4")


async def test_R6_5_citizen_is_told_which_unit_handles_it_internally(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case("某科长吃拿卡要")
    await wf.accept(session, ctx, case.number, CITY, internal_reason="R6.1")
    await wf.dispatch(session, ctx, case.number, "city-discipline", CITY)
    [notice] = await notices(session, case.id, "internal")
    assert "您所反映的问题已转由福州市纪委监委内部办理" in notice.text
    assert (notice.channel, notice.address) == ("sms_modem", "+8613905910001")


async def test_R6_5_web_item_is_told_on_the_contact_it_left(session: AsyncSession, ctx: Context,
                                                            make: Maker) -> None:
    from contract.envelope import Channel

    case = await make.case(channel=Channel.WEB, public=False)
    await wf.accept(session, ctx, case.number, CITY)
    await wf.dispatch(session, ctx, case.number, "city-housing", CITY)
    [notice] = await notices(session, case.id, "internal")
    assert (notice.channel, notice.address) == ("sms_modem", "+8613905910001")


async def test_R4_1_and_R7_2_city_unit_dispatch_within_one_working_day(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    # Friday 13 Feb 2026: Saturday 14 Feb is a make-up working day before Spring Festival.
    case = await make.case(at=datetime(2026, 2, 13, 10, 0, tzinfo=TZ))
    queue_clock = (await session.execute(
        select(Deadline).where(Deadline.case_id == case.id))).scalar_one()
    assert (queue_clock.kind, queue_clock.rule) == (DeadlineKind.DISPATCH, "R7.2")
    assert queue_clock.due_at == datetime(2026, 2, 15, 0, 0, tzinfo=TZ)
    [lead] = await dispatched(session, ctx, case.number, "city-urban")
    assert lead.state == AssignmentState.DISPATCHED
    assert queue_clock.met_at == ctx.clock.now()
    assert (await lead_of(session, case.number, "city-urban")).id == lead.id


async def test_R7_3_district_bureau_then_district_unit_one_working_day_each(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case()
    [copy] = await dispatched(session, ctx, case.number, "gulou-bureau")
    clocks = await deadlines(session, copy.id)
    assert clocks["dispatch"].rule == "R7.3"
    assert clocks["dispatch"].due_at == datetime(2026, 11, 26, 0, 0, tzinfo=TZ)
    with pytest.raises(WorkflowError, match="不属于"):
        await wf.district_dispatch(session, ctx, case.number, "taijiang-urban", GULOU)
    other = Actor("台江", "district_bureau", "taijiang-bureau")
    with pytest.raises(WorkflowError):
        await wf.district_dispatch(session, ctx, case.number, "taijiang-urban", other)
    [lead] = await wf.district_dispatch(session, ctx, case.number, "gulou-urban", GULOU)
    assert copy.state == AssignmentState.DONE and clocks["dispatch"].met_at is not None
    assert lead.parent_id == copy.id


async def test_R4_1_city_bureau_does_not_dispatch_to_another_districts_units_directly(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case()
    await wf.accept(session, ctx, case.number, CITY)
    with pytest.raises(WorkflowError, match="不是市信访局直接交办的单位"):
        await wf.dispatch(session, ctx, case.number, "gulou-urban", CITY)


async def test_R8_1_and_R8_2a_unit_clocks_cross_national_day(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    # Wednesday 30 Sep 2026; 1–7 Oct off, Saturday 10 Oct a make-up working day.
    case = await make.case(at=datetime(2026, 9, 30, 10, 0, tzinfo=TZ))
    [lead] = await dispatched(session, ctx, case.number)
    clocks = await deadlines(session, lead.id)
    assert (clocks["read"].rule, clocks["read"].due_at) == ("R8.1", datetime(2026, 10, 10, tzinfo=TZ))
    assert (clocks["answer"].rule, clocks["answer"].due_at) == (
        "R8.2a", datetime(2026, 10, 21, tzinfo=TZ))
    assert clocks["read"].warn_at == datetime(2026, 10, 9, tzinfo=TZ)


async def test_deadlines_into_unconfirmed_2027_are_provisional(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case(at=datetime(2026, 12, 28, 10, 0, tzinfo=TZ))
    [lead] = await dispatched(session, ctx, case.number)
    clocks = await deadlines(session, lead.id)
    assert clocks["answer"].provisional and not clocks["read"].provisional
