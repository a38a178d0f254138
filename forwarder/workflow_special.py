"""The regulation's less common paths: returns (R8.3), repeats (R8.5), splitting (R8.7)
and escalation to the government office (R8.8)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from config.organisation import UnitKind
from forwarder.guards import decider_code, late_return_decision, return_window_refusal
from forwarder.return_clocks import pause_unit_clocks, resume_unit_clocks
from forwarder.similarity import repeat_score
from forwarder.words import said
from forwarder.workflow import (
    CITY_LEVEL,
    HANDLING_KINDS,
    _check_internal_target,
    dispatch,
    queue_of,
    unit_by_kind_city,
)
from forwarder.workflow_base import (
    ACTIVE_STATES,
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
    require_case_move,
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
    Deadline,
    DeadlineKind,
    Unit,
)
from registrar.numbers import new_query_code
from registrar.roster import roster_at

# --- R8.3: returns --------------------------------------------------------------------


async def request_return(session: AsyncSession, ctx: Context, assignment_id: int, *, reason: str,
                         proposed_unit: str, actor: Actor) -> Assignment:
    """R8.3a: a unit tells its bureau within 2 working days that the item is not its remit;
    R8.3c: a district bureau asks the city bureau within 1 working day to take it back."""
    now = ctx.clock.now()
    assignment, case, unit = await load_assignment(session, assignment_id)
    require_unit(actor, unit, "return")
    if not reason.strip():
        raise WorkflowError("请写明申请退回的理由", code="invalid")
    await unit_by_code(session, proposed_unit)
    closed = return_window_refusal(assignment, now)
    if closed:
        raise WorkflowError(closed)
    if assignment.role == AssignmentRole.BUREAU and unit.kind != UnitKind.DISTRICT_BUREAU:
        raise WorkflowError("市信访局不退回事项")
    if assignment.role == AssignmentRole.COORDINATION:
        raise WorkflowError("R8.8: 政府办公厅负责协调此事项，不能退回")
    move_assignment(session, case, assignment, "request_return", actor, now=now, reason=reason,
                    data={"proposed_unit": proposed_unit})
    assignment.return_reason = reason.strip()
    assignment.proposed_unit = proposed_unit
    if assignment.role == AssignmentRole.BUREAU:
        # Asking back in time is the district's answer to its dispatch clock (R8.3c); if the
        # city refuses, a fresh one starts (refuse_return), so the wait is never charged to it.
        await meet_deadlines(session, assignment.id, [DeadlineKind.DISPATCH], now)
        # R8.3d: the city bureau has 1 working day; its silence keeps the item in the district.
        await open_deadline(session, ctx.due, case_id=case.id, assignment_id=assignment.id,
                            kind=DeadlineKind.RETURN_DECISION, rule="R8.3d", start=now,
                            working_days=ctx.clocks_at(now).return_decision_days)
    else:
        # R8.3a: the bureau's decision gets a clock of its own (as R8.3d's), and the unit's
        # clocks wait for it: a unit that rightly returns is not charged for the wait.
        await pause_unit_clocks(session, ctx, case, assignment, actor, now=now)
        await open_deadline(session, ctx.due, case_id=case.id, assignment_id=assignment.id,
                            kind=DeadlineKind.RETURN_DECISION, rule="R8.3a", start=now,
                            working_days=ctx.clocks_at(now).return_decision_days)
    return assignment


async def decide_return(session: AsyncSession, ctx: Context, assignment_id: int, *, accept: bool,
                        actor: Actor, redispatch_to: str | None = None,
                        comment: str = "") -> list[Assignment]:
    """R8.3b: the bureau accepts the return (withdraws and re-dispatches) or refuses it
    (the unit keeps the item and can never return it again)."""
    now = ctx.clock.now()
    assignment, case, unit = await load_assignment(session, assignment_id)
    if assignment.state != AssignmentState.RETURN_REQUESTED:
        raise WorkflowError("这项交办没有申请退回")
    decider = await _dispatcher_of(session, assignment, unit)
    require_unit(actor, decider, "deciding a return")
    if accept and assignment.role == AssignmentRole.BUREAU:  # R8.3d only: silence refuses
        await _check_decision_in_time(session, assignment, now)
    if not accept:
        await refuse_return(session, ctx, assignment, case, actor, reason=comment or None)
        return [assignment]
    target = redispatch_to or assignment.proposed_unit
    if not target:
        raise WorkflowError("请指定改由哪个单位办理", code="invalid")
    # Check the new unit before writing anything: a refused decision leaves no trace.
    new_unit = await _check_target(session, case, assignment, decider, target)
    move_assignment(session, case, assignment, "return_accepted", actor, now=now,
                    reason=comment or None, data={"redispatch_to": target})
    # The decision is R8.3d's clock met; the unit's own clocks end with its duty, unmet.
    await meet_deadlines(session, assignment.id, [DeadlineKind.RETURN_DECISION], now)
    await cancel_deadlines(session, assignment.id, now)
    if assignment.role == AssignmentRole.CO:
        # R8.6: a returned co-handling unit is replaced by another co-handling unit.
        return [await _replace_co_handler(session, ctx, case, assignment, new_unit, decider, actor)]
    # Co-handling units of a withdrawn lead unit keep their own duties; the new lead
    # takes over. A district bureau's return also withdraws nothing below it (none yet).
    if decider.kind == UnitKind.CITY_BUREAU:
        return await _redispatch_from_city(session, ctx, case, target, actor)
    return await _redispatch_in_district(session, ctx, case, decider, target, actor)


async def _check_decision_in_time(session: AsyncSession, assignment: Assignment,
                                  now: datetime) -> None:
    """R8.3d: once the city bureau's day to accept a district's return has run out, the
    district keeps the item, whether or not the sweeper has recorded it yet."""
    clocks = (await session.execute(select(Deadline).where(
        Deadline.assignment_id == assignment.id,
        Deadline.kind == DeadlineKind.RETURN_DECISION))).scalars().all()
    late = late_return_decision(clocks, assignment, now)
    if late:
        raise WorkflowError(late)


async def refuse_return(session: AsyncSession, ctx: Context, assignment: Assignment, case: Case,
                        actor: Actor, *, reason: str | None) -> None:
    """The unit keeps the item (R8.3b); by silence too (R8.3d, called by the sweeper)."""
    now = ctx.clock.now()
    previous = await _state_before_return(session, assignment)
    move_assignment(session, case, assignment, f"return_refused_{previous}", actor, now=now,
                    reason=reason)
    assignment.return_refused = True
    # The decision is made (by the bureau, or by its silence): its clock stops either way.
    await meet_deadlines(session, assignment.id, [DeadlineKind.RETURN_DECISION], now)
    if assignment.role == AssignmentRole.BUREAU:
        # The district keeps it and owes a dispatch again within 1 working day.
        await open_deadline(session, ctx.due, case_id=case.id, assignment_id=assignment.id,
                            kind=DeadlineKind.DISPATCH, rule="R7.3", start=now,
                            working_days=ctx.clocks_at(now).dispatch_days)
    else:
        await resume_unit_clocks(session, ctx, case, assignment, actor, now=now)


async def _state_before_return(session: AsyncSession, assignment: Assignment) -> str:
    from registrar.models import Event

    before = (await session.execute(select(Event.from_state).where(
        Event.assignment_id == assignment.id, Event.action == "request_return")
        .order_by(Event.id.desc()))).scalars().first()
    return str(before or AssignmentState.DISPATCHED)


async def _dispatcher_of(session: AsyncSession, assignment: Assignment, unit: Unit) -> Unit:
    code = decider_code(assignment, unit)
    return await unit_by_kind_city(session) if code is None else await unit_by_code(session, code)


async def _check_target(session: AsyncSession, case: Case, assignment: Assignment, decider: Unit,
                        target: str) -> Unit:
    """The unit an accepted return goes to must be one the deciding bureau dispatches to."""
    unit = await unit_by_code(session, target)
    if decider.kind != UnitKind.CITY_BUREAU and unit.parent_code != decider.code:
        raise WorkflowError(f"R8.3c: {unit.name}不属于{decider.name}，请报市信访局收回后重新交办")
    # As dispatch() would have it: the city sends a lead to a city unit or a district bureau.
    handling_only = assignment.role == AssignmentRole.CO or decider.kind != UnitKind.CITY_BUREAU
    allowed = HANDLING_KINDS if handling_only else CITY_LEVEL | {UnitKind.DISTRICT_BUREAU}
    if unit.kind not in allowed:
        raise WorkflowError(f"{unit.name}不能承办此事项", code="invalid")
    if assignment.role != AssignmentRole.CO:
        _check_internal_target(case, unit)
    busy = (await session.execute(select(Assignment.id).where(
        Assignment.case_id == case.id, Assignment.unit_id == unit.id,
        Assignment.state.in_(ACTIVE_STATES)))).first()
    if busy is not None:
        raise WorkflowError(f"{unit.name}已在办理案件 {case.number}")
    return unit


async def _replace_co_handler(session: AsyncSession, ctx: Context, case: Case, old: Assignment,
                              unit: Unit, decider: Unit, actor: Actor) -> Assignment:
    from forwarder.workflow import _start_handling

    parent = await session.get(Assignment, old.parent_id) if old.parent_id else None
    return await _start_handling(session, ctx, case, unit, AssignmentRole.CO, actor, parent=parent,
                                 dispatcher=decider)


async def _redispatch_from_city(session: AsyncSession, ctx: Context, case: Case, target: str,
                                actor: Actor) -> list[Assignment]:
    """Back to the city bureau's queue, then straight on to ``target`` (R8.3b)."""
    now = ctx.clock.now()
    city = await unit_by_kind_city(session)
    open_leads = (await session.execute(select(Assignment.id).where(
        Assignment.case_id == case.id, Assignment.role.in_([AssignmentRole.LEAD,
                                                              AssignmentRole.BUREAU]),
        Assignment.state.not_in([AssignmentState.WITHDRAWN, AssignmentState.DONE])))).all()
    if not open_leads and case.status == CaseStatus.DISPATCHED:
        move_case(session, case, "reopen", actor, now=now)
    queue = Assignment(case_id=case.id, unit_id=city.id, role=AssignmentRole.BUREAU,
                       state=AssignmentState.QUEUED, created_at=now)
    session.add(queue)
    await session.flush()
    add_event(session, case, actor, "requeued", now=now, assignment=queue,
              to_state=AssignmentState.QUEUED, data={"unit": city.code})
    return await dispatch(session, ctx, case.number, target, actor)


