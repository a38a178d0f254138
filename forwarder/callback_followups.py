"""What the city bureau does about a dissatisfied call-back (回访不满意, R12; issue 14.4).

A citizen's "3" puts the case on the city bureau's follow-up list
(``forwarder.callbacks.dissatisfied_cases``). Each way off the list does what it says:

* ``review`` (复核后维持答复): the bureau checked the answer and keeps it; the
  ``callback_followed_up`` event with its note is the record.
* ``redo`` (责成承办单位重新办理): the case goes back to the unit(s) that answered
  it, even when closed. Each passed lead assignment moves to ``redo`` with a new
  redo clock: the regulation names one time for 重新办理, R8.4b's 3 working days,
  and says nothing of re-handling after a call-back, so the same clock is used
  (docs/regulation-reading.md). The case is ``dispatched`` again and the citizen is
  told on the original channel (``callback_redo`` notice); the unit redrafts
  in its inbox, the answer is approved, reviewed and sent out like any answer, and
  the outbox asks for a new rating once it is sent (one rating per request).
* ``efficiency_office`` (提交效能办): a ``callback`` finding per lead unit,
  linked to the case, with the call-back as its reason, for the efficiency office
  to confirm or waive on its desk (``forwarder.findings``). It is a referral, not
  an R11.2 mark: the dissatisfied rating already counts in the satisfaction rate,
  and the office issues a notice (通报) by hand where it finds fault.

Every outcome is refused (409) unless a dissatisfied call-back waits on the case.
"""

from __future__ import annotations

from sqlalchemy import Select, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from config.organisation import UnitKind
from forwarder import workflow_base as wb
from forwarder.callbacks import FOLLOW_UPS, open_dissatisfied
from forwarder.workflow_base import Actor, Context, WorkflowError
from registrar.deadlines import open_deadline
from registrar.models import Assignment, AssignmentRole, Case, DeadlineKind, Event, Unit
from registrar.models_cockpit import CallbackRating
from registrar.models_supervision import Finding, FindingKind, FindingStatus

#: The case states a redo may start from: the answer passed review (and maybe went out).
REDO_FROM = (wb.C.ANSWERED, wb.C.CLOSED)


async def waiting(session: AsyncSession, case_id: int) -> Event | None:
    """The dissatisfied call-back event that waits for a follow-up on the case, if any."""
    return (await session.execute(select(Event).where(
        Event.case_id == case_id, open_dissatisfied()).order_by(Event.id.desc()).limit(1))
    ).scalars().first()


async def answering_units(session: AsyncSession, case: Case) -> list[tuple[Assignment, Unit]]:
    """The lead assignments whose answer passed review, with their units (who answered)."""
    return [(a, u) for a, u in (await session.execute(
        select(Assignment, Unit).join(Unit, Unit.id == Assignment.unit_id)
        .where(Assignment.case_id == case.id, Assignment.role == AssignmentRole.LEAD,
               Assignment.state == wb.S.PASSED)
        .order_by(Assignment.id).with_for_update(of=Assignment))).all()]


def redo_refusal(case: Case, has_answer: bool) -> str | None:
    """Why the case cannot be sent back for redoing now; None if it can (also ``allowed``)."""
    if case.parent_case_id is not None or case.status == wb.C.SPLIT:
        return "R8.7: 拆分办理的事项不能整件责成重办，请复核或提交效能办"
    if case.status not in REDO_FROM or not has_answer:
        return f"案件 {case.number} 没有审核通过的单位答复，无法责成重新办理"
    return None


