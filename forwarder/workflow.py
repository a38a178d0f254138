"""The case lifecycle of the regulation, Articles 3–9: one function per action.

Each action runs inside the caller's transaction and writes, together, the new
state, an event, any deadline it starts or stops and any notice to the citizen
(DESIGN.md invariant 3). Lateness never blocks work: it is recorded by the
sweeper on the assignment (逾期办理, 过期未处理), and the work goes on.

Returns, repeats, splitting and escalation are in ``forwarder.workflow_special``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from config.organisation import UnitKind
from forwarder import rules
from forwarder.charges import Occasion, charge_r11_2b

# Re-exported: the desks and workflow_special name them through this module.
from forwarder.guards import CITY_LEVEL as CITY_LEVEL
from forwarder.guards import HANDLING_KINDS as HANDLING_KINDS
from forwarder.guards import publication_refusal, reviewer_code
from forwarder.publication import mask_for_publication
from forwarder.words import said
from forwarder.workflow_base import (
    ASSIGNMENT_MOVES,
    SCREENED_OUT,
    Actor,
    Context,
    WorkflowError,
    add_event,
    answer_split_parent,
    load_assignment,
    load_case,
    move_assignment,
    move_case,
    notify_citizen,
    require_unit,
    unit_by_code,
    unit_by_kind,
)
from registrar.deadlines import cancel_deadlines, meet_deadlines, open_deadline
from registrar.models import (
    Assignment,
    AssignmentRole,
    AssignmentState,
    Case,
    CaseStatus,
    Classification,
    DeadlineKind,
    Unit,
)


@dataclass(frozen=True, slots=True)
class Answer:
    """A unit's answer (R8.2b: a complex item states what was done, what is open, what next)."""

    text: str
    complex: bool = False
    done: str = ""
    problems: str = ""
    measures: str = ""
    propose_private: bool = False
    """The unit proposes not publishing (R9.2b); the bureau decides."""


async def queue_of(session: AsyncSession, case: Case, unit: Unit) -> Assignment:
    """The bureau's open copy of the case (the city queue, or a district bureau's)."""
    row = (await session.execute(select(Assignment).where(
        Assignment.case_id == case.id, Assignment.unit_id == unit.id,
        Assignment.role == AssignmentRole.BUREAU,
        Assignment.state.in_([AssignmentState.QUEUED, AssignmentState.RETURN_REQUESTED]))
        .with_for_update())).scalars().first()
    if row is None:
        raise WorkflowError(f"案件 {case.number} 不在{unit.name}的待办队列中")
    return row


def _city_bureau_actor(actor: Actor, city: Unit, what: str) -> None:
    require_unit(actor, city, what)


# --- Article 3: screening --------------------------------------------------------------


async def not_accept(session: AsyncSession, ctx: Context, number: str, reason: str,
                     actor: Actor, *, note: str = "") -> Case:
    """R3.1–R3.9: the item is not accepted; the record stays, the citizen is told why."""
    if reason not in rules.NOT_ACCEPTED_REASONS:
        raise WorkflowError("请从列表中选择不予受理的理由",
                            code="invalid")
    now = ctx.clock.now()
    case = await load_case(session, number)
    city = await unit_by_kind_city(session)
    _city_bureau_actor(actor, city, "screening")
    queue = await queue_of(session, case, city)
    move_case(session, case, "not_accept", actor, now=now, reason=reason,
              data={"note": note} if note else None)
    case.screening_reason = reason
    move_assignment(session, case, queue, "screened", actor, now=now, reason=reason)
    await meet_deadlines(session, queue.id, [DeadlineKind.DISPATCH], now)
    await notify_citizen(session, ctx, case, "not_accepted", now=now,
                         reason=rules.NOT_ACCEPTED_REASONS[reason],
                         advice=rules.NOT_ACCEPTED_ADVICE.get(reason, ""))
    if case.parent_case_id is not None:  # R8.7: the other parts may be all that is left
        await answer_split_parent(session, case.parent_case_id, actor, now=now)
    return case


async def unit_by_kind_city(session: AsyncSession) -> Unit:
    return await unit_by_kind(session, UnitKind.CITY_BUREAU)


