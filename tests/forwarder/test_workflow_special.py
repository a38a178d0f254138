"""The regulation's less common paths: returns (R8.3), repeats (R8.5), co-handling (R8.6),
splitting (R8.7), escalation (R8.8), and the roster that reads new items (R4.2, R10.1)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from contract.clock import FixedClock
from forwarder import workflow as wf
from forwarder import workflow_special as sp
from forwarder.similarity import repeat_score
from forwarder.workflow_base import SYSTEM, Actor, Context, NotFound, WorkflowError
from registrar.deadlines import open_deadlines
from registrar.models import (
    Assignment,
    AssignmentRole,
    AssignmentState,
    Case,
    CaseStatus,
    DeadlineKind,
    Event,
    Unit,
)
from registrar.roster import roster_at
from tests.conftest import TZ
from tests.forwarder.conftest import Maker
from tests.forwarder.kit import (
    CITY,
    GULOU,
    GULOU_MARKET,
    GULOU_URBAN,
    HOUSING,
    URBAN,
    actions,
    answer_and_submit,
    deadlines,
    dispatched,
    lead_of,
    notices,
)

S = AssignmentState
MOVED_HANDLER = Actor("经办人", "unit_handler", "city-transport")
THURSDAY = datetime(2026, 11, 26, 10, 0, tzinfo=TZ)


def fixed(ctx: Context) -> FixedClock:
    assert isinstance(ctx.clock, FixedClock)
    return ctx.clock


async def in_district(session: AsyncSession, ctx: Context, number: str) -> Assignment:
    """Dispatched by the city bureau to 鼓楼区信访局; returns the district bureau's copy."""
    [copy] = await dispatched(session, ctx, number, "gulou-bureau")
    return copy


async def last_event(session: AsyncSession, case_id: int, action: str) -> Event:
    row = (await session.execute(select(Event).where(Event.case_id == case_id, Event.action == action)
                                 .order_by(Event.id.desc()))).scalars().first()
    assert row is not None, action
    return row


# --- R8.3a / R8.3b: a unit returns an item outside its remit --------------------------------


