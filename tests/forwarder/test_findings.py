"""The efficiency office judges charges (R11.2b: 因人为原因; a lead unit's refusal) and
issues notices by hand; every decision has history and shows in figures and ranking."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from forwarder import findings
from forwarder import workflow as wf
from forwarder import workflow_special as special
from forwarder.ranking import raw_score
from forwarder.supervision import unit_stats
from forwarder.workflow_base import Actor, Context, WorkflowError
from registrar.models_supervision import Decision, Finding, FindingDecision, FindingStatus
from tests.conftest import TZ
from tests.forwarder.conftest import Maker
from tests.forwarder.kit import CITY, URBAN, answer_and_submit, dispatched
from tests.forwarder.test_sweeper import at, events, sweep

CITY_OFFICE = Actor("胡立新", "efficiency", "city-efficiency")
GULOU_OFFICE = Actor("区效能", "efficiency", "gulou-efficiency")
YEAR = (datetime(2026, 1, 1, tzinfo=TZ), datetime(2027, 1, 1, tzinfo=TZ))


async def _overdue(session: AsyncSession, ctx: Context, make: Maker) -> Finding:
    case = await make.case()
    [lead] = await dispatched(session, ctx, case.number)
    await wf.read(session, ctx, lead.id, URBAN)
    await sweep(session, ctx, at("2026-12-09 00:00"))
    [finding] = (await session.execute(select(Finding).where(Finding.case_id == case.id))).scalars()
    return finding


async def test_R11_2b_charge_is_provisional_until_the_office_judges_it(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    finding = await _overdue(session, ctx, make)
    assert (finding.status, set(finding.persons)) == (FindingStatus.CHARGED, {"郑建华", "梁秀英"})
    with pytest.raises(WorkflowError, match="理由"):
        await findings.decide(session, finding.id, Decision.CONFIRM, reason=" ", actor=CITY_OFFICE,
                              at=ctx.clock.now())
    with pytest.raises(WorkflowError, match="只有效能办"):
        await findings.decide(session, finding.id, Decision.WAIVE, reason="停电", actor=URBAN,
                              at=ctx.clock.now())
    with pytest.raises(WorkflowError, match="不监督"):
        await findings.decide(session, finding.id, Decision.WAIVE, reason="停电", actor=GULOU_OFFICE,
                              at=ctx.clock.now())


async def test_R11_2b_waived_charge_leaves_the_figures_and_the_ranking_with_history(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    finding = await _overdue(session, ctx, make)
    before = {s.unit_code: s for s in await unit_stats(session, *YEAR)}["city-urban"]
    await findings.decide(session, finding.id, Decision.CONFIRM, reason="经办人未及时处理",
                          actor=CITY_OFFICE, at=ctx.clock.now())
    await findings.decide(session, finding.id, Decision.WAIVE, reason="系统故障停机两天，非人为原因",
                          actor=CITY_OFFICE, at=ctx.clock.now())
    after = {s.unit_code: s for s in await unit_stats(session, *YEAR)}["city-urban"]
    assert (before.charges, before.waived, after.charges, after.waived) == (1, 0, 0, 1)
    assert raw_score(after) > raw_score(before)
    history = (await session.execute(select(FindingDecision.decision).where(
        FindingDecision.finding_id == finding.id).order_by(FindingDecision.id))).scalars().all()
    assert history == ["confirm", "waive"]
    assert [e.data["decision"] for e in await events(session, finding.case_id or 0,
                                                     "finding_decided")] == ["confirm", "waive"]


async def test_R11_2b_lead_refusal_with_good_reason_charges_the_late_co_handler(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    case = await make.case()
    lead, co = await dispatched(session, ctx, case.number, co_units=("city-housing",))
    await special.request_return(session, ctx, lead.id, reason="不属本单位职责",
                                 proposed_unit="city-transport", actor=URBAN)
    await special.decide_return(session, ctx, lead.id, accept=False, actor=CITY, comment="属城管职责")
    await answer_and_submit(session, ctx, lead.id, URBAN)
    await sweep(session, ctx, at("2026-12-09 00:00"))
    [finding] = (await session.execute(select(Finding).where(Finding.case_id == case.id))).scalars()
    housing_id = co.unit_id
    assert finding.late_unit_id == housing_id and finding.unit_id == lead.unit_id
    await findings.decide(session, finding.id, Decision.LEAD_JUSTIFIED, reason="退回理由充分",
                          actor=CITY_OFFICE, at=ctx.clock.now())
    assert (finding.unit_id, finding.late_unit_id, finding.status) == (
        housing_id, None, FindingStatus.CHARGED)


async def test_R11_1_hand_notice_by_a_district_office_counts_against_its_unit(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    with pytest.raises(WorkflowError, match="不监督"):
        await findings.issue_notice(session, "city-urban", reason="推诿", actor=GULOU_OFFICE,
                                    at=ctx.clock.now())
    case = await make.case()
    await findings.issue_notice(session, "gulou-urban", reason="多次推诿群众诉求",
                                actor=GULOU_OFFICE, at=ctx.clock.now(), case_number=case.number)
    [notice] = await events(session, case.id, "unit_notified", unit="gulou-urban")
    assert notice.data["by_hand"] is True
    [(finding, unit)] = await findings.findings_of(session, findings.Scope(district="鼓楼区"))
    assert (unit.code, finding.status) == ("gulou-urban", FindingStatus.CONFIRMED)