async def accept(session: AsyncSession, ctx: Context, number: str, actor: Actor, *,
                 internal_reason: str | None = None, reserved: bool = False) -> Case:
    """Screening passed; classify internal (R6.1–R6.4) or public (R7.1) at once (R4.3).

    A citizen who chose not to publish makes the item internal whatever the
    bureau says (R6.4). ``reserved`` marks a major or sensitive item whose answer
    the city bureau reviews finally (R8.4d).
    """
    now = ctx.clock.now()
    case = await load_case(session, number)
    city = await unit_by_kind_city(session)
    _city_bureau_actor(actor, city, "screening")
    if internal_reason is not None and internal_reason not in rules.INTERNAL_REASONS:
        raise WorkflowError("请从列表中选择内部办理的理由", code="invalid")
    if not case.public_allowed and internal_reason is None:
        internal_reason = "R6.4"
    move_case(session, case, "accept", actor, now=now, reason=internal_reason,
              data={"classification": Classification.INTERNAL if internal_reason
                    else Classification.PUBLIC, "reserved": reserved})
    case.classification = Classification.INTERNAL if internal_reason else Classification.PUBLIC
    case.internal_reason = internal_reason
    case.reserved = reserved
    return case


# --- Articles 4 and 7: dispatch --------------------------------------------------------


async def _start_handling(session: AsyncSession, ctx: Context, case: Case, unit: Unit,
                          role: AssignmentRole, actor: Actor, *, parent: Assignment | None,
                          dispatcher: Unit) -> Assignment:
    now = ctx.clock.now()
    assignment = Assignment(case_id=case.id, unit_id=unit.id, parent_id=parent.id if parent else None,
                            role=role, state=AssignmentState.DISPATCHED, created_at=now,
                            dispatched_by=dispatcher.code,
                            return_until=ctx.due.due(now, ctx.clocks_at(now).return_window_days).at)
    session.add(assignment)
    await session.flush()
    read = await open_deadline(session, ctx.due, case_id=case.id, assignment_id=assignment.id,
                               kind=DeadlineKind.READ, rule="R8.1", start=now,
                               working_days=ctx.clocks_at(now).read_days)
    answer = await open_deadline(session, ctx.due, case_id=case.id, assignment_id=assignment.id,
                                 kind=DeadlineKind.ANSWER, rule="R8.2a", start=now,
                                 working_days=ctx.clocks_at(now).answer_days)
    add_event(session, case, actor, "dispatched", now=now, assignment=assignment,
              to_state=AssignmentState.DISPATCHED, deadline=answer.due_at,
              data={"unit": unit.code, "role": role, "read_due": read.due_at.isoformat(),
                    "provisional": answer.provisional})
    return assignment


async def dispatch(session: AsyncSession, ctx: Context, number: str, unit_code: str, actor: Actor,
                   *, co_units: tuple[str, ...] = ()) -> list[Assignment]:
    """The city bureau sends an accepted item to a city unit or a district bureau (R4.1, R7.2, R7.3).

    With ``co_units`` the first unit leads and the others co-handle (R8.6).
    """
    now = ctx.clock.now()
    case = await load_case(session, number)
    if case.classification is None:
        raise WorkflowError(f"案件 {number} 须先受理并确定办理方式，才能交办")
    city = await unit_by_kind_city(session)
    require_unit(actor, city, "dispatch")
    queue = await queue_of(session, case, city)
    target = await unit_by_code(session, unit_code)
    _check_internal_target(case, target)
    made: list[Assignment] = []
    if target.kind == UnitKind.DISTRICT_BUREAU:
        if co_units:
            raise WorkflowError("协办单位只能与承办单位一起指定，不能与信访局一起指定")
        made.append(await _to_district_bureau(session, ctx, case, target, actor, now=now))
    elif target.kind in CITY_LEVEL:
        made.append(await _start_handling(session, ctx, case, target, AssignmentRole.LEAD, actor,
                                          parent=None, dispatcher=city))
        for code in co_units:
            co = await unit_by_code(session, code)
            if co.kind not in HANDLING_KINDS or co.id == target.id:
                raise WorkflowError(f"{co.name}不能协办此事项")
            made.append(await _start_handling(session, ctx, case, co, AssignmentRole.CO, actor,
                                              parent=None, dispatcher=city))
    else:
        raise WorkflowError(f"{target.name}不是市信访局直接交办的单位")
    move_assignment(session, case, queue, "dispatch_on", actor, now=now, data={"to": unit_code})
    await meet_deadlines(session, queue.id, [DeadlineKind.DISPATCH], now)
    move_case(session, case, "dispatch", actor, now=now, data={"to": unit_code})
    if case.classification == Classification.INTERNAL and target.kind != UnitKind.DISTRICT_BUREAU:
        await _internal_notice(session, ctx, case, target, now=now)
    return made


