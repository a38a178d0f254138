"""The efficiency office's decisions on charges (R11.2b) and its own notices (R11.1).

R11.2b charges only failures caused by people (因人为原因), and for a joint item
only a lead unit that refused it without good reason; both are judgements. The
rules charge at once (``forwarder.charges``), so that nothing waits on a person
to be recorded, and each charge is a ``Finding`` the office then confirms or
waives with a reason, or, for a joint item, judges the lead unit's refusal. A
waived finding leaves the figures and the ranking (``forwarder.supervision``);
every decision is kept (``FindingDecision``) and logged on the case.

A city efficiency office decides on every unit; a district's only on units of
its district (Article 11).

The charged unit may contest a finding once, with a reason, within
``Context.contest_days`` working days of it (local policy, settings
``[supervision]``). The contest is a ``FindingDecision`` by the unit; the office
answers it with another, upholding (the finding stands, confirmed) or
withdrawing it (it leaves the figures, the ranking and the reports, as a waived
one does). While a contest waits, only that answer may be given.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from config.organisation import UnitKind
from forwarder.workflow_base import Actor, WorkflowError, add_event, unit_by_code
from registrar.deadlines import DuePolicy
from registrar.models import Case, Role, Unit
from registrar.models_supervision import Decision, Finding, FindingDecision, FindingKind, FindingStatus

#: What each decision makes of a finding: its new status (None: unchanged).
_OUTCOME: dict[Decision, FindingStatus | None] = {
    Decision.CONFIRM: FindingStatus.CONFIRMED,
    Decision.WAIVE: FindingStatus.WAIVED,
    Decision.LEAD_UNJUSTIFIED: FindingStatus.CONFIRMED,
    Decision.LEAD_JUSTIFIED: None,
    Decision.UPHOLD: FindingStatus.CONFIRMED,
    Decision.WITHDRAW: FindingStatus.WITHDRAWN,
}
#: The office's judgements of R11.2b (not answers to a contest).
JUDGEMENTS = (Decision.CONFIRM, Decision.WAIVE, Decision.LEAD_UNJUSTIFIED, Decision.LEAD_JUSTIFIED)
#: The judgements open on each kind: a call-back referral (R12) is confirmed or waived; a
#: hand notice was the office's own decision already.
JUDGING: dict[str, tuple[Decision, ...]] = {
    FindingKind.R11_2B: JUDGEMENTS, FindingKind.CALLBACK: (Decision.CONFIRM, Decision.WAIVE)}
RULE_OF: dict[str, str] = {FindingKind.R11_2B: "R11.2b", FindingKind.CALLBACK: "R12"}
#: The office's answers to a unit's contest.
ANSWERS = (Decision.UPHOLD, Decision.WITHDRAW)
#: Findings that stand against the unit, and so may be contested.
CONTESTABLE = (FindingStatus.CHARGED, FindingStatus.CONFIRMED)
UNIT_ROLES = (Role.UNIT_HANDLER, Role.UNIT_LEADER)


def record_charge(session: AsyncSession, *, case: Case, assignment_id: int, charged: Unit,
                  late: Unit, persons: list[str], at: datetime) -> Finding:
    """The rules' R11.2b charge, provisional until the office judges it."""
    finding = Finding(kind=FindingKind.R11_2B, case_id=case.id, assignment_id=assignment_id,
                      unit_id=charged.id, late_unit_id=late.id if late.id != charged.id else None,
                      status=FindingStatus.CHARGED, persons=persons, created_at=at, decided_at=None,
                      reason="R11.2b: 逾期办理或过期未处理")
    session.add(finding)
    return finding


async def _office(session: AsyncSession, actor: Actor, unit: Unit) -> Unit:
    """The actor's efficiency office, if it supervises ``unit`` (city: all; district: its own)."""
    if actor.role != "efficiency" or not actor.unit_code:
        raise WorkflowError("R11.2b: 只有效能办可以作出认定", code="forbidden")
    office = await unit_by_code(session, actor.unit_code)
    if office.kind != UnitKind.EFFICIENCY or (office.district and office.district != unit.district):
        raise WorkflowError(f"{office.name}不监督{unit.name}", code="forbidden")
    return office


def _history(session: AsyncSession, finding: Finding, decision: Decision, *, reason: str,
             actor: Actor, office: Unit, at: datetime, data: dict[str, Any]) -> FindingDecision:
    row = FindingDecision(finding_id=finding.id, decision=decision, reason=reason,
                          decided_by=f"{actor.name}@{actor.unit_code}", office_unit_id=office.id,
                          at=at, data=data)
    session.add(row)
    return row