async def _redispatch_in_district(session: AsyncSession, ctx: Context, case: Case, bureau: Unit,
                                  target: str, actor: Actor) -> list[Assignment]:
    from forwarder.workflow import _start_handling

    unit = await unit_by_code(session, target)
    if unit.parent_code != bureau.code or unit.kind not in HANDLING_KINDS:
        raise WorkflowError(f"R8.3c: {unit.name}不属于{bureau.name}，请报市信访局收回后重新交办")
    return [await _start_handling(session, ctx, case, unit, AssignmentRole.LEAD, actor,
                                  parent=None, dispatcher=bureau)]


# --- R8.5: repeats --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Repeat:
    """An earlier item of the same citizen, how alike it is, and whether it counts as a repeat."""

    number: str
    status: str
    similarity: float
    answered: bool
    repeat: bool = True
    """At or above the cut-off: the same issue again (R8.5); below: another issue of theirs."""


REPEAT_THRESHOLD = 0.45


async def earlier_cases(session: AsyncSession, number: str, *,
                        threshold: float = REPEAT_THRESHOLD) -> list[Repeat]:
    """Every earlier item of the same citizen, the likeliest repeat first (R8.5): same
    contact or sender, scored by ``similarity.repeat_score`` (issue, place, "reported before")."""
    case = await load_case(session, number, lock=False)
    if case.contact_id is None and not case.sender:
        return []
    same_person = []
    if case.contact_id is not None:
        same_person.append(Case.contact_id == case.contact_id)
    if case.sender:
        same_person.append(Case.sender == case.sender)
    earlier = (await session.execute(select(Case).where(
        or_(*same_person), Case.id != case.id, Case.registered_at <= case.registered_at,
        Case.parent_case_id.is_(None)).order_by(Case.registered_at.desc()).limit(200))).scalars()
    found = []
    for other in earlier:
        if other.registered_at == case.registered_at and other.id > case.id:
            continue  # registered in the same instant but after this one: not earlier
        score = repeat_score(case.text, other.text, new_location=case.location_hint,
                             old_location=other.location_hint)
        found.append(Repeat(other.number, other.status, round(score, 3),
                            other.status == CaseStatus.CLOSED, score >= threshold))
    return sorted(found, key=lambda r: -r.similarity)