def _check_internal_target(case: Case, target: Unit) -> None:
    wanted = rules.INTERNAL_UNIT_KIND.get(case.internal_reason or "")
    if wanted and target.kind != wanted:
        raise WorkflowError(f"此类内部事项应交{said(wanted)}办理，不能交{target.name}")


async def _internal_notice(session: AsyncSession, ctx: Context, case: Case, unit: Unit, *,
                           now: datetime) -> None:
    """R6.5: "您所反映的问题已转由××单位内部办理", on the original channel."""
    await notify_citizen(session, ctx, case, "internal", now=now, unit=unit.name)


async def _to_district_bureau(session: AsyncSession, ctx: Context, case: Case, bureau: Unit,
                              actor: Actor, *, now: datetime) -> Assignment:
    copy = Assignment(case_id=case.id, unit_id=bureau.id, role=AssignmentRole.BUREAU,
                      state=AssignmentState.QUEUED, created_at=now, dispatched_by="city-bureau",
                      return_until=ctx.due.due(
                          now, ctx.clocks_at(now).district_return_window_days).at)
    session.add(copy)
    await session.flush()
    clock = await open_deadline(session, ctx.due, case_id=case.id, assignment_id=copy.id,
                                kind=DeadlineKind.DISPATCH, rule="R7.3", start=now,
                                working_days=ctx.clocks_at(now).dispatch_days)
    add_event(session, case, actor, "dispatched", now=now, assignment=copy,
              to_state=AssignmentState.QUEUED, deadline=clock.due_at,
              data={"unit": bureau.code, "role": "bureau"})
    return copy


async def accept_and_dispatch(session: AsyncSession, ctx: Context, number: str, unit_code: str,
                              actor: Actor, *, internal_reason: str | None = None,
                              reserved: bool = False, co_units: tuple[str, ...] = ()) -> list[Assignment]:
    """R4.3 then R4.1/R7.2: screening and dispatch in one step, the city bureau's usual case.

    The two moves are the ones ``accept`` and ``dispatch`` make, in one transaction that
    the caller owns: a refused dispatch (a unit that cannot take the item) leaves the item
    unaccepted, as if nothing had been pressed."""
    await accept(session, ctx, number, actor, internal_reason=internal_reason, reserved=reserved)
    return await dispatch(session, ctx, number, unit_code, actor, co_units=co_units)


async def district_dispatch(session: AsyncSession, ctx: Context, number: str, unit_code: str,
                            actor: Actor, *, co_units: tuple[str, ...] = ()) -> list[Assignment]:
    """A district bureau sends the item on to one of its district units (R7.3)."""
    now = ctx.clock.now()
    case = await load_case(session, number)
    bureau = await unit_by_code(session, actor.unit_code or "")
    if bureau.kind != UnitKind.DISTRICT_BUREAU:
        raise WorkflowError("只有区信访局可以交办给区直单位", code="forbidden")
    copy = await queue_of(session, case, bureau)
    if copy.state != AssignmentState.QUEUED:
        raise WorkflowError(f"案件 {number} 正等待市信访局决定是否同意退回")
    made = []
    for index, code in enumerate((unit_code, *co_units)):
        unit = await unit_by_code(session, code)
        if unit.parent_code != bureau.code or unit.kind not in HANDLING_KINDS:
            raise WorkflowError(f"{unit.name}不属于{bureau.name}")
        made.append(await _start_handling(
            session, ctx, case, unit, AssignmentRole.LEAD if index == 0 else AssignmentRole.CO,
            actor, parent=copy, dispatcher=bureau))
    move_assignment(session, case, copy, "dispatch_on", actor, now=now, data={"to": unit_code})
    await meet_deadlines(session, copy.id, [DeadlineKind.DISPATCH], now)
    if case.classification == Classification.INTERNAL:
        await _internal_notice(session, ctx, case, await unit_by_code(session, unit_code), now=now)
    return made