async def decide(session: AsyncSession, finding_id: int, decision: Decision, *, reason: str,
                 actor: Actor, at: datetime) -> Finding:
    """Confirm or waive a charge, or judge a lead unit's refusal (R11.2b), with a reason.

    A later decision may overturn an earlier one; both stay in the history.
    """
    if not reason.strip():
        raise WorkflowError("R11.2b: 请写明认定理由（是否因人为原因）", code="invalid")
    finding, charged = await _locked(session, finding_id)
    if decision not in JUDGING.get(finding.kind, ()):
        raise WorkflowError("这不是对此项认定可作的决定", code="invalid")
    office = await _office(session, actor, charged)
    if finding.status == FindingStatus.CONTESTED:
        raise WorkflowError("单位已对此项认定提出申诉：请先维持或撤销")
    if finding.status == FindingStatus.WITHDRAWN:
        raise WorkflowError("此项认定已因单位申诉而撤销")
    data: dict[str, Any] = {"status_before": finding.status, "unit_before": charged.code}
    if decision in (Decision.LEAD_JUSTIFIED, Decision.LEAD_UNJUSTIFIED):
        if finding.late_unit_id is None:
            raise WorkflowError("被认定的单位不是联办事项的主办单位", code="invalid")
        if decision == Decision.LEAD_JUSTIFIED:
            # The refusal had good reason: the unit whose clock ran out answers for it.
            finding.unit_id, finding.late_unit_id = finding.late_unit_id, None
            late = await session.get(Unit, finding.unit_id)
            assert late is not None
            data["unit_after"] = late.code
    outcome = _OUTCOME[decision]
    if outcome is not None:
        finding.status = outcome
    finding.decided_at = at
    _history(session, finding, decision, reason=reason.strip(), actor=actor, office=office, at=at,
             data=data)
    if finding.case_id is not None:
        case = await session.get(Case, finding.case_id)
        assert case is not None
        add_event(session, case, actor, "finding_decided", now=at, reason=reason.strip(),
                  data={"finding_id": finding.id, "decision": decision, "status": finding.status,
                        "rule": RULE_OF.get(finding.kind, finding.kind), **data})
    await session.flush()
    return finding


async def _locked(session: AsyncSession, finding_id: int) -> tuple[Finding, Unit]:
    finding = (await session.execute(select(Finding).where(Finding.id == finding_id)
                                     .with_for_update())).scalar_one_or_none()
    if finding is None:
        raise WorkflowError("没有这项认定", code="not_found")
    unit = await session.get(Unit, finding.unit_id)
    assert unit is not None
    return finding, unit


def contest_until(finding: Finding, due: DuePolicy, days: int) -> datetime:
    """The end (exclusive) of the unit's window to contest ``finding``, in working days."""
    return due.due(finding.created_at, days).at


def _case_event(session: AsyncSession, case: Case | None, actor: Actor, action: str, at: datetime,
                reason: str, data: dict[str, Any]) -> None:
    if case is not None:
        add_event(session, case, actor, action, now=at, reason=reason, data=data)


async def contest(session: AsyncSession, finding_id: int, *, reason: str, actor: Actor,
                  at: datetime, due: DuePolicy, days: int) -> Finding:
    """The charged unit contests a notice or warning, once, within ``days`` working days."""
    if not reason.strip():
        raise WorkflowError("请写明申诉理由", code="invalid")
    finding, unit = await _locked(session, finding_id)
    if actor.role not in UNIT_ROLES or actor.unit_code != unit.code:
        raise WorkflowError(f"只有{unit.name}本单位可以申诉", code="forbidden")
    if finding.status not in CONTESTABLE:
        raise WorkflowError("此项认定当前不能申诉")
    earlier = (await session.execute(select(FindingDecision.id).where(
        FindingDecision.finding_id == finding.id, FindingDecision.decision == Decision.CONTEST)
        .limit(1))).first()
    if earlier is not None:
        raise WorkflowError("此项认定已申诉过一次，不能再次申诉")
    until = contest_until(finding, due, days)
    if at >= until:
        raise WorkflowError(f"申诉期限（{days} 个工作日）已于 {until:%Y-%m-%d %H:%M} 届满")
    data: dict[str, Any] = {"status_before": finding.status, "unit": unit.code,
                            "contest_until": until.isoformat()}
    finding.status = FindingStatus.CONTESTED
    session.add(FindingDecision(finding_id=finding.id, decision=Decision.CONTEST, reason=reason.strip(),
                                decided_by=f"{actor.name}@{actor.unit_code}", office_unit_id=None,
                                at=at, data=data))
    case = await session.get(Case, finding.case_id) if finding.case_id is not None else None
    _case_event(session, case, actor, "finding_contested", at, reason.strip(),
                {"finding_id": finding.id, "rule": finding.kind, **data})
    await session.flush()
    return finding


