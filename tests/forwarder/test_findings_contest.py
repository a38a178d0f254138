"""A unit contests a notice or warning within its window; the office upholds or withdraws it,
with history; a withdrawn finding leaves the figures and the ranking (issue 15.3, R11.2b, R11.1)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from forwarder import findings
from forwarder.ranking import raw_score
from forwarder.supervision import unit_stats
from forwarder.workflow_base import Actor, Context, WorkflowError
from registrar.models_supervision import Decision, Finding, FindingDecision, FindingStatus
from tests.forwarder.conftest import Maker
from tests.forwarder.kit import HOUSING, URBAN, URBAN_LEADER
from tests.forwarder.test_findings import CITY_OFFICE, GULOU_OFFICE, YEAR, _overdue
from tests.forwarder.test_sweeper import at, events, moved


async def _contest(session: AsyncSession, ctx: Context, finding: Finding, *, reason: str = "系统停机",
                   actor: Actor = URBAN) -> Finding:
    return await findings.contest(session, finding.id, reason=reason, actor=actor,
                                  at=ctx.clock.now(), due=ctx.due, days=ctx.contest_days)


async def _history(session: AsyncSession, finding: Finding) -> list[str]:
    return list((await session.execute(select(FindingDecision.decision).where(
        FindingDecision.finding_id == finding.id).order_by(FindingDecision.id))).scalars())


async def test_R11_2b_withdrawn_on_contest_leaves_the_figures_and_the_ranking(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    finding = await _overdue(session, ctx, make)
    before = {s.unit_code: s for s in await unit_stats(session, *YEAR)}["city-urban"]
    await _contest(session, ctx, finding, reason="当日全市停电，系统无法登录")
    assert finding.status == FindingStatus.CONTESTED
    waiting = {s.unit_code: s for s in await unit_stats(session, *YEAR)}["city-urban"]
    assert (waiting.charges, waiting.waived) == (1, 0)  # a contest alone changes no figure
    with pytest.raises(WorkflowError, match="请先维持或撤销"):
        await findings.decide(session, finding.id, Decision.WAIVE, reason="停电", actor=CITY_OFFICE,
                              at=ctx.clock.now())
    await findings.answer_contest(session, finding.id, Decision.WITHDRAW, reason="停电属实，撤销",
                                  actor=CITY_OFFICE, at=ctx.clock.now())
    after = {s.unit_code: s for s in await unit_stats(session, *YEAR)}["city-urban"]
    assert (finding.status, after.charges, after.waived) == (FindingStatus.WITHDRAWN, 0, 1)
    assert raw_score(after) > raw_score(before)
    assert await _history(session, finding) == ["contest", "withdraw"]
    [contested] = await events(session, finding.case_id or 0, "finding_contested")
    assert contested.reason == "当日全市停电，系统无法登录"


async def test_R11_2b_upheld_contest_confirms_and_cannot_be_contested_again(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    finding = await _overdue(session, ctx, make)
    await _contest(session, ctx, finding, actor=URBAN_LEADER)
    with pytest.raises(WorkflowError, match="不监督"):
        await findings.answer_contest(session, finding.id, Decision.UPHOLD, reason="理由不成立",
                                      actor=GULOU_OFFICE, at=ctx.clock.now())
    await findings.answer_contest(session, finding.id, Decision.UPHOLD, reason="理由不成立",
                                  actor=CITY_OFFICE, at=ctx.clock.now())
    assert finding.status == FindingStatus.CONFIRMED
    with pytest.raises(WorkflowError, match="已申诉过一次"):
        await _contest(session, ctx, finding)
    with pytest.raises(WorkflowError, match="没有待处理的申诉"):
        await findings.answer_contest(session, finding.id, Decision.WITHDRAW, reason="改判",
                                      actor=CITY_OFFICE, at=ctx.clock.now())
    assert await _history(session, finding) == ["contest", "uphold"]


async def test_R11_2b_only_the_charged_unit_contests_with_a_reason_within_the_window(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    finding = await _overdue(session, ctx, make)  # charged by the sweep of Wed 9 Dec 2026
    with pytest.raises(WorkflowError, match="理由"):
        await _contest(session, ctx, finding, reason="  ")
    with pytest.raises(WorkflowError, match="只有"):
        await _contest(session, ctx, finding, actor=HOUSING)
    with pytest.raises(WorkflowError, match="只有"):
        await _contest(session, ctx, finding, actor=CITY_OFFICE)
    # Five working days (Thu 10 – Wed 16 Dec): the window ends as Thursday 17 Dec begins.
    assert findings.contest_until(finding, ctx.due, 5) == at("2026-12-17 00:00")
    moved(ctx, at("2026-12-17 00:00"))
    with pytest.raises(WorkflowError, match="5 个工作日"):
        await _contest(session, ctx, finding)
    moved(ctx, at("2026-12-17 00:00") - timedelta(seconds=1))
    await _contest(session, ctx, finding)
    assert finding.status == FindingStatus.CONTESTED


async def test_R11_1_withdrawn_hand_notice_is_no_longer_counted(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case()
    notice = await findings.issue_notice(session, "city-urban", reason="推诿群众诉求",
                                         actor=CITY_OFFICE, at=ctx.clock.now(), case_number=case.number)
    year = (at("2026-01-01 00:00"), at("2027-01-01 00:00"))
    assert {s.unit_code: s.notices for s in await unit_stats(session, *year)}.get("city-urban", 1) == 1
    await _contest(session, ctx, notice, reason="已按时办结，有回执为证")
    await findings.answer_contest(session, notice.id, Decision.WITHDRAW, reason="回执属实",
                                  actor=CITY_OFFICE, at=ctx.clock.now())
    assert notice.status == FindingStatus.WITHDRAWN
    assert {s.unit_code: s.notices for s in await unit_stats(session, *year)}.get("city-urban", 0) == 0