# --- Article 8: handling by the unit -----------------------------------------------------


async def read(session: AsyncSession, ctx: Context, assignment_id: int, actor: Actor) -> Assignment:
    """R8.1: the unit's handler reads the item (and passes it to the leader)."""
    now = ctx.clock.now()
    assignment, case, unit = await load_assignment(session, assignment_id)
    require_unit(actor, unit, "reading")
    move_assignment(session, case, assignment, "read", actor, now=now)
    await meet_deadlines(session, assignment.id, [DeadlineKind.READ], now)
    return assignment


async def draft(session: AsyncSession, ctx: Context, assignment_id: int, answer: Answer,
                actor: Actor) -> Assignment:
    """The handler writes (or rewrites) the answer; R8.2b for complex items."""
    now = ctx.clock.now()
    assignment, case, unit = await load_assignment(session, assignment_id)
    require_unit(actor, unit, "drafting")
    if not answer.text.strip():
        raise WorkflowError("请填写答复内容", code="invalid")
    if answer.complex and not (answer.done.strip() and answer.problems.strip()
                               and answer.measures.strip()):
        raise WorkflowError("R8.2b: 复杂事项的答复须写明已办理情况、存在问题和下一步措施",
                            code="invalid")
    move_assignment(session, case, assignment, "draft", actor, now=now)
    assignment.answer_text = answer.text.strip()
    assignment.answer_done = answer.done.strip() or None
    assignment.answer_problems = answer.problems.strip() or None
    assignment.answer_measures = answer.measures.strip() or None
    assignment.proposes_private = answer.propose_private
    assignment.approved_by = None
    return assignment


async def approve(session: AsyncSession, ctx: Context, assignment_id: int, actor: Actor) -> Assignment:
    """R8.2c: the unit leader approves the answer before it leaves the unit."""
    now = ctx.clock.now()
    assignment, case, unit = await load_assignment(session, assignment_id)
    require_unit(actor, unit, "approval")
    if actor.role != "unit_leader":
        raise WorkflowError("R8.2c: 只有单位分管领导可以审批答复", code="forbidden")
    move_assignment(session, case, assignment, "approve", actor, now=now)
    assignment.approved_by = actor.name
    return assignment


async def approve_and_submit(session: AsyncSession, ctx: Context, assignment_id: int,
                             actor: Actor) -> Assignment:
    """R8.2c in one step, where the unit's settings say so: the leader approves and the
    answer goes on at once (the same moves and events as ``approve`` then ``submit``)."""
    _, _, unit = await load_assignment(session, assignment_id)
    if not unit.leader_submits:
        raise WorkflowError(f"{unit.name}未设置“领导审批后直接报送”：请审批后由经办人报送",
                            code="forbidden")
    await approve(session, ctx, assignment_id, actor)
    return await submit(session, ctx, assignment_id, actor)


async def submit(session: AsyncSession, ctx: Context, assignment_id: int, actor: Actor) -> Assignment:
    """The unit sends its approved answer: to the bureau for review (R8.4a), or, as a
    co-handling unit, to the lead unit (R8.6)."""
    now = ctx.clock.now()
    assignment, case, unit = await load_assignment(session, assignment_id)
    require_unit(actor, unit, "answering")
    if assignment.state != AssignmentState.APPROVED:
        raise WorkflowError("R8.2c: 答复须先经单位分管领导审批")
    met = await meet_deadlines(session, assignment.id,
                               [DeadlineKind.ANSWER, DeadlineKind.REDO, DeadlineKind.READ], now)
    if assignment.role == AssignmentRole.CO:
        move_assignment(session, case, assignment, "contribute", actor, now=now)
        return assignment
    reviewer = await reviewer_of(session, case, unit)
    clock = await open_deadline(session, ctx.due, case_id=case.id, assignment_id=assignment.id,
                                kind=DeadlineKind.REVIEW, rule="R8.4a", start=now,
                                working_days=ctx.clocks_at(now).review_days)
    move_assignment(session, case, assignment, "submit", actor, now=now, deadline=clock.due_at,
                    data={"reviewer": reviewer.code, "met": [d.kind for d in met]})
    return assignment


