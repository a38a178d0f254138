"""The one answer to "which actions may this caller take on this case now, and why not".

``allowed_actions`` walks every case action and every assignment action and
applies, in the order the API and the workflow do, the role table
(``guards.ACTION_ROLES``: 403), the unit checks (403) and the state
(``CASE_MOVES`` / ``ASSIGNMENT_MOVES`` and the guards of ``forwarder.guards``:
409). What is left out is only what a request body decides (a reason code, a
target unit, the answer's text): those are the workflow's to refuse (400).

The desk offers exactly the actions marked ``ok``; the API lists them at
``GET /api/cases/{number}/actions``; ``hotline case actions`` prints them; the
permission matrix test checks each one against the API's own answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from config.organisation import UnitKind
from forwarder import guards
from forwarder.callback_followups import has_waiting, redo_refusal
from forwarder.rules import Clocks
from forwarder.words import did, held, said
from forwarder.workflow_base import ASSIGNMENT_MOVES, CASE_MOVES, unit_by_kind
from forwarder.workflow_special import find_repeats
from registrar.models import (
    Assignment,
    AssignmentRole,
    AssignmentState,
    Case,
    CaseStatus,
    Deadline,
    Role,
    Unit,
)
from registrar.queries import CaseDetail

S = AssignmentState
CASE_ACTIONS = ("accept", "accept_dispatch", "not_accept", "dispatch", "split", "stop", "escalate",
                "publication", "callback_follow_up")
ASSIGNMENT_ACTIONS = ("read", "draft", "approve", "approve_submit", "submit", "return",
                      "return_decision", "review", "coordinate")
FORBIDDEN, ILLEGAL = "forbidden", "illegal"


@dataclass(frozen=True, slots=True)
class Caller:
    """The facts about the caller the rules look at: role, unit and the unit's kind."""

    role: str
    unit_code: str | None
    unit_kind: str | None = None


@dataclass(frozen=True, slots=True)
class Allowed:
    """One action on one target (a case number or an assignment id): allowed or not, and why.

    ``code`` is how the workflow would refuse it (``forbidden`` 403, ``illegal`` 409);
    ``choices`` narrows an allowed action (publication: publish / original_only;
    return_decision: accept / refuse, accepting closed by R8.3d)."""

    action: str
    target: str | int
    ok: bool
    reason: str = ""
    code: str = ""
    choices: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CaseFacts:
    """What the rules need to know about one case, loaded once."""

    case: Case
    assignments: Sequence[tuple[Assignment, Unit]]
    deadlines: Sequence[Deadline]
    city_code: str
    answered_before: int = 0
    """R8.5: earlier similar items of the same citizen that were answered."""
    callback_waiting: bool = False
    """R12: a dissatisfied call-back waits for the city bureau's follow-up."""


class _No(Exception):
    def __init__(self, reason: str, code: str = ILLEGAL) -> None:
        super().__init__(reason)
        self.reason, self.code = reason, code


def _role(caller: Caller, action: str) -> None:
    refusal = guards.role_refusal(caller.role, action)
    if refusal:
        raise _No(refusal, FORBIDDEN)


def _unit(caller: Caller, code: str, name: str, what: str) -> None:
    """``workflow_base.require_unit``: only people of the unit may act."""
    if caller.unit_code != code:
        raise _No(f"只有{said(name)}可以{did(what)}", FORBIDDEN)


def _case_move(case: Case, action: str) -> None:
    if case.status not in CASE_MOVES[action]:
        raise _No(f"案件 {case.number} 当前为“{said(case.status)}”，不能{did(action)}")


def _move(facts: CaseFacts, a: Assignment, action: str) -> None:
    if a.state not in ASSIGNMENT_MOVES[action]:
        raise _No(f"案件 {facts.case.number} 的这项交办当前为“{held(a.state)}”，不能{did(action)}")


def _queue(facts: CaseFacts, code: str) -> Assignment:
    """``workflow.queue_of``: the bureau's open copy of the case."""
    for a, u in facts.assignments:
        if u.code == code and a.role == AssignmentRole.BUREAU and a.state in (
                S.QUEUED, S.RETURN_REQUESTED):
            return a
    raise _No(f"案件 {facts.case.number} 不在本单位的待办队列中")


def _city(caller: Caller, facts: CaseFacts, what: str) -> None:
    _unit(caller, facts.city_code, "the city bureau", what)


# --- case actions, each in the order of its workflow function ------------------------------


def _accept(c: Caller, f: CaseFacts, clocks: Clocks) -> tuple[str, ...]:
    _city(c, f, "screening")
    _case_move(f.case, "accept")
    return ()


def _accept_dispatch(c: Caller, f: CaseFacts, clocks: Clocks) -> tuple[str, ...]:
    """``workflow.accept_and_dispatch``: accept's checks, then the city queue moves on."""
    _accept(c, f, clocks)
    _city(c, f, "dispatch")
    _move(f, _queue(f, f.city_code), "dispatch_on")
    return ()