async def find_repeats(session: AsyncSession, number: str, *,
                       threshold: float = REPEAT_THRESHOLD) -> list[Repeat]:
    """R8.5: the earlier items of the same citizen that report the same issue again."""
    return [r for r in await earlier_cases(session, number, threshold=threshold) if r.repeat]


async def stop_dispatch(session: AsyncSession, ctx: Context, number: str, actor: Actor) -> Case:
    """R8.5b: the city bureau may stop dispatching a repeat answered more than three times."""
    now = ctx.clock.now()
    case = await load_case(session, number)
    city = await unit_by_kind_city(session)
    require_unit(actor, city, "stopping a repeat")
    require_case_move(case, "stop")  # a closed item is no repeat to stop, whatever the count
    repeats = await find_repeats(session, number)
    answered = [r.number for r in repeats if r.answered]
    threshold = ctx.clocks_at(now).repeat_answers_before_stop
    if len(answered) <= threshold:
        raise WorkflowError(f"R8.5b: 同一诉求已答复 {len(answered)} 次，超过 {threshold} 次方可"
                            "停止交办（重复诉求仍应耐心答复）")
    queue = await queue_of(session, case, city)
    move_case(session, case, "stop", actor, now=now, reason="R8.5b",
              data={"answered_before": answered})
    move_assignment(session, case, queue, "screened", actor, now=now, reason="R8.5b")
    await meet_deadlines(session, queue.id, [DeadlineKind.DISPATCH], now)
    await notify_citizen(session, ctx, case, "stopped", now=now)
    if case.parent_case_id is not None:  # R8.7: the other parts may be all that is left
        await answer_split_parent(session, case.parent_case_id, actor, now=now)
    return case