async def reviewer_of(session: AsyncSession, case: Case, unit: Unit) -> Unit:
    """R8.4a: the bureau of the same level; R8.4d: the city bureau for reserved items."""
    code = reviewer_code(case, unit)
    return await unit_by_kind_city(session) if code is None else await unit_by_code(session, code)


async def review(session: AsyncSession, ctx: Context, assignment_id: int, *, passed: bool,
                 actor: Actor, comment: str = "") -> Assignment:
    """R8.4: pass, or send back for redoing within 3 working days; a second failure is 逾期办理."""
    now = ctx.clock.now()
    assignment, case, unit = await load_assignment(session, assignment_id)
    reviewer = await reviewer_of(session, case, unit)
    require_unit(actor, reviewer, "review")
    if assignment.state != AssignmentState.SUBMITTED:
        raise WorkflowError("这项交办没有待审核的答复")
    await meet_deadlines(session, assignment.id, [DeadlineKind.REVIEW], now)
    assignment.review_comment = comment.strip() or None
    if passed:
        move_assignment(session, case, assignment, "pass", actor, now=now, reason=comment or None)
        await _maybe_answered(session, ctx, case, actor)
        return assignment
    if not comment.strip():
        raise WorkflowError("请写明审核不通过的理由", code="invalid")
    assignment.review_failures += 1
    clock = await open_deadline(session, ctx.due, case_id=case.id, assignment_id=assignment.id,
                                kind=DeadlineKind.REDO, rule="R8.4b", start=now,
                                working_days=ctx.clocks_at(now).redo_days)
    move_assignment(session, case, assignment, "fail", actor, now=now, reason=comment,
                    deadline=clock.due_at, data={"failures": assignment.review_failures})
    if assignment.review_failures >= 2 and not assignment.overdue_handling:
        assignment.overdue_handling = True  # R8.4c: failed again
        add_event(session, case, actor, "overdue_handling", now=now, assignment=assignment,
                  reason="R8.4c: 重办答复再次审核不通过",
                  data={"rule": "R8.4c", "unit": unit.code})
        # R11.2b follows 逾期办理 whichever route made it; who is on duty now is charged.
        await charge_r11_2b(session, Occasion(case=case, assignment=assignment, unit=unit,
                                              moment=now, zone=now.tzinfo or UTC), now)
    return assignment


async def _maybe_answered(session: AsyncSession, ctx: Context, case: Case, actor: Actor) -> None:
    """When every lead assignment has passed, the case is answered; a part may finish its parent."""
    now = ctx.clock.now()
    rows = (await session.execute(select(Assignment).where(
        Assignment.case_id == case.id, Assignment.role == AssignmentRole.LEAD,
        Assignment.state != AssignmentState.WITHDRAWN))).scalars().all()
    if not rows or any(a.state != AssignmentState.PASSED for a in rows):
        return
    co = (await session.execute(select(Assignment).where(
        Assignment.case_id == case.id, Assignment.role == AssignmentRole.CO,
        Assignment.state == AssignmentState.CONTRIBUTED))).scalars().all()
    parts = [_answer_text(a) for a in rows] + [f"（协办）{_answer_text(a)}" for a in co]
    case.answer_text = "\n".join(parts)
    case.unit_proposes_private = any(a.proposes_private for a in rows)
    move_case(session, case, "answered", actor, now=now)
    await _close_open_co_handling(session, case, actor, now=now)
    if case.parent_case_id is not None:
        await answer_split_parent(session, case.parent_case_id, actor, now=now)


async def _close_open_co_handling(session: AsyncSession, case: Case, actor: Actor, *,
                                  now: datetime) -> None:
    """R8.6: the lead assembles the answer; once it passed review, co-handling units that
    gave nothing are released (their clocks stopped) rather than charged for a closed item."""
    still_open = (await session.execute(select(Assignment).where(
        Assignment.case_id == case.id, Assignment.role == AssignmentRole.CO,
        Assignment.state.in_(list(ASSIGNMENT_MOVES["withdraw"]))))).scalars().all()
    for co in still_open:
        move_assignment(session, case, co, "withdraw", actor, now=now,
                        reason="R8.6: 主办单位答复已审核通过，本协办部分未报送")
        await cancel_deadlines(session, co.id, now)