async def follow_up(session: AsyncSession, ctx: Context, number: str, *, outcome: str,
                    actor: Actor, note: str = "") -> Event:
    """Close the case's waiting dissatisfied call-back with ``outcome`` (``FOLLOW_UPS``),
    doing what the outcome says; returns the ``callback_followed_up`` event."""
    if outcome not in FOLLOW_UPS:
        raise WorkflowError(f"未知的跟进方式 {outcome!r}：应为复核维持、责成重办或提交效能办",
                            code="invalid")
    now = ctx.clock.now()
    wb.require_unit(actor, await wb.unit_by_kind(session, UnitKind.CITY_BUREAU), "following up a call-back")
    case = await wb.load_case(session, number)
    dissatisfied = await waiting(session, case.id)
    if dissatisfied is None:
        raise WorkflowError(f"案件 {number} 没有待跟进的回访不满意")
    rating = (await session.execute(select(CallbackRating).where(
        CallbackRating.case_id == case.id).order_by(CallbackRating.id.desc()).limit(1))
    ).scalars().first()
    # The citizen's own words where a call-back recorded more than the menu's label.
    said = rating.comment if rating is not None and rating.comment not in (None, "不满意") else ""
    why = f"回访不满意（{said}）" if said else "回访不满意"
    reason = f"{FOLLOW_UPS[outcome]}：{note.strip()}" if note.strip() else FOLLOW_UPS[outcome]
    data: dict[str, object] = {"outcome": outcome, "dissatisfied_event": dissatisfied.id,
                               "callback_rating": rating.id if rating is not None else None}
    if outcome == "redo":
        data["redo"] = await _redo(session, ctx, case, actor, reason=f"{why}，{reason}")
    elif outcome == "efficiency_office":
        data["findings"] = await _refer(session, case, reason=f"{why}，{reason}", ctx=ctx)
    return wb.add_event(session, case, actor, "callback_followed_up", now=now, reason=reason,
                        data=data)


async def _redo(session: AsyncSession, ctx: Context, case: Case, actor: Actor, *,
                reason: str) -> list[dict[str, object]]:
    """Send each answering unit's assignment back with a fresh redo clock; reopen the case."""
    now = ctx.clock.now()
    rows = await answering_units(session, case)
    refusal = redo_refusal(case, bool(rows))
    if refusal:
        raise WorkflowError(refusal)
    wb.move_case(session, case, "callback_redo", actor, now=now, reason=reason)
    case.closed_at = None
    made = []
    for assignment, unit in rows:
        clock = await open_deadline(session, ctx.due, case_id=case.id, assignment_id=assignment.id,
                                    kind=DeadlineKind.REDO, rule="R8.4b", start=now,
                                    working_days=ctx.clocks_at(now).redo_days)
        wb.move_assignment(session, case, assignment, "callback_redo", actor, now=now, reason=reason,
                           deadline=clock.due_at, data={"unit": unit.code, "rule": "R12"})
        made.append({"assignment": assignment.id, "unit": unit.code,
                     "due": clock.due_at.isoformat()})
    await wb.notify_citizen(session, ctx, case, "callback_redo", now=now,
                            unit="、".join(unit.name for _, unit in rows))
    return made


async def _refer(session: AsyncSession, case: Case, *, reason: str, ctx: Context) -> list[int]:
    """One ``callback`` finding per lead unit of the case (of its parts, for a split item):
    the units whose answer the citizen was not satisfied with."""
    now = ctx.clock.now()
    units = (await session.execute(
        select(Unit).join(Assignment, Assignment.unit_id == Unit.id)
        .where(Assignment.case_id.in_(_case_and_parts(case)), Assignment.role == AssignmentRole.LEAD,
               Assignment.state != wb.S.WITHDRAWN)
        .order_by(Assignment.id))).scalars().unique().all()
    if not units:
        raise WorkflowError(f"案件 {case.number} 没有承办单位，无法提交效能办")
    made = []
    for unit in dict.fromkeys(units):
        finding = Finding(kind=FindingKind.CALLBACK, case_id=case.id, assignment_id=None,
                          unit_id=unit.id, late_unit_id=None, status=FindingStatus.CHARGED,
                          persons=[], reason=reason, created_at=now, decided_at=None)
        session.add(finding)
        await session.flush()
        made.append(finding.id)
    return made


def _case_and_parts(case: Case) -> Select[int]:
    """The case's id and its parts' (R8.7: a split item's units handled the parts)."""
    return select(Case.id).where((Case.id == case.id) | (Case.parent_case_id == case.id))


async def has_waiting(session: AsyncSession, case_id: int) -> bool:
    """True while a dissatisfied call-back waits for a follow-up (``allowed``'s fact)."""
    return bool((await session.execute(select(exists().where(
        Event.case_id == case_id, open_dissatisfied())))).scalar())