# --- R8.7: one item, several issues, several units --------------------------------------


async def split(session: AsyncSession, ctx: Context, number: str, parts: list[str],
                actor: Actor) -> list[Case]:
    """R8.7: divide an accepted item into parts, each dispatched on its own; the citizen
    gets one combined answer when every part has passed review."""
    now = ctx.clock.now()
    case = await load_case(session, number)
    city = await unit_by_kind_city(session)
    require_unit(actor, city, "splitting")
    texts = [p.strip() for p in parts if p.strip()]
    if len(texts) < 2:
        raise WorkflowError("拆分至少需要两项：请再填写一项", code="invalid")
    if case.parent_case_id is not None:
        raise WorkflowError("拆分所得的事项不能再次拆分")
    queue = await queue_of(session, case, city)
    move_case(session, case, "split", actor, now=now, data={"parts": len(texts)})
    move_assignment(session, case, queue, "dispatch_on", actor, now=now, reason="R8.7")
    await meet_deadlines(session, queue.id, [DeadlineKind.DISPATCH], now)
    children = []
    for index, text in enumerate(texts, 1):
        child = Case(number=f"{case.number}-{index}", query_code=new_query_code(),
                     channel=case.channel, external_id=f"{case.external_id}#part{index}",
                     received_at=case.received_at, registered_at=now, status=CaseStatus.ACCEPTED,
                     text=text, sender=case.sender, reply_address=case.reply_address,
                     display_name=case.display_name, language=case.language,
                     public_allowed=case.public_allowed, district_hint=case.district_hint,
                     location_hint=case.location_hint, notes=[f"part {index} of {case.number}"],
                     contact_id=case.contact_id, classification=case.classification,
                     internal_reason=case.internal_reason, reserved=case.reserved,
                     parent_case_id=case.id)
        session.add(child)
        await session.flush()
        child_queue = Assignment(case_id=child.id, unit_id=city.id, role=AssignmentRole.BUREAU,
                                 state=AssignmentState.QUEUED, created_at=now)
        session.add(child_queue)
        await session.flush()
        clock = await open_deadline(session, ctx.due, case_id=child.id, assignment_id=child_queue.id,
                                    kind=DeadlineKind.DISPATCH, rule="R8.7", start=now,
                                    working_days=ctx.clocks_at(now).dispatch_days)
        add_event(session, child, actor, "split_part", now=now, to_state=CaseStatus.ACCEPTED,
                  data={"parent": case.number, "part": index})
        add_event(session, child, actor, "queued", now=now, assignment=child_queue,
                  to_state=AssignmentState.QUEUED, deadline=clock.due_at, data={"unit": city.code})
        children.append(child)
    return children