async def test_R8_3a_unit_returns_within_two_working_days_with_reason_and_proposed_unit(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case()
    [lead] = await dispatched(session, ctx, case.number)
    with pytest.raises(WorkflowError, match="理由"):
        await sp.request_return(session, ctx, lead.id, reason="  ", proposed_unit="city-housing",
                                actor=URBAN)
    with pytest.raises(NotFound):
        await sp.request_return(session, ctx, lead.id, reason="不属本单位", proposed_unit="no-such-unit",
                                actor=URBAN)
    with pytest.raises(WorkflowError, match="只有福州市城市管理委员会可以"):
        await sp.request_return(session, ctx, lead.id, reason="不属本单位", proposed_unit="city-housing",
                                actor=HOUSING)
    assert lead.state == S.DISPATCHED
    await sp.request_return(session, ctx, lead.id, reason="属住建部门职责", proposed_unit="city-housing",
                            actor=URBAN)
    assert (lead.state, lead.return_reason, lead.proposed_unit) == (
        S.RETURN_REQUESTED, "属住建部门职责", "city-housing")
    event = await last_event(session, case.id, "request_return")
    assert (event.from_state, event.data) == (S.DISPATCHED, {"proposed_unit": "city-housing"})


async def test_R8_3a_return_window_closes_after_two_working_days_across_a_weekend(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    early, late = await make.case(at=THURSDAY), await make.case("台江区路面塌陷", at=THURSDAY)
    [in_time] = await dispatched(session, ctx, early.number)
    [too_late] = await dispatched(session, ctx, late.number)
    # Thursday + 2 working days = Friday and Monday: the window ends Tuesday 00:00.
    assert in_time.return_until == datetime(2026, 12, 1, tzinfo=TZ)
    fixed(ctx).moment = datetime(2026, 11, 30, 23, 59, tzinfo=TZ)
    await sp.request_return(session, ctx, in_time.id, reason="不属本单位", proposed_unit="city-housing",
                            actor=URBAN)
    assert in_time.state == S.RETURN_REQUESTED
    fixed(ctx).moment = datetime(2026, 12, 1, 0, 0, tzinfo=TZ)
    with pytest.raises(WorkflowError, match=r"R8\.3a: 申请退回的期限已于"):
        await sp.request_return(session, ctx, too_late.id, reason="不属本单位",
                                proposed_unit="city-housing", actor=URBAN)
    assert too_late.state == S.DISPATCHED


async def test_R8_3a_bureau_slow_decision_on_a_return_is_not_charged_to_the_unit(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case(at=THURSDAY)
    [lead] = await dispatched(session, ctx, case.number)
    first = await deadlines(session, lead.id)
    answer_due, read_due = first["answer"].due_at, first["read"].due_at
    await sp.request_return(session, ctx, lead.id, reason="不属本单位", proposed_unit="city-housing",
                            actor=URBAN)
    decision = (await deadlines(session, lead.id))["return_decision"]
    assert (decision.rule, decision.working_days, decision.met_at) == ("R8.3a", 1, None)
    # The bureau takes three weeks; the unit's clocks wait with it.
    fixed(ctx).advance(timedelta(days=21))
    assert await open_deadlines(session, lead.id) == [decision]
    await sp.decide_return(session, ctx, lead.id, accept=False, actor=CITY, comment="属城管职责")
    now = ctx.clock.now()
    resumed = await deadlines(session, lead.id)
    assert decision.met_at == now
    assert resumed["read"].started_at == resumed["answer"].started_at == now
    assert resumed["read"].due_at - read_due >= timedelta(days=21)
    assert resumed["answer"].due_at - answer_due >= timedelta(days=21)
    assert resumed["answer"].due_at > now + timedelta(days=7)  # days it had left, not fewer
    event = await last_event(session, case.id, "clocks_resumed")
    assert [c["kind"] for c in event.data["clocks"]] == ["read", "answer"]


@pytest.mark.parametrize("to", [None, "city-transport"])
async def test_R8_3b_accepted_return_withdraws_and_redispatches_with_fresh_clocks(
        session: AsyncSession, ctx: Context, make: Maker, to: str | None) -> None:
    case = await make.case()
    [old] = await dispatched(session, ctx, case.number)
    await sp.request_return(session, ctx, old.id, reason="属住建部门职责", proposed_unit="city-housing",
                            actor=URBAN)
    fixed(ctx).advance(timedelta(hours=2))
    before = await actions(session, case.id)
    for wrong in (URBAN, GULOU):
        with pytest.raises(WorkflowError, match="只有福州市信访局可以"):
            await sp.decide_return(session, ctx, old.id, accept=True, actor=wrong)
    with pytest.raises(WorkflowError, match="不能承办此事项"):  # city → district unit
        await sp.decide_return(session, ctx, old.id, accept=True, actor=CITY, redispatch_to="gulou-market")
    assert old.state == S.RETURN_REQUESTED and await actions(session, case.id) == before
    [new] = await sp.decide_return(session, ctx, old.id, accept=True, actor=CITY, redispatch_to=to)
    now = ctx.clock.now()
    assert old.state == S.WITHDRAWN
    # The unit's clocks were paused when it asked (R8.3a); the bureau's stopped at its decision.
    clocks = await deadlines(session, old.id)
    assert clocks["return_decision"].met_at == now
    assert all(d.met_at == now - timedelta(hours=2) and d.cancelled
               for k, d in clocks.items() if k != "return_decision")
    unit = await session.get(Unit, new.unit_id)
    assert unit is not None and unit.code == (to or "city-housing")
    assert (new.role, new.state, case.status) == (AssignmentRole.LEAD, S.DISPATCHED, CaseStatus.DISPATCHED)
    fresh = await deadlines(session, new.id)
    assert {k: d.started_at for k, d in fresh.items()} == {"read": now, "answer": now}
    handler = HOUSING if to is None else MOVED_HANDLER
    await answer_and_submit(session, ctx, new.id, handler)
    await wf.review(session, ctx, new.id, passed=True, actor=CITY)
    assert case.status == CaseStatus.ANSWERED


@pytest.mark.parametrize("has_read", [False, True])
async def test_R8_3b_refused_return_keeps_the_item_and_forbids_another_return(
        session: AsyncSession, ctx: Context, make: Maker, has_read: bool) -> None:
    case = await make.case()
    [lead] = await dispatched(session, ctx, case.number)
    if has_read:
        await wf.read(session, ctx, lead.id, URBAN)
    await sp.request_return(session, ctx, lead.id, reason="不属本单位", proposed_unit="city-housing",
                            actor=URBAN)
    [same] = await sp.decide_return(session, ctx, lead.id, accept=False, actor=CITY,
                                    comment="路灯属城管职责")
    assert same is lead and lead.return_refused
    assert lead.state == (S.READ if has_read else S.DISPATCHED)
    with pytest.raises(WorkflowError, match=r"R8\.3b: 信访局已不同意退回"):
        await sp.request_return(session, ctx, lead.id, reason="再次退回", proposed_unit="city-housing",
                                actor=URBAN)
    await answer_and_submit(session, ctx, lead.id, URBAN, read=not has_read)
    assert lead.state == S.SUBMITTED


async def test_R8_3b_district_units_return_is_decided_by_its_district_bureau(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case()
    await in_district(session, ctx, case.number)
    [lead] = await wf.district_dispatch(session, ctx, case.number, "gulou-urban", GULOU)
    await sp.request_return(session, ctx, lead.id, reason="属市场监管", proposed_unit="gulou-market",
                            actor=GULOU_URBAN)
    with pytest.raises(WorkflowError, match="只有鼓楼区信访局可以"):
        await sp.decide_return(session, ctx, lead.id, accept=True, actor=CITY)
    with pytest.raises(WorkflowError, match="不属于鼓楼区信访局"):
        await sp.decide_return(session, ctx, lead.id, accept=True, actor=GULOU,
                               redispatch_to="city-housing")
    assert lead.state == S.RETURN_REQUESTED  # the refused decision wrote nothing
    [new] = await sp.decide_return(session, ctx, lead.id, accept=True, actor=GULOU)
    assert (lead.state, new.dispatched_by, new.role) == (S.WITHDRAWN, "gulou-bureau", AssignmentRole.LEAD)
    await answer_and_submit(session, ctx, new.id, GULOU_MARKET)
    await wf.review(session, ctx, new.id, passed=True, actor=GULOU)
    assert case.status == CaseStatus.ANSWERED


# --- R8.3c / R8.3d: a district bureau asks the city bureau to take an item back -----------


async def test_R8_3c_district_asks_the_city_within_one_working_day_and_the_city_accepts(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case()
    copy = await in_district(session, ctx, case.number)
    await sp.request_return(session, ctx, copy.id, reason="不在本区", proposed_unit="city-housing",
                            actor=GULOU)
    clocks = await deadlines(session, copy.id)
    decision = clocks[DeadlineKind.RETURN_DECISION]
    assert (decision.rule, decision.due_at, decision.met_at) == (
        "R8.3d", datetime(2026, 11, 26, tzinfo=TZ), None)
    with pytest.raises(WorkflowError, match="正等待市信访局决定"):
        await wf.district_dispatch(session, ctx, case.number, "gulou-urban", GULOU)
    with pytest.raises(WorkflowError, match="只有福州市信访局可以"):
        await sp.decide_return(session, ctx, copy.id, accept=True, actor=GULOU)
    [new] = await sp.decide_return(session, ctx, copy.id, accept=True, actor=CITY)
    assert copy.state == S.WITHDRAWN and decision.met_at == ctx.clock.now()
    assert (await lead_of(session, case.number, "city-housing")).id == new.id
    assert (new.state, case.status) == (S.DISPATCHED, CaseStatus.DISPATCHED)


async def test_R8_3c_district_may_not_ask_after_one_working_day(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case()
    copy = await in_district(session, ctx, case.number)
    assert copy.return_until == datetime(2026, 11, 26, tzinfo=TZ)
    fixed(ctx).moment = datetime(2026, 11, 26, 9, 0, tzinfo=TZ)
    with pytest.raises(WorkflowError, match=r"R8\.3c: 申请退回的期限已于"):
        await sp.request_return(session, ctx, copy.id, reason="不在本区", proposed_unit="city-housing",
                                actor=GULOU)
    assert copy.state == S.QUEUED


async def _refused_in_district(session: AsyncSession, ctx: Context, make: Maker,
                               explicit: bool) -> tuple[Case, Assignment]:
    case = await make.case()
    copy = await in_district(session, ctx, case.number)
    await sp.request_return(session, ctx, copy.id, reason="不在本区", proposed_unit="city-housing",
                            actor=GULOU)
    fixed(ctx).advance(timedelta(hours=3))
    if explicit:
        await sp.decide_return(session, ctx, copy.id, accept=False, actor=CITY, comment="属鼓楼区")
    else:
        await sp.refuse_return(session, ctx, copy, case, SYSTEM, reason="R8.3d")
    return case, copy


@pytest.mark.parametrize("explicit", [True, False], ids=["city_bureau", "system"])
async def test_R8_3d_refused_district_return_keeps_the_item_in_the_district(
        session: AsyncSession, ctx: Context, make: Maker, explicit: bool) -> None:
    case, copy = await _refused_in_district(session, ctx, make, explicit)
    now = ctx.clock.now()
    assert (copy.state, copy.return_refused) == (S.QUEUED, True)
    [clock] = await open_deadlines(session, copy.id)
    assert (clock.kind, clock.rule, clock.started_at) == (DeadlineKind.DISPATCH, "R7.3", now)
    event = await last_event(session, case.id, "return_refused_queued")
    assert event.actor == ("sweeper" if not explicit else f"{CITY.name}@city-bureau")
    with pytest.raises(WorkflowError, match=r"R8\.3b"):
        await sp.request_return(session, ctx, copy.id, reason="再退", proposed_unit="city-housing",
                                actor=GULOU)
    with pytest.raises(WorkflowError, match="不属于鼓楼区信访局"):
        await wf.district_dispatch(session, ctx, case.number, "city-housing", GULOU)
    [lead] = await wf.district_dispatch(session, ctx, case.number, "gulou-urban", GULOU)
    assert lead.state == S.DISPATCHED and copy.state == S.DONE
    assert await open_deadlines(session, copy.id) == []


# --- R8.5: repeats ------------------------------------------------------------------------

LAMP = "鼓楼区五四路路灯不亮已经一周"
LAMP_AGAIN = "五四路路灯还是不亮，已经一周多了"


async def closed_case(session: AsyncSession, ctx: Context, case: Case) -> None:
    """Dispatch, answer, review and publish: the item was answered lawfully and in time."""
    [lead] = await dispatched(session, ctx, case.number)
    await answer_and_submit(session, ctx, lead.id, URBAN)
    await wf.review(session, ctx, lead.id, passed=True, actor=CITY)
    await wf.decide_publication(session, ctx, case.number, publish=True, actor=CITY)
    assert case.status == CaseStatus.CLOSED


async def test_R8_5a_repeat_is_found_and_still_answered_patiently(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    first = await make.case(LAMP)
    await closed_case(session, ctx, first)
    repeat = await make.case(LAMP_AGAIN)
    unrelated = await make.case("小区门口垃圾三天没人清运")
    stranger = await make.case(LAMP, sender="+8613800000002")
    [found] = await sp.find_repeats(session, repeat.number)
    assert (found.number, found.answered) == (first.number, True)
    assert found.similarity == round(repeat_score(LAMP_AGAIN, LAMP), 3) >= sp.REPEAT_THRESHOLD
    assert await sp.find_repeats(session, unrelated.number) == []
    assert await sp.find_repeats(session, stranger.number) == []
    await closed_case(session, ctx, repeat)
    assert len(await notices(session, repeat.id, "answer")) == 1


async def test_R8_5b_dispatch_stops_only_after_more_than_three_answers(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    earlier = [await make.case(LAMP) for _ in range(4)]
    for case in earlier[:3]:
        await closed_case(session, ctx, case)
    again = await make.case(LAMP_AGAIN)
    with pytest.raises(WorkflowError, match=r"R8\.5b: 同一诉求已答复 3 次"):
        await sp.stop_dispatch(session, ctx, again.number, CITY)
    assert again.status == CaseStatus.REGISTERED
    await closed_case(session, ctx, earlier[3])
    for wrong in (URBAN, GULOU):
        with pytest.raises(WorkflowError, match="只有福州市信访局可以"):
            await sp.stop_dispatch(session, ctx, again.number, wrong)
    await sp.stop_dispatch(session, ctx, again.number, CITY)
    queue = (await session.execute(select(Assignment).where(Assignment.case_id == again.id))).scalar_one()
    assert (again.status, queue.state) == (CaseStatus.STOPPED, S.DONE)
    assert (await deadlines(session, queue.id))["dispatch"].met_at == ctx.clock.now()
    [notice] = await notices(session, again.id, "stopped")
    assert again.number in notice.text and notice.address == "+8613905910001"
    with pytest.raises(WorkflowError):
        await wf.accept(session, ctx, again.number, CITY)


# --- R8.6: lead and co-handling units -------------------------------------------------------


async def test_R8_6_the_lead_unit_cannot_co_handle_its_own_item(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case()
    await wf.accept(session, ctx, case.number, CITY)
    with pytest.raises(WorkflowError, match="不能协办"):
        await wf.dispatch(session, ctx, case.number, "city-urban", CITY, co_units=("city-urban",))


async def test_R8_6_co_handling_unit_reads_and_answers_on_its_own_clocks(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case("小区旁工地占道施工且噪音扰民")
    lead, co = await dispatched(session, ctx, case.number, "city-urban", co_units=("city-housing",))
    fixed(ctx).advance(timedelta(hours=1))
    await wf.read(session, ctx, co.id, HOUSING)
    co_clocks, lead_clocks = await deadlines(session, co.id), await deadlines(session, lead.id)
    assert co_clocks["read"].met_at == ctx.clock.now() and lead_clocks["read"].met_at is None
    assert co_clocks["answer"].due_at == lead_clocks["answer"].due_at
    await answer_and_submit(session, ctx, co.id, HOUSING, read=False)
    assert co.state == S.CONTRIBUTED and co_clocks["answer"].met_at is not None
    assert lead_clocks["answer"].met_at is None and "review" not in co_clocks


async def test_R8_6_returned_co_handler_is_replaced_by_another_co_handler(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case("小区旁工地占道施工且噪音扰民")
    lead, co = await dispatched(session, ctx, case.number, "city-urban", co_units=("city-housing",))
    await sp.request_return(session, ctx, co.id, reason="不属住建", proposed_unit="city-transport",
                            actor=HOUSING)
    [new] = await sp.decide_return(session, ctx, co.id, accept=True, actor=CITY)
    assert (co.state, new.role, new.state) == (S.WITHDRAWN, AssignmentRole.CO, S.DISPATCHED)
    assert lead.state == S.DISPATCHED and case.status == CaseStatus.DISPATCHED
    await answer_and_submit(session, ctx, new.id, MOVED_HANDLER, "已疏导交通。")
    await answer_and_submit(session, ctx, lead.id, URBAN, "已清理占道。")
    await wf.review(session, ctx, lead.id, passed=True, actor=CITY)
    assert case.answer_text == "已清理占道。\n（协办）已疏导交通。"


# --- R8.7: several issues, several units ----------------------------------------------------


async def test_R8_7_split_needs_two_parts_and_the_city_bureau(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case()
    await wf.accept(session, ctx, case.number, CITY)
    with pytest.raises(WorkflowError, match="拆分至少需要两项"):
        await sp.split(session, ctx, case.number, ["路灯不亮", "   "], CITY)
    with pytest.raises(WorkflowError, match="只有福州市信访局可以"):
        await sp.split(session, ctx, case.number, ["路灯不亮", "垃圾未清"], URBAN)
    assert case.status == CaseStatus.ACCEPTED


async def test_R8_7_parts_are_dispatched_separately_and_answered_together(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case("五四路路灯不亮；鼓楼区菜市场占道经营")
    await wf.accept(session, ctx, case.number, CITY)
    one, two = await sp.split(session, ctx, case.number, ["五四路路灯不亮", "鼓楼区菜市场占道经营"], CITY)
    assert case.status == CaseStatus.SPLIT
    assert [(p.number, p.status) for p in (one, two)] == [
        (f"{case.number}-1", CaseStatus.ACCEPTED), (f"{case.number}-2", CaseStatus.ACCEPTED)]
    [city_lead] = await wf.dispatch(session, ctx, one.number, "city-urban", CITY)
    await wf.dispatch(session, ctx, two.number, "gulou-bureau", CITY)
    [district_lead] = await wf.district_dispatch(session, ctx, two.number, "gulou-market", GULOU)
    await answer_and_submit(session, ctx, city_lead.id, URBAN, "路灯已修复。")
    await wf.review(session, ctx, city_lead.id, passed=True, actor=CITY)
    assert (one.status, case.status) == (CaseStatus.ANSWERED, CaseStatus.SPLIT)
    with pytest.raises(WorkflowError, match=r"R8\.7"):
        await wf.decide_publication(session, ctx, one.number, publish=True, actor=CITY)
    with pytest.raises(WorkflowError, match=r"R9\.1"):
        await wf.decide_publication(session, ctx, case.number, publish=True, actor=CITY)
    await answer_and_submit(session, ctx, district_lead.id, GULOU_MARKET, "已取缔占道摊点。")
    await wf.review(session, ctx, district_lead.id, passed=True, actor=GULOU)
    assert case.status == CaseStatus.ANSWERED
    assert case.answer_text == "1. 路灯已修复。\n2. 已取缔占道摊点。"
    await wf.decide_publication(session, ctx, case.number, publish=True, actor=CITY)
    [notice] = await notices(session, case.id, "answer")
    assert "路灯已修复" in notice.text and "已取缔占道摊点" in notice.text
    assert "福州市城市管理委员会" in notice.text and "鼓楼区市场监督管理局" in notice.text
    assert [await notices(session, p.id, "answer") for p in (one, two)] == [[], []]
    assert (case.status, one.status, two.status) == (CaseStatus.CLOSED,) * 3


async def test_R8_7_split_item_is_answered_and_closed_when_a_part_is_screened_out(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case("五四路路灯不亮；邻居家吵架")
    await wf.accept(session, ctx, case.number, CITY)
    one, two = await sp.split(session, ctx, case.number, ["五四路路灯不亮", "邻居家吵架"], CITY)
    [lead] = await wf.dispatch(session, ctx, one.number, "city-urban", CITY)
    await answer_and_submit(session, ctx, lead.id, URBAN, "路灯已修复。")
    await wf.review(session, ctx, lead.id, passed=True, actor=CITY)
    assert case.status == CaseStatus.SPLIT  # the second part is still to be screened
    await wf.not_accept(session, ctx, two.number, "R3.3", CITY)
    assert case.status == CaseStatus.ANSWERED
    assert case.answer_text == "1. 路灯已修复。"
    await wf.decide_publication(session, ctx, case.number, publish=True, actor=CITY)
    assert (case.status, one.status, two.status) == (
        CaseStatus.CLOSED, CaseStatus.CLOSED, CaseStatus.NOT_ACCEPTED)
    answered = await last_event(session, case.id, "case_answered")
    assert answered.data == {"parts": [one.number], "screened_out": [two.number]}


async def test_R8_7_split_item_closes_when_every_part_is_screened_out(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case("反映法院判决不公；反映外省某县道路破损")
    await wf.accept(session, ctx, case.number, CITY)
    one, two = await sp.split(session, ctx, case.number, ["反映法院判决不公", "外省某县道路破损"], CITY)
    await wf.not_accept(session, ctx, one.number, "R3.6", CITY)
    assert case.status == CaseStatus.SPLIT  # one part is still to be screened
    await wf.not_accept(session, ctx, two.number, "R3.5", CITY)
    assert (case.status, one.status, two.status) == (
        CaseStatus.CLOSED, CaseStatus.NOT_ACCEPTED, CaseStatus.NOT_ACCEPTED)
    closed = await last_event(session, case.id, "case_parts_screened_out")
    assert closed.data == {"screened_out": sorted([one.number, two.number])}


# --- R8.8: escalation to the government office ----------------------------------------------


async def test_R8_8_escalation_goes_to_the_government_office_copied_to_the_leaders(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case("小区旁工地占道施工且噪音扰民")
    await dispatched(session, ctx, case.number, "city-urban", co_units=("city-housing",))
    with pytest.raises(WorkflowError, match="只有信访局"):
        await sp.escalate(session, ctx, case.number, reason="涉及多部门", actor=URBAN)
    with pytest.raises(WorkflowError, match="请写明"):
        await sp.escalate(session, ctx, case.number, reason="  ", actor=CITY)
    coordination = await sp.escalate(session, ctx, case.number, reason="涉及多部门职责交叉", actor=CITY)
    office = await session.get(Unit, coordination.unit_id)
    assert office is not None and office.code == "city-gov-office"
    assert (coordination.role, coordination.state) == (AssignmentRole.COORDINATION, S.DISPATCHED)
    event = await last_event(session, case.id, "escalated")
    assert event.reason == "涉及多部门职责交叉"
    assert event.data == {"office": "city-gov-office", "office_leaders": ["何永强"],
                          "copied_to": [{"unit": "city-urban", "leaders": ["高静怡"]},
                                        {"unit": "city-housing", "leaders": ["谢志强"]}]}


async def test_R8_8_escalation_copies_only_units_still_handling_the_item(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case()
    [old] = await dispatched(session, ctx, case.number)
    await sp.request_return(session, ctx, old.id, reason="不属本单位", proposed_unit="city-housing",
                            actor=URBAN)
    await sp.decide_return(session, ctx, old.id, accept=True, actor=CITY)
    await sp.escalate(session, ctx, case.number, reason="需政府协调", actor=CITY)
    event = await last_event(session, case.id, "escalated")
    assert event.data["copied_to"] == [{"unit": "city-housing", "leaders": ["谢志强"]}]
    assert "escalated" in await actions(session, case.id)


# --- R4.2, R10.1: the roster -----------------------------------------------------------------


async def test_R4_2_R10_1_every_bureau_and_unit_has_a_leader_and_handlers_on_duty(
        session: AsyncSession, ctx: Context) -> None:
    units = (await session.execute(select(Unit).where(Unit.active.is_(True)))).scalars().all()
    kinds = {u.kind for u in units}
    assert {"city_bureau", "district_bureau", "city_unit", "district_unit"} <= kinds
    for unit in units:
        roster = await roster_at(session, unit.code, ctx.clock.now())
        leaders = [e.person_name for e in roster if e.duty == "leader"]
        handlers = [e.person_name for e in roster if e.duty == "handler"]
        assert len(leaders) == 1 and all(leaders), unit.code
        assert handlers and all(handlers), unit.code


async def test_R8_8_the_government_office_gives_its_opinion_and_its_part_is_done(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case("跨区域的河道污染，多个部门推诿")
    await dispatched(session, ctx, case.number)
    office = await sp.escalate(session, ctx, case.number, reason="涉及多部门职责", actor=CITY)
    with pytest.raises(WorkflowError, match="只有"):
        await sp.coordinate(session, ctx, office.id, opinion="由城管牵头", actor=CITY)
    gov = Actor("办公厅", "unit_handler", "city-gov-office")
    with pytest.raises(WorkflowError, match="协调意见"):
        await sp.coordinate(session, ctx, office.id, opinion=" ", actor=gov)
    await sp.coordinate(session, ctx, office.id, opinion="由市城管委牵头，住建局配合，两周内完成", actor=gov)
    assert office.state == S.DONE and office.answer_text.startswith("由市城管委牵头")


async def test_R8_8_a_district_bureau_escalates_only_its_own_items(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case()
    await dispatched(session, ctx, case.number)  # a city unit's item, never in 鼓楼's hands
    with pytest.raises(WorkflowError, match="本区经手"):
        await sp.escalate(session, ctx, case.number, reason="需协调", actor=GULOU)
