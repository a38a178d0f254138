"""Articles 8 and 9: reading, answering, approval, review, publication."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from contract.clock import FixedClock
from contract.envelope import Channel
from forwarder import workflow as wf
from forwarder.workflow_base import Context, WorkflowError
from registrar.models import AssignmentRole, AssignmentState, CaseStatus
from tests.conftest import TZ
from tests.forwarder.conftest import Maker
from tests.forwarder.kit import (
    CITY,
    GULOU,
    GULOU_URBAN,
    HOUSING,
    URBAN,
    URBAN_LEADER,
    actions,
    answer_and_submit,
    deadlines,
    dispatched,
    notices,
)


async def test_R8_1_reading_stops_the_read_clock(session: AsyncSession, ctx: Context,
                                                 make: Maker) -> None:
    case = await make.case()
    [lead] = await dispatched(session, ctx, case.number)
    assert isinstance(ctx.clock, FixedClock)
    ctx.clock.advance(timedelta(hours=3))
    await wf.read(session, ctx, lead.id, URBAN)
    clocks = await deadlines(session, lead.id)
    assert clocks["read"].met_at == ctx.clock.now() and clocks["answer"].met_at is None
    with pytest.raises(WorkflowError, match="只有福州市城市管理委员会可以"):
        await wf.read(session, ctx, lead.id, HOUSING)


async def test_R8_2a_answer_stops_the_answer_clock_and_starts_review(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case()
    [lead] = await dispatched(session, ctx, case.number)
    await answer_and_submit(session, ctx, lead.id, URBAN)
    clocks = await deadlines(session, lead.id)
    assert clocks["answer"].met_at is not None
    assert (clocks["review"].rule, clocks["review"].due_at) == (
        "R8.4a", datetime(2026, 11, 27, tzinfo=TZ))
    assert lead.state == AssignmentState.SUBMITTED


async def test_R8_2b_complex_answer_states_done_problems_and_measures(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case()
    [lead] = await dispatched(session, ctx, case.number)
    await wf.read(session, ctx, lead.id, URBAN)
    with pytest.raises(WorkflowError, match="R8.2b"):
        await wf.draft(session, ctx, lead.id, wf.Answer("已处理", complex=True, done="已勘查"), URBAN)
    await wf.draft(session, ctx, lead.id, wf.Answer(
        "答复如下", complex=True, done="已勘查现场", problems="线路老化", measures="下月更换线路"), URBAN)
    assert (lead.answer_done, lead.answer_problems, lead.answer_measures) == (
        "已勘查现场", "线路老化", "下月更换线路")


async def test_R8_2c_leader_approves_before_the_answer_leaves_the_unit(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case()
    [lead] = await dispatched(session, ctx, case.number)
    await wf.read(session, ctx, lead.id, URBAN)
    await wf.draft(session, ctx, lead.id, wf.Answer("已修复"), URBAN)
    with pytest.raises(WorkflowError, match="R8.2c"):
        await wf.submit(session, ctx, lead.id, URBAN)
    with pytest.raises(WorkflowError, match="R8.2c: 只有单位分管领导"):
        await wf.approve(session, ctx, lead.id, URBAN)
    await wf.approve(session, ctx, lead.id, URBAN_LEADER)
    assert lead.approved_by == URBAN_LEADER.name
    await wf.submit(session, ctx, lead.id, URBAN)
    assert lead.state == AssignmentState.SUBMITTED


async def test_R8_4a_same_level_bureau_reviews_within_two_working_days(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case()
    await dispatched(session, ctx, case.number, "gulou-bureau")
    [lead] = await wf.district_dispatch(session, ctx, case.number, "gulou-urban", GULOU)
    await answer_and_submit(session, ctx, lead.id, GULOU_URBAN)
    with pytest.raises(WorkflowError, match="只有鼓楼区信访局可以"):
        await wf.review(session, ctx, lead.id, passed=True, actor=CITY)
    await wf.review(session, ctx, lead.id, passed=True, actor=GULOU)
    assert lead.state == AssignmentState.PASSED and case.status == CaseStatus.ANSWERED


async def test_R8_4b_failed_answer_is_redone_within_three_working_days(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case()
    [lead] = await dispatched(session, ctx, case.number)
    await answer_and_submit(session, ctx, lead.id, URBAN)
    with pytest.raises(WorkflowError, match="请写明"):
        await wf.review(session, ctx, lead.id, passed=False, actor=CITY)
    await wf.review(session, ctx, lead.id, passed=False, actor=CITY, comment="未说明维修时间")
    clocks = await deadlines(session, lead.id)
    assert (clocks["redo"].rule, clocks["redo"].due_at) == ("R8.4b", datetime(2026, 11, 28, tzinfo=TZ))
    assert lead.state == AssignmentState.REDO and not lead.overdue_handling
    await answer_and_submit(session, ctx, lead.id, URBAN, "已于11月25日修复。", read=False)
    assert clocks["redo"].met_at is not None


async def test_R8_4c_failing_again_makes_the_item_overdue_handling(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case()
    [lead] = await dispatched(session, ctx, case.number)
    await answer_and_submit(session, ctx, lead.id, URBAN)
    await wf.review(session, ctx, lead.id, passed=False, actor=CITY, comment="答非所问")
    await answer_and_submit(session, ctx, lead.id, URBAN, "再答", read=False)
    await wf.review(session, ctx, lead.id, passed=False, actor=CITY, comment="仍未解决")
    assert lead.overdue_handling and lead.review_failures == 2
    assert "overdue_handling" in await actions(session, case.id)
    # The work goes on: lateness is a fact, not a dead end.
    await answer_and_submit(session, ctx, lead.id, URBAN, "第三次答复", read=False)
    await wf.review(session, ctx, lead.id, passed=True, actor=CITY)
    assert case.status == CaseStatus.ANSWERED


async def test_R8_4d_reserved_district_item_is_reviewed_by_the_city_bureau(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case()
    await wf.accept(session, ctx, case.number, CITY, reserved=True)
    await wf.dispatch(session, ctx, case.number, "gulou-bureau", CITY)
    [lead] = await wf.district_dispatch(session, ctx, case.number, "gulou-urban", GULOU)
    await answer_and_submit(session, ctx, lead.id, GULOU_URBAN)
    with pytest.raises(WorkflowError, match="只有福州市信访局可以"):
        await wf.review(session, ctx, lead.id, passed=True, actor=GULOU)
    await wf.review(session, ctx, lead.id, passed=True, actor=CITY)
    assert case.status == CaseStatus.ANSWERED


async def test_R9_1_nothing_reaches_the_citizen_before_review_passes(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case()
    [lead] = await dispatched(session, ctx, case.number)
    await answer_and_submit(session, ctx, lead.id, URBAN)
    with pytest.raises(WorkflowError, match="R9.1"):
        await wf.decide_publication(session, ctx, case.number, publish=True, actor=CITY)
    assert await notices(session, case.id, "answer") == []
    await wf.review(session, ctx, lead.id, passed=True, actor=CITY)
    assert await notices(session, case.id, "answer") == []
    await wf.decide_publication(session, ctx, case.number, publish=True, actor=CITY)
    assert len(await notices(session, case.id, "answer")) == 1


async def test_R9_3_public_result_is_published_masked_and_sent_on_the_original_channel(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case(channel=Channel.SMS_TWILIO)
    [lead] = await dispatched(session, ctx, case.number)
    await answer_and_submit(session, ctx, lead.id, URBAN, "已联系诉求人13905910001，路灯已修复。")
    await wf.review(session, ctx, lead.id, passed=True, actor=CITY)
    with pytest.raises(WorkflowError, match="R9.3"):
        await wf.decide_publication(session, ctx, case.number, publish=False, actor=CITY)
    await wf.decide_publication(session, ctx, case.number, publish=True, actor=CITY)
    assert case.status == CaseStatus.CLOSED and case.published_at == ctx.clock.now()
    assert case.published_text == "已联系诉求人139****0001，路灯已修复。"
    [notice] = await notices(session, case.id, "answer")
    assert (notice.channel, notice.address) == ("sms_twilio", "+8613905910001")
    assert "福州市城市管理委员会" in notice.text and "路灯已修复" in notice.text


async def test_R9_2a_internal_result_goes_only_to_the_citizen(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case(public=False)
    [lead] = await dispatched(session, ctx, case.number)
    await answer_and_submit(session, ctx, lead.id, URBAN)
    await wf.review(session, ctx, lead.id, passed=True, actor=CITY)
    with pytest.raises(WorkflowError, match="R9.2a"):
        await wf.decide_publication(session, ctx, case.number, publish=True, actor=CITY)
    await wf.decide_publication(session, ctx, case.number, publish=False, actor=CITY)
    assert case.published_at is None and case.publication == "original_only"
    assert len(await notices(session, case.id, "answer")) == 1


async def test_R9_2b_unit_proposes_not_publishing_and_the_bureau_agrees(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case()
    [lead] = await dispatched(session, ctx, case.number)
    await answer_and_submit(session, ctx, lead.id, URBAN, "涉及第三方隐私", propose_private=True)
    await wf.review(session, ctx, lead.id, passed=True, actor=CITY)
    await wf.decide_publication(session, ctx, case.number, publish=False, actor=CITY)
    assert case.published_at is None and case.status == CaseStatus.CLOSED
    assert len(await notices(session, case.id, "answer")) == 1


async def test_R8_6_lead_and_co_handling_units_each_with_their_own_clock(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case("小区旁工地占道施工且噪音扰民")
    lead, co = await dispatched(session, ctx, case.number, "city-urban", co_units=("city-housing",))
    assert (lead.role, co.role) == (AssignmentRole.LEAD, AssignmentRole.CO)
    assert set(await deadlines(session, co.id)) == {"read", "answer"}
    await answer_and_submit(session, ctx, co.id, HOUSING, "已责令工地整改围挡。")
    assert co.state == AssignmentState.CONTRIBUTED and case.status == CaseStatus.DISPATCHED
    await answer_and_submit(session, ctx, lead.id, URBAN, "已清理占道。")
    await wf.review(session, ctx, lead.id, passed=True, actor=CITY)
    assert case.answer_text == "已清理占道。\n（协办）已责令工地整改围挡。"


async def test_R8_6_co_handler_that_gave_nothing_is_released_when_the_lead_answer_passes(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case("工地占道施工且噪音扰民")
    lead, co = await dispatched(session, ctx, case.number, "city-urban", co_units=("city-housing",))
    await answer_and_submit(session, ctx, lead.id, URBAN, "已清理占道。")
    await wf.review(session, ctx, lead.id, passed=True, actor=CITY)
    assert co.state == AssignmentState.WITHDRAWN
    assert all(d.met_at is not None for d in (await deadlines(session, co.id)).values())
    assert case.answer_text == "已清理占道。"


async def test_R2_2_items_are_forwarded_with_deadlines_and_results_published(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    """R2.2 end to end: classified, forwarded with clocks, answered, published on the web."""
    case = await make.case()
    [lead] = await dispatched(session, ctx, case.number)
    assert set(await deadlines(session, lead.id)) == {"read", "answer"}
    await answer_and_submit(session, ctx, lead.id, URBAN)
    await wf.review(session, ctx, lead.id, passed=True, actor=CITY)
    await wf.decide_publication(session, ctx, case.number, publish=True, actor=CITY)
    assert case.published_at is not None and case.publication == "publish"


async def test_R9_2_results_that_are_not_published_still_reach_the_citizen(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case(public=False)
    [lead] = await dispatched(session, ctx, case.number)
    await answer_and_submit(session, ctx, lead.id, URBAN)
    await wf.review(session, ctx, lead.id, passed=True, actor=CITY)
    await wf.decide_publication(session, ctx, case.number, publish=False, actor=CITY)
    [notice] = await notices(session, case.id, "answer")
    assert case.published_at is None and notice.channel == "sms_modem"
