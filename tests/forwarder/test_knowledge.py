"""咨询直办 (issue 13 item 2): a consultation is registered (R5.1) and closed on the call with
its answer and source; the knowledge base offers only entries in force; a repeat caller's
chase (催办) is recorded on the open item instead of opening a new one."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from forwarder import knowledge as kb
from forwarder.workflow_base import Actor, Context, WorkflowError
from registrar.models import Assignment, AssignmentState, CaseStatus, Classification, Deadline, Event
from tests.forwarder.conftest import Maker
from tests.forwarder.kit import CITY, URBAN, dispatched

AGENT = Actor("李秀英", "agent", "service-centre")
TODAY = date(2026, 11, 24)


async def _entry(session: AsyncSession, ctx: Context, title: str, *, until: date | None = None,
                 start: date = date(2026, 1, 1)) -> int:
    entry = await kb.add_entry(session, title=title, body=f"{title}：携带身份证到社保中心办理。",
                               category="人社", source="榕人社〔2026〕12号", valid_from=start,
                               valid_until=until, actor=CITY, now=ctx.clock.now())
    return entry.id


async def test_R5_1_consultation_is_registered_and_closed_on_the_call_with_its_source(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case("请问社保关系转移怎么办理？")
    await kb.answer_on_call(session, ctx, case.number, answer="携带身份证到社保中心办理。",
                            source="知识库：社保关系转移（榕人社〔2026〕12号）", actor=AGENT)
    assert (case.status, case.classification) == (CaseStatus.CLOSED, Classification.CONSULTATION)
    assert case.answer_text == "携带身份证到社保中心办理。" and case.closed_at == ctx.clock.now()
    event = (await session.execute(select(Event).where(
        Event.case_id == case.id, Event.action == "case_answer_on_call"))).scalar_one()
    assert event.data["source"].startswith("知识库：社保关系转移")
    queue = (await session.execute(select(Assignment).where(Assignment.case_id == case.id))).scalar_one()
    assert queue.state == AssignmentState.DONE  # the bureau has nothing left to dispatch
    clock = (await session.execute(select(Deadline).where(Deadline.assignment_id == queue.id))).scalar_one()
    assert clock.met_at == ctx.clock.now() and not clock.missed
    day = ctx.clock.now()
    assert await kb.consultations(session, day - timedelta(days=1), day + timedelta(days=1)) == 1


async def test_R5_1_only_an_agent_answers_on_the_call_and_only_a_new_item(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case("请问社保关系转移怎么办理？")
    with pytest.raises(WorkflowError, match="只有坐席"):
        await kb.answer_on_call(session, ctx, case.number, answer="x", source="y", actor=CITY)
    with pytest.raises(WorkflowError, match="注明依据"):
        await kb.answer_on_call(session, ctx, case.number, answer="携带身份证办理", source=" ",
                                actor=AGENT)
    other = await make.case()
    await dispatched(session, ctx, other.number)
    with pytest.raises(WorkflowError, match="不能"):
        await kb.answer_on_call(session, ctx, other.number, answer="a", source="b", actor=AGENT)


async def test_knowledge_search_offers_only_entries_in_force(
        session: AsyncSession, ctx: Context) -> None:
    await _entry(session, ctx, "社保关系转移")
    await _entry(session, ctx, "社保卡补办（旧规定）", until=date(2026, 6, 30))
    await _entry(session, ctx, "社保缴费基数（明年起）", start=date(2027, 1, 1))
    retired = await _entry(session, ctx, "社保转入材料（已废止）")
    await kb.retire_entry(session, retired, actor=CITY, now=ctx.clock.now())
    hits = await kb.search(session, "社保", today=TODAY)
    assert [h.title for h in hits] == ["社保关系转移"]
    assert hits[0].source == "榕人社〔2026〕12号" and hits[0].kind == "policy"
    with pytest.raises(WorkflowError, match="只有市信访局"):
        await kb.add_entry(session, title="t", body="b", category="人社", source="s",
                           valid_from=TODAY, valid_until=None, actor=URBAN, now=ctx.clock.now())
    with pytest.raises(WorkflowError, match="结束日期不能早于开始日期"):
        await kb.add_entry(session, title="t", body="b", category="人社", source="s",
                           valid_from=TODAY, valid_until=TODAY - timedelta(days=1), actor=CITY,
                           now=ctx.clock.now())


async def test_R8_5_a_repeat_caller_chases_the_open_item_instead_of_opening_a_new_one(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case()
    await dispatched(session, ctx, case.number)
    await kb.urge(session, ctx, case.number, note="市民来电询问进度，希望尽快处理", actor=AGENT)
    urged = (await session.execute(select(Event).where(
        Event.case_id == case.id, Event.action == "urged"))).scalar_one()
    assert urged.reason == "市民来电询问进度，希望尽快处理"
    closed = await make.case("请问社保关系转移怎么办理？")
    await kb.answer_on_call(session, ctx, closed.number, answer="a", source="b", actor=AGENT)
    with pytest.raises(WorkflowError, match="已办结"):
        await kb.urge(session, ctx, closed.number, note="", actor=AGENT)