def _answer_text(assignment: Assignment) -> str:
    text = assignment.answer_text or ""
    if assignment.answer_done:
        text += f"\n已办理：{assignment.answer_done}\n存在问题：{assignment.answer_problems}" \
                f"\n下一步措施：{assignment.answer_measures}"
    return text


# --- Article 9: publication and feedback -------------------------------------------------


def public_texts(case: Case) -> tuple[str, str]:
    """What would be published, masked: (the complaint's summary, the answer). The bureau
    sees and may edit both before it publishes (R9.3)."""
    # A name either text marks (我叫张三) is masked in both.
    return mask_for_publication(case.text, case.answer_text or "", names=[case.display_name or ""])


async def decide_publication(session: AsyncSession, ctx: Context, number: str, *, publish: bool,
                             actor: Actor, summary: str | None = None,
                             answer: str | None = None) -> Case:
    """R9: after review passed, send the result on the original channel and, unless internal
    or withheld at the unit's proposal, publish it with personal data masked.

    ``summary`` and ``answer`` are the public texts as the bureau edited them; left out,
    the masked texts of ``public_texts`` are published."""
    now = ctx.clock.now()
    case = await load_case(session, number)
    if case.parent_case_id is not None:
        raise WorkflowError("R8.7: 拆分所得的事项随原事项一并答复")
    if case.status != CaseStatus.ANSWERED:
        raise WorkflowError(f"R9.1: 案件 {number} 还没有审核通过的答复")
    city = await unit_by_kind_city(session)
    bureau_codes = {city.code}
    for a in (await session.execute(select(Assignment).where(
            Assignment.case_id == case.id, Assignment.role == AssignmentRole.BUREAU))).scalars():
        unit = await session.get(Unit, a.unit_id)
        assert unit is not None
        bureau_codes.add(unit.code)
    if not actor.is_system and actor.unit_code not in bureau_codes:
        raise WorkflowError("只有经手此事项的信访局可以决定是否公开",
                            code="forbidden")
    refusal = publication_refusal(case, publish)
    if refusal:
        raise WorkflowError(refusal)
    internal = case.classification == Classification.INTERNAL
    rule = "R9.2a" if internal else ("R9.2b" if not publish else "R9.3")
    case.publication = "publish" if publish else "original_only"
    if publish:
        masked_summary, masked_answer = public_texts(case)
        case.published_summary = masked_summary if summary is None else summary.strip()
        case.published_text = masked_answer if answer is None else answer.strip()
        case.published_at = now
    case.closed_at = now
    move_case(session, case, "close", actor, now=now, reason=rule)
    await _close_parts(session, case, actor, now=now)
    leads = await _lead_unit_names(session, case)
    await notify_citizen(session, ctx, case, "answer", now=now, unit="、".join(leads) or "有关单位",
                         answer=case.answer_text or "")
    return case


async def _close_parts(session: AsyncSession, case: Case, actor: Actor, *, now: datetime) -> None:
    """R8.7: the parts of a split item close with it (their answers went out in its notice)."""
    parts = (await session.execute(select(Case).where(Case.parent_case_id == case.id)
                                   .order_by(Case.number).with_for_update())).scalars().all()
    for part in parts:
        if part.status in SCREENED_OUT:  # closed already, with its own notice
            continue
        part.closed_at = now
        move_case(session, part, "close", actor, now=now, reason="R8.7",
                  data={"with": case.number})


async def _lead_unit_names(session: AsyncSession, case: Case) -> list[str]:
    parts = (await session.execute(select(Case.id).where(Case.parent_case_id == case.id))).scalars()
    ids = [case.id, *parts]
    rows = (await session.execute(select(Unit.name).join(Assignment, Assignment.unit_id == Unit.id)
                                  .where(Assignment.case_id.in_(ids),
                                         Assignment.role == AssignmentRole.LEAD,
                                         Assignment.state == AssignmentState.PASSED))).scalars()
    return list(dict.fromkeys(rows))