def _not_accept(c: Caller, f: CaseFacts, clocks: Clocks) -> tuple[str, ...]:
    _city(c, f, "screening")
    queue = _queue(f, f.city_code)
    _case_move(f.case, "not_accept")
    _move(f, queue, "screened")
    return ()


def _dispatch(c: Caller, f: CaseFacts, clocks: Clocks) -> tuple[str, ...]:
    if c.role == Role.DISTRICT_BUREAU:  # workflow.district_dispatch
        if c.unit_kind != UnitKind.DISTRICT_BUREAU or c.unit_code is None:
            raise _No("只有区信访局可以交办给区直单位", FORBIDDEN)
        copy = _queue(f, c.unit_code)
        if copy.state != S.QUEUED:
            raise _No(f"案件 {f.case.number} 正等待市信访局决定是否同意退回")
        _move(f, copy, "dispatch_on")
        return ()
    if f.case.classification is None:
        raise _No(f"案件 {f.case.number} 须先受理并确定办理方式，才能交办")
    _city(c, f, "dispatch")
    _move(f, _queue(f, f.city_code), "dispatch_on")
    _case_move(f.case, "dispatch")
    return ()


def _split(c: Caller, f: CaseFacts, clocks: Clocks) -> tuple[str, ...]:
    _city(c, f, "splitting")
    if f.case.parent_case_id is not None:
        raise _No("拆分所得的事项不能再次拆分")
    queue = _queue(f, f.city_code)
    _case_move(f.case, "split")
    _move(f, queue, "dispatch_on")
    return ()


def _stop(c: Caller, f: CaseFacts, clocks: Clocks) -> tuple[str, ...]:
    _city(c, f, "stopping a repeat")
    _case_move(f.case, "stop")  # a closed or dispatched item is past stopping, whatever the count
    threshold = clocks.repeat_answers_before_stop
    if f.answered_before <= threshold:
        raise _No(f"R8.5b: 同一诉求已答复 {f.answered_before} 次，超过 {threshold} 次方可停止交办"
                  "（重复诉求仍应耐心答复）")
    queue = _queue(f, f.city_code)
    _move(f, queue, "screened")
    return ()


ESCALATABLE = (CaseStatus.DISPATCHED, CaseStatus.ACCEPTED, CaseStatus.SPLIT)


def _escalate(c: Caller, f: CaseFacts, clocks: Clocks) -> tuple[str, ...]:
    if f.case.status not in ESCALATABLE:
        raise _No(f"案件 {f.case.number} 当前为“{said(f.case.status)}”，无需提请协调")
    if c.role == Role.DISTRICT_BUREAU and not any(u.code == c.unit_code for _, u in f.assignments):
        raise _No("区信访局只能提请协调本区经手的事项", FORBIDDEN)
    return ()


def _publication(c: Caller, f: CaseFacts, clocks: Clocks) -> tuple[str, ...]:
    if f.case.parent_case_id is not None:
        raise _No("R8.7: 拆分所得的事项随原事项一并答复")
    if f.case.status != CaseStatus.ANSWERED:
        raise _No(f"R9.1: 案件 {f.case.number} 还没有审核通过的答复")
    bureaus = {f.city_code} | {u.code for a, u in f.assignments if a.role == AssignmentRole.BUREAU}
    if c.unit_code not in bureaus:
        raise _No("只有经手此事项的信访局可以决定是否公开", FORBIDDEN)
    return guards.publication_choices(f.case)


def _callback_follow_up(c: Caller, f: CaseFacts, clocks: Clocks) -> tuple[str, ...]:
    """``callback_followups.follow_up``: the city bureau, while a dissatisfied call-back
    waits; ``redo`` only where there is a passed answer to send back."""
    _city(c, f, "following up a call-back")
    if not f.callback_waiting:
        raise _No(f"案件 {f.case.number} 没有待跟进的回访不满意")
    answered = any(a.role == AssignmentRole.LEAD and a.state == S.PASSED for a, _ in f.assignments)
    redo = () if redo_refusal(f.case, answered) else ("redo",)
    return ("review", *redo, "efficiency_office")


# --- assignment actions ----------------------------------------------------------------


def _own(c: Caller, u: Unit, what: str) -> None:
    _unit(c, u.code, u.name, what)


AssignmentRule = Callable[[Caller, CaseFacts, Assignment, Unit, datetime], tuple[str, ...]]


def _unit_step(what: str, move: str) -> AssignmentRule:
    """A unit's plain step on its own assignment (read, draft, approve): unit, then state."""
    def rule(c: Caller, f: CaseFacts, a: Assignment, u: Unit, now: datetime) -> tuple[str, ...]:
        _own(c, u, what)
        _move(f, a, move)
        return ()
    return rule


def _approve_submit(c: Caller, f: CaseFacts, a: Assignment, u: Unit, now: datetime) -> tuple[str, ...]:
    """``workflow.approve_and_submit``: approval as usual, where the unit's setting allows."""
    _own(c, u, "approval")
    if not u.leader_submits:
        raise _No(f"{u.name}未设置“领导审批后直接报送”：请审批后由经办人报送", FORBIDDEN)
    _move(f, a, "approve")
    return ()


