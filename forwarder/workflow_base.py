"""Shared pieces of the case lifecycle: actors, errors, the transition tables, events, notices.

The lifecycle is declarative: ``CASE_MOVES`` and ``ASSIGNMENT_MOVES`` say, per
action, from which states it may start and where it ends. Every action goes
through ``move_case`` / ``move_assignment``, which refuse anything not in the
table with a ``WorkflowError`` and append the event row; so no code path can
change a state without an event (DESIGN.md invariant 3).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from config.notices import render_notice
from contract.clock import Clock
from contract.contact_kinds import NO_CALLS_TO_LANDLINE, channels_for
from contract.envelope import Channel
from forwarder.rules import Clocks, clocks_at, default_revisions
from forwarder.words import did, held, said
from registrar.deadlines import DuePolicy
from registrar.models import (
    Assignment,
    AssignmentState,
    Case,
    CaseContact,
    CaseStatus,
    Contact,
    Event,
    Notice,
    NoticeStatus,
    Unit,
)

S = AssignmentState
C = CaseStatus

#: action → {from state: to state} for the case as a whole.
CASE_MOVES: dict[str, dict[str, str]] = {
    "not_accept": {C.REGISTERED: C.NOT_ACCEPTED, C.ACCEPTED: C.NOT_ACCEPTED},
    "accept": {C.REGISTERED: C.ACCEPTED},
    "dispatch": {C.ACCEPTED: C.DISPATCHED, C.DISPATCHED: C.DISPATCHED},
    "split": {C.ACCEPTED: C.SPLIT},
    "answered": {C.DISPATCHED: C.ANSWERED, C.SPLIT: C.ANSWERED},
    "reopen": {C.DISPATCHED: C.ACCEPTED},
    "close": {C.ANSWERED: C.CLOSED},
    "stop": {C.REGISTERED: C.STOPPED, C.ACCEPTED: C.STOPPED},
    # R8.7: every part of a split item was screened out; each told the citizen on its own.
    "parts_screened_out": {C.SPLIT: C.CLOSED},
    "answer_on_call": {C.REGISTERED: C.CLOSED},
    # R12 回访不满意: the city bureau has the answer redone (forwarder.callback_followups).
    "callback_redo": {C.ANSWERED: C.DISPATCHED, C.CLOSED: C.DISPATCHED},
}

#: action → {from state: to state} for one unit's assignment.
ASSIGNMENT_MOVES: dict[str, dict[str, str]] = {
    "screened": {S.QUEUED: S.DONE},
    "dispatch_on": {S.QUEUED: S.DONE},
    "read": {S.DISPATCHED: S.READ},
    "draft": {S.READ: S.DRAFTED, S.DRAFTED: S.DRAFTED, S.REDO: S.DRAFTED, S.APPROVED: S.DRAFTED},
    "approve": {S.DRAFTED: S.APPROVED},
    "submit": {S.APPROVED: S.SUBMITTED},
    "contribute": {S.APPROVED: S.CONTRIBUTED},
    "pass": {S.SUBMITTED: S.PASSED},
    "fail": {S.SUBMITTED: S.REDO},
    "request_return": {S.DISPATCHED: S.RETURN_REQUESTED, S.READ: S.RETURN_REQUESTED,
                       S.QUEUED: S.RETURN_REQUESTED},
    "return_accepted": {S.RETURN_REQUESTED: S.WITHDRAWN},
    "return_refused_dispatched": {S.RETURN_REQUESTED: S.DISPATCHED},
    "return_refused_read": {S.RETURN_REQUESTED: S.READ},
    "return_refused_queued": {S.RETURN_REQUESTED: S.QUEUED},
    "withdraw": {s: S.WITHDRAWN for s in (S.QUEUED, S.DISPATCHED, S.READ, S.DRAFTED, S.APPROVED)},
    "coordinated": {S.DISPATCHED: S.DONE, S.READ: S.DONE},
    "callback_redo": {S.PASSED: S.REDO},
}

#: States in which an assignment still owes work.
ACTIVE_STATES = frozenset({S.QUEUED, S.DISPATCHED, S.READ, S.DRAFTED, S.APPROVED, S.SUBMITTED,
                           S.REDO, S.RETURN_REQUESTED})


class WorkflowError(Exception):
    """An action that the regulation (or the case's state) does not allow now."""

    def __init__(self, message: str, *, code: str = "illegal") -> None:
        super().__init__(message)
        self.code = code


class NotFound(WorkflowError):
    def __init__(self, what: str) -> None:
        super().__init__(f"not found: {what}", code="not_found")


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: a person of a unit in a role, or the system (the sweeper)."""

    name: str
    role: str
    unit_code: str | None = None

    @property
    def is_system(self) -> bool:
        return self.role == "system"


SYSTEM = Actor("sweeper", "system")


@dataclass(slots=True)
class Context:
    """What every action needs besides the session: time, the calendar, the regulation's
    clock counts (from the settings' ``regulation_file``), the SMS route."""

    clock: Clock
    due: DuePolicy
    sms_channel: str = Channel.SMS_MODEM
    voice_channel: str = ""
    """Where a landline's notices are spoken (``worker.voice_channel``); empty: SMS."""
    contest_days: int = 5
    """Working days a unit has to contest a notice or warning (settings ``[supervision]``)."""
    revisions: tuple[Clocks, ...] = field(default_factory=default_revisions)

    def clocks_at(self, moment: datetime) -> Clocks:
        """The counts in force at ``moment`` (a clock follows the rules of its start)."""
        return clocks_at(moment, revisions=self.revisions)


async def load_case(session: AsyncSession, number: str, *, lock: bool = True) -> Case:
    query = select(Case).where(Case.number == number)
    if lock:
        query = query.with_for_update()
    case = (await session.execute(query)).scalar_one_or_none()
    if case is None:
        raise NotFound(f"case {number}")
    return case


async def load_assignment(session: AsyncSession, assignment_id: int) -> tuple[Assignment, Case, Unit]:
    row = (await session.execute(
        select(Assignment).where(Assignment.id == assignment_id).with_for_update()
    )).scalar_one_or_none()
    if row is None:
        raise NotFound(f"assignment {assignment_id}")
    case = await session.get(Case, row.case_id)
    unit = await session.get(Unit, row.unit_id)
    assert case is not None and unit is not None
    return row, case, unit


async def unit_by_code(session: AsyncSession, code: str) -> Unit:
    unit = (await session.execute(select(Unit).where(Unit.code == code, Unit.active.is_(True))
                                  )).scalar_one_or_none()
    if unit is None:
        raise NotFound(f"unit {code}")
    return unit


async def unit_by_kind(session: AsyncSession, kind: str) -> Unit:
    unit = (await session.execute(select(Unit).where(Unit.kind == kind, Unit.active.is_(True))
                                  .order_by(Unit.id))).scalars().first()
    if unit is None:
        raise NotFound(f"unit of kind {kind}")
    return unit


def require_unit(actor: Actor, unit: Unit, what: str) -> None:
    """Only people of ``unit`` (or the system) may do ``what``."""
    if not actor.is_system and actor.unit_code != unit.code:
        raise WorkflowError(f"只有{unit.name}可以{did(what)}", code="forbidden")


def add_event(session: AsyncSession, case: Case, actor: Actor, action: str, *, now: datetime,
              assignment: Assignment | None = None, from_state: str | None = None,
              to_state: str | None = None, reason: str | None = None,
              deadline: datetime | None = None, data: dict[str, Any] | None = None) -> Event:
    event = Event(case_id=case.id, assignment_id=assignment.id if assignment else None, at=now,
                  actor=actor.name if actor.is_system else f"{actor.name}@{actor.unit_code}",
                  action=action, from_state=from_state, to_state=to_state, reason=reason,
                  deadline=deadline, data=data or {})
    session.add(event)
    return event


def require_case_move(case: Case, action: str) -> None:
    """Refuse ``action`` unless the table allows it from the case's state (no change made)."""
    if case.status not in CASE_MOVES[action]:
        raise WorkflowError(f"案件 {case.number} 当前为“{said(case.status)}”，不能{did(action)}")


def move_case(session: AsyncSession, case: Case, action: str, actor: Actor, *, now: datetime,
              reason: str | None = None, data: dict[str, Any] | None = None) -> None:
    require_case_move(case, action)
    allowed = CASE_MOVES[action]
    before, case.status = case.status, allowed[case.status]
    add_event(session, case, actor, f"case_{action}", now=now, from_state=before,
              to_state=case.status, reason=reason, data=data)


def move_assignment(session: AsyncSession, case: Case, assignment: Assignment, action: str,
                    actor: Actor, *, now: datetime, reason: str | None = None,
                    deadline: datetime | None = None, data: dict[str, Any] | None = None) -> None:
    allowed = ASSIGNMENT_MOVES[action]
    if assignment.state not in allowed:
        raise WorkflowError(f"案件 {case.number} 的这项交办当前为“{held(assignment.state)}”，"
                            f"不能{did(action)}")
    before, assignment.state = assignment.state, allowed[assignment.state]
    add_event(session, case, actor, action, now=now, assignment=assignment, from_state=before,
              to_state=assignment.state, reason=reason, deadline=deadline, data=data)


SCREENED_OUT = frozenset({C.NOT_ACCEPTED, C.STOPPED})
"""How a part of a split item ends without an answer: it leaves the parent's answer."""


async def answer_split_parent(session: AsyncSession, parent_id: int, actor: Actor, *,
                              now: datetime) -> None:
    """R8.7: a split item is answered once every part it still has is answered; a part
    screened out (R3, R8.5b) told the citizen on its own and is left out, so one refused
    part does not hold the others' answer back for ever."""
    parent = await session.get(Case, parent_id, with_for_update=True)
    assert parent is not None
    if parent.status != C.SPLIT:
        return
    parts = (await session.execute(select(Case).where(
        Case.parent_case_id == parent.id).order_by(Case.number))).scalars().all()
    remaining = [p for p in parts if p.status not in SCREENED_OUT]
    if parts and not remaining:  # nothing is left to answer: the whole item ends here
        move_case(session, parent, "parts_screened_out", actor, now=now,
                  data={"screened_out": [p.number for p in parts]})
        return
    if not remaining or any(p.status != C.ANSWERED for p in remaining):
        return
    parent.answer_text = "\n".join(f"{i}. {p.answer_text}" for i, p in enumerate(remaining, 1))
    parent.unit_proposes_private = any(p.unit_proposes_private for p in remaining)
    data: dict[str, Any] = {"parts": [p.number for p in remaining]}
    if len(remaining) < len(parts):
        data["screened_out"] = [p.number for p in parts if p.status in SCREENED_OUT]
    move_case(session, parent, "answered", actor, now=now, data=data)


async def citizen_route(session: AsyncSession, case: Case, sms_channel: str,
                        voice_channel: str = "") -> tuple[str, str | None, str | None]:
    """The channel and address a notice to the citizen goes to, or why none can go.

    SMS, fax and email items are answered where they came from; web and phone
    items on the first contact the citizen left that a channel reaches: SMS to a
    mobile, a call to a landline (or to a mobile whose citizen chose calls) when
    ``voice_channel`` is set, or email. A landline is never texted: when it is
    the only contact and the site places no calls, the third value says why.
    """
    if case.channel in (Channel.SMS_MODEM, Channel.SMS_TWILIO, Channel.FAX, Channel.EMAIL):
        return case.channel, case.reply_address, None
    contacts = (await session.execute(
        select(Contact).join(CaseContact, CaseContact.contact_id == Contact.id)
        .where(CaseContact.case_id == case.id).order_by(CaseContact.rank))).scalars().all()
    for contact in contacts:
        ways = channels_for(contact.kind, sms_channel=sms_channel, voice_channel=voice_channel,
                            address=contact.address, prefers_call=contact.prefers_call)
        if ways:
            return ways[0], contact.address, None
    if not contacts:
        return case.channel, None, None
    return sms_channel, contacts[0].address, NO_CALLS_TO_LANDLINE


async def notify_citizen(session: AsyncSession, ctx: Context, case: Case, kind: str, *,
                         now: datetime, essential: bool = True, **values: str) -> Notice:
    """Queue a notice for the citizen on the original channel (one transaction with the action)."""
    channel, address, why = await citizen_route(session, case, ctx.sms_channel, ctx.voice_channel)
    filled = {"number": case.number, **values}
    text = render_notice(kind, channel, filled, language=case.language)
    pending = bool(address) and why is None
    notice = Notice(case_id=case.id, kind=kind, channel=channel, address=address, text=text,
                    template_values=filled,
                    status=NoticeStatus.PENDING if pending else NoticeStatus.FAILED,
                    essential=essential, attempts=0, created_at=now,
                    next_attempt_at=now if pending else None, sent_at=None, provider_ref=None,
                    last_error=None if pending else (why or "no reply address"))
    session.add(notice)
    return notice