# --- R8.8: escalation -------------------------------------------------------------------


async def escalate(session: AsyncSession, ctx: Context, number: str, *, reason: str,
                   actor: Actor) -> Assignment:
    """R8.8: a hard item goes to the government office for coordination, copied to the
    leaders in charge of the units handling it."""
    now = ctx.clock.now()
    case = await load_case(session, number)
    if not reason.strip():
        raise WorkflowError("请写明需要政府协调的理由", code="invalid")
    if actor.role not in ("city_bureau", "district_bureau", "system"):
        raise WorkflowError("只有信访局可以提请协调", code="forbidden")
    if case.status not in (CaseStatus.DISPATCHED, CaseStatus.ACCEPTED, CaseStatus.SPLIT):
        raise WorkflowError(f"案件 {number} 当前为“{said(case.status)}”，无需提请协调")
    if actor.role == "district_bureau":
        # A district bureau escalates only items that went through its own hands.
        mine = (await session.execute(select(Assignment.id).join(Unit, Unit.id == Assignment.unit_id)
                                      .where(Assignment.case_id == case.id,
                                             Unit.code == actor.unit_code))).first()
        if mine is None:
            raise WorkflowError("区信访局只能提请协调本区经手的事项",
                                code="forbidden")
    office = await unit_by_kind(session, UnitKind.GOV_OFFICE)
    units = (await session.execute(select(Unit).join(Assignment, Assignment.unit_id == Unit.id)
                                   .where(Assignment.case_id == case.id,
                                          Assignment.role.in_([AssignmentRole.LEAD,
                                                               AssignmentRole.CO]),
                                          Assignment.state != AssignmentState.WITHDRAWN)
                                   .order_by(Assignment.id))).scalars()
    copies = []
    for unit in dict.fromkeys(units):
        leaders = [e.person_name for e in await roster_at(session, unit.code, now)
                   if e.duty == "leader"]
        copies.append({"unit": unit.code, "leaders": leaders})
    assignment = Assignment(case_id=case.id, unit_id=office.id, role=AssignmentRole.COORDINATION,
                            state=AssignmentState.DISPATCHED, created_at=now,
                            dispatched_by=actor.unit_code)
    session.add(assignment)
    await session.flush()
    office_leaders = [e.person_name for e in await roster_at(session, office.code, now)
                      if e.duty == "leader"]
    add_event(session, case, actor, "escalated", now=now, assignment=assignment,
              to_state=AssignmentState.DISPATCHED, reason=reason,
              data={"office": office.code, "office_leaders": office_leaders, "copied_to": copies})
    return assignment


async def coordinate(session: AsyncSession, ctx: Context, assignment_id: int, *, opinion: str,
                     actor: Actor) -> Assignment:
    """R8.8: the government office gives its coordination opinion; its part is then done and
    the handling units carry on with the item under that opinion."""
    now = ctx.clock.now()
    assignment, case, unit = await load_assignment(session, assignment_id)
    require_unit(actor, unit, "coordination")
    if assignment.role != AssignmentRole.COORDINATION:
        raise WorkflowError("这项交办不是协调请求")
    if not opinion.strip():
        raise WorkflowError("请填写协调意见", code="invalid")
    move_assignment(session, case, assignment, "coordinated", actor, now=now, reason=opinion.strip())
    assignment.answer_text = opinion.strip()
    return assignment


__all__ = ["Repeat", "coordinate", "decide_return", "earlier_cases", "escalate", "find_repeats",
           "notify_citizen", "request_return", "split", "stop_dispatch"]