def _submit(c: Caller, f: CaseFacts, a: Assignment, u: Unit, now: datetime) -> tuple[str, ...]:
    _own(c, u, "answering")
    if a.state != S.APPROVED:
        raise _No("R8.2c: 答复须先经单位分管领导审批")
    return ()


def _return(c: Caller, f: CaseFacts, a: Assignment, u: Unit, now: datetime) -> tuple[str, ...]:
    _own(c, u, "return")
    refusal = guards.return_window_refusal(a, now)
    if refusal:
        raise _No(refusal)
    if a.role == AssignmentRole.BUREAU and u.kind != UnitKind.DISTRICT_BUREAU:
        raise _No("市信访局不退回事项")
    if a.role == AssignmentRole.COORDINATION:
        raise _No("R8.8: 政府办公厅负责协调此事项，不能退回")
    _move(f, a, "request_return")
    return ()


def _return_decision(c: Caller, f: CaseFacts, a: Assignment, u: Unit,
                     now: datetime) -> tuple[str, ...]:
    if a.state != S.RETURN_REQUESTED:
        raise _No("这项交办没有申请退回")
    _unit(c, guards.decider_code(a, u) or f.city_code, "the bureau that dispatched it",
          "deciding a return")
    late = guards.late_return_decision(tuple(f.deadlines), a, now)
    return ("refuse",) if late else ("accept", "refuse")


def _review(c: Caller, f: CaseFacts, a: Assignment, u: Unit, now: datetime) -> tuple[str, ...]:
    _unit(c, guards.reviewer_code(f.case, u) or f.city_code, "the reviewing bureau", "review")
    if a.state != S.SUBMITTED:
        raise _No("这项交办没有待审核的答复")
    return ()


def _coordinate(c: Caller, f: CaseFacts, a: Assignment, u: Unit,
                now: datetime) -> tuple[str, ...]:
    _own(c, u, "coordination")
    if a.role != AssignmentRole.COORDINATION:
        raise _No("这项交办不是协调请求")
    _move(f, a, "coordinated")
    return ()


CASE_RULES = {"accept": _accept, "accept_dispatch": _accept_dispatch, "not_accept": _not_accept,
              "dispatch": _dispatch,
              "split": _split, "stop": _stop, "escalate": _escalate, "publication": _publication,
              "callback_follow_up": _callback_follow_up}
ASSIGNMENT_RULES: dict[str, AssignmentRule] = {
    "read": _unit_step("reading", "read"), "draft": _unit_step("drafting", "draft"),
    "approve": _unit_step("approval", "approve"), "approve_submit": _approve_submit,
    "submit": _submit, "return": _return,
    "return_decision": _return_decision, "review": _review, "coordinate": _coordinate}


def allowed_actions(caller: Caller, facts: CaseFacts, now: datetime, *,
                    clocks: Clocks) -> list[Allowed]:
    """Every case action on ``facts.case`` and every assignment action on each of its
    assignments, each allowed or refused with the reason the workflow would give.

    ``clocks`` is the regulation's revision in force at ``now`` (R8.5b's threshold)."""
    out = [_judge(caller, action, facts.case.number,
                  partial(CASE_RULES[action], caller, facts, clocks)) for action in CASE_ACTIONS]
    for assignment, unit in facts.assignments:
        out += [_judge(caller, action, assignment.id,
                       partial(ASSIGNMENT_RULES[action], caller, facts, assignment, unit, now))
                for action in ASSIGNMENT_ACTIONS]
    return out


def _judge(caller: Caller, action: str, target: str | int,
           rule: Callable[[], tuple[str, ...]]) -> Allowed:
    """The role first (as ``require_role`` before anything is loaded), then the rule."""
    try:
        _role(caller, action)
        choices = rule()
    except _No as no:
        return Allowed(action, target, False, no.reason, no.code)
    return Allowed(action, target, True, choices=choices)


async def case_facts(session: AsyncSession, detail: CaseDetail, *, city_code: str,
                     caller: Caller) -> CaseFacts:
    """The facts of ``detail``'s case; earlier answered repeats are counted only for the
    city bureau (the one that may stop dispatch, R8.5b)."""
    answered, waiting = 0, False
    if caller.role == Role.CITY_BUREAU:
        answered = sum(1 for r in await find_repeats(session, detail.case.number) if r.answered)
        waiting = await has_waiting(session, detail.case.id)
    return CaseFacts(detail.case, detail.assignments, detail.deadlines, city_code, answered,
                     waiting)


async def allowed_on(session: AsyncSession, caller: Caller, detail: CaseDetail, now: datetime, *,
                     clocks: Clocks) -> list[Allowed]:
    """``allowed_actions`` for a case loaded with ``registrar.queries.case_detail``."""
    city = await unit_by_kind(session, UnitKind.CITY_BUREAU)
    facts = await case_facts(session, detail, city_code=city.code, caller=caller)
    return allowed_actions(caller, facts, now, clocks=clocks)