async def answer_contest(session: AsyncSession, finding_id: int, decision: Decision, *, reason: str,
                         actor: Actor, at: datetime) -> Finding:
    """The office upholds (the finding stands, confirmed) or withdraws a contested finding."""
    if not reason.strip():
        raise WorkflowError("请写明对申诉的处理理由", code="invalid")
    if decision not in ANSWERS:
        raise WorkflowError("这不是对申诉可作的处理", code="invalid")
    finding, unit = await _locked(session, finding_id)
    office = await _office(session, actor, unit)
    if finding.status != FindingStatus.CONTESTED:
        raise WorkflowError("此项认定没有待处理的申诉")
    outcome = _OUTCOME[decision]
    assert outcome is not None
    data: dict[str, Any] = {"status_before": finding.status, "unit": unit.code}
    finding.status, finding.decided_at = outcome, at
    _history(session, finding, decision, reason=reason.strip(), actor=actor, office=office, at=at,
             data=data)
    case = await session.get(Case, finding.case_id) if finding.case_id is not None else None
    _case_event(session, case, actor, "finding_decided", at, reason.strip(),
                {"finding_id": finding.id, "decision": decision, "status": finding.status,
                 "rule": finding.kind, **data})
    await session.flush()
    return finding


async def issue_notice(session: AsyncSession, unit_code: str, *, reason: str, actor: Actor,
                       at: datetime, case_number: str | None = None) -> Finding:
    """A notice (通报) the efficiency office issues by hand, on a case or on the unit's work."""
    if not reason.strip():
        raise WorkflowError("请写明通报事由", code="invalid")
    unit = await unit_by_code(session, unit_code)
    office = await _office(session, actor, unit)
    case = None
    if case_number is not None:
        case = (await session.execute(select(Case).where(Case.number == case_number))
                ).scalar_one_or_none()
        if case is None:
            raise WorkflowError(f"没有案件 {case_number}", code="not_found")
    finding = Finding(kind=FindingKind.NOTICE, case_id=case.id if case else None, unit_id=unit.id,
                      status=FindingStatus.CONFIRMED, persons=[], reason=reason.strip(),
                      created_at=at, decided_at=at)
    session.add(finding)
    await session.flush()
    _history(session, finding, Decision.ISSUE, reason=reason.strip(), actor=actor, office=office,
             at=at, data={"unit": unit.code})
    if case is not None:
        add_event(session, case, actor, "unit_notified", now=at, reason="通报（效能办）",
                  data={"rule": "R11.1", "unit": unit.code, "finding_id": finding.id,
                        "by_hand": True})
    return finding


@dataclass(frozen=True, slots=True)
class Scope:
    """Which findings a list shows; None: no filter on that field."""

    status: FindingStatus | None = None
    district: str | None = None
    """A district office's (or the chosen district's) units only."""
    unit_code: str | None = None
    since: datetime | None = None
    before: datetime | None = None
    """``[since, before)`` on the finding's creation (a month on the desk)."""
    finding_id: int | None = None


async def findings_of(session: AsyncSession, scope: Scope = Scope(), *,
                      limit: int = 500) -> list[tuple[Finding, Unit]]:
    """The findings an office (or a unit) works through, newest first, at most ``limit``."""
    query = select(Finding, Unit).join(Unit, Unit.id == Finding.unit_id)
    if scope.finding_id is not None:
        query = query.where(Finding.id == scope.finding_id)
    if scope.status is not None:
        query = query.where(Finding.status == scope.status)
    if scope.district is not None:
        query = query.where(Unit.district == scope.district)
    if scope.unit_code is not None:
        query = query.where(Unit.code == scope.unit_code)
    if scope.since is not None:
        query = query.where(Finding.created_at >= scope.since)
    if scope.before is not None:
        query = query.where(Finding.created_at < scope.before)
    return [(f, u) for f, u in (await session.execute(
        query.order_by(Finding.created_at.desc(), Finding.id.desc()).limit(limit))).all()]


async def history_of(session: AsyncSession, ids: list[int]) -> dict[int, list[FindingDecision]]:
    """Each finding's decisions, oldest first (one query for a whole page)."""
    out: dict[int, list[FindingDecision]] = {i: [] for i in ids}
    if ids:
        for row in (await session.execute(select(FindingDecision).where(
                FindingDecision.finding_id.in_(ids)).order_by(FindingDecision.at,
                                                             FindingDecision.id))).scalars():
            out[row.finding_id].append(row)
    return out
