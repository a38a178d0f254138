"""One case on the desk: what it says, who holds it, its clocks and history, and what I may do.

The page offers only the actions the viewer's role may ask for at the case's
present state (the API's ``ACTION_ROLES`` and the workflow's unit checks,
mirrored here so nobody sees a button that can only fail); each is a
``<form data-api>`` that posts to the JSON API, which checks everything again.
A case the viewer may not see is 404, as in the API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from config.organisation import UnitKind
from desks.access.permissions import ACTION_ROLES, visible
from desks.access.principal import Principal
from desks.staff.auth_pages import render
from desks.staff.deps import DESK, current
from desks.staff.pages_cases_view import (
    ASSIGNMENT_ROLE,
    ASSIGNMENT_STATE,
    CASE_STATUS,
    CHANNELS,
    EVENT_ACTION,
    NOTICE_KIND,
    NOTICE_STATUS,
    Clocks,
    contact_for,
    is_internal,
)
from forwarder import rules
from forwarder import workflow_special as special
from forwarder.routing import Suggestion, suggest_units
from forwarder.workflow import CITY_LEVEL, HANDLING_KINDS, public_texts
from registrar.models import Assignment, AssignmentRole, AssignmentState, Case, CaseStatus, Role, Unit
from registrar.queries import CaseDetail, case_detail

S = AssignmentState
KIND_GROUPS: tuple[tuple[str, frozenset[str]], ...] = (
    ("市直单位", frozenset({UnitKind.CITY_UNIT})),
    ("区信访局", frozenset({UnitKind.DISTRICT_BUREAU})),
    ("纪委监委、效能办、政府办公厅", frozenset({UnitKind.DISCIPLINE, UnitKind.EFFICIENCY,
                                         UnitKind.GOV_OFFICE})),
    ("区直单位", frozenset({UnitKind.DISTRICT_UNIT})),
)


@dataclass(slots=True)
class UnitWork:
    """One of my unit's assignments and the steps open to me on it (R8.1–R8.3)."""

    assignment: Assignment
    read: bool = False
    draft: bool = False
    approve: bool = False
    submit: bool = False
    ret: bool = False
    return_closed: str = ""
    coordinate: bool = False
    """R8.8: the government office's opinion on an item escalated to it."""


@dataclass(slots=True)
class Actions:
    """What the page offers the viewer, by role and state."""

    screen: bool = False
    not_accept: bool = False
    dispatch: bool = False
    split: bool = False
    stop: bool = False
    escalate: bool = False
    district_return: Assignment | None = None
    publication: list[str] = field(default_factory=list)
    reviews: list[Assignment] = field(default_factory=list)
    returns: list[Assignment] = field(default_factory=list)
    work: list[UnitWork] = field(default_factory=list)

    @property
    def any(self) -> bool:
        return bool(self.screen or self.not_accept or self.dispatch or self.split or self.stop
                    or self.escalate or self.district_return or self.publication or self.reviews
                    or self.returns or self.work)


def may(me: Principal, action: str) -> bool:
    return me.role in ACTION_ROLES[action]


def reviewer_code(case: Case, unit: Unit, city: str) -> str:
    """``workflow.reviewer_of`` without the session (R8.4a, R8.4d)."""
    if case.reserved or unit.kind in CITY_LEVEL or not unit.parent_code:
        return city
    return unit.parent_code


def decider_code(assignment: Assignment, unit: Unit, city: str) -> str:
    """``workflow_special._dispatcher_of`` without the session (R8.3b)."""
    if assignment.role == AssignmentRole.BUREAU or unit.kind in CITY_LEVEL or not unit.parent_code:
        return city
    return unit.parent_code


def actions_for(me: Principal, detail: CaseDetail, *, city: str, now: Any) -> Actions:
    """The actions the viewer may take now; the API remains the judge."""
    case, out = detail.case, Actions()
    rows = detail.assignments
    mine = me.unit_code
    if me.role in (Role.CITY_BUREAU, Role.DISTRICT_BUREAU):
        queue = next((a for a, u in rows if u.code == mine and a.role == AssignmentRole.BUREAU
                      and a.state == S.QUEUED), None)
        city_bureau = me.role == Role.CITY_BUREAU
        if queue is not None and city_bureau:
            out.screen = case.status == CaseStatus.REGISTERED
            out.not_accept = case.status in (CaseStatus.REGISTERED, CaseStatus.ACCEPTED)
            out.dispatch = case.status in (CaseStatus.ACCEPTED, CaseStatus.DISPATCHED) \
                and case.classification is not None
            out.split = case.status == CaseStatus.ACCEPTED and case.parent_case_id is None
            out.stop = case.status in (CaseStatus.REGISTERED, CaseStatus.ACCEPTED)
        if queue is not None and not city_bureau:
            out.dispatch = True
            if not queue.return_refused and (queue.return_until is None or now < queue.return_until):
                out.district_return = queue
        out.escalate = case.status in (CaseStatus.ACCEPTED, CaseStatus.DISPATCHED, CaseStatus.SPLIT)
        out.reviews = [a for a, u in rows if a.state == S.SUBMITTED and reviewer_code(case, u, city) == mine]
        out.returns = [a for a, u in rows if a.state == S.RETURN_REQUESTED
                       and decider_code(a, u, city) == mine]
        handled = city_bureau or any(u.code == mine and a.role == AssignmentRole.BUREAU for a, u in rows)
        if case.status == CaseStatus.ANSWERED and case.parent_case_id is None and handled:
            out.publication = publication_choices(case)
    if may(me, "read"):
        for a, u in rows:
            if u.code == mine and a.role != AssignmentRole.BUREAU and a.state in (
                    S.DISPATCHED, S.READ, S.DRAFTED, S.APPROVED, S.REDO):
                out.work.append(unit_work(me, a, now))
    return out


def unit_work(me: Principal, a: Assignment, now: Any) -> UnitWork:
    if a.role == AssignmentRole.COORDINATION:  # R8.8: an opinion, not an answer to draft
        return UnitWork(a, read=a.state == S.DISPATCHED,
                        coordinate=a.state in (S.DISPATCHED, S.READ) and may(me, "coordinate"))
    work = UnitWork(a, read=a.state == S.DISPATCHED,
                    draft=a.state in (S.READ, S.DRAFTED, S.APPROVED, S.REDO),
                    approve=a.state == S.DRAFTED and may(me, "approve"),
                    submit=a.state == S.APPROVED)
    if a.state in (S.DISPATCHED, S.READ) and a.role != AssignmentRole.COORDINATION:
        if a.return_refused:
            work.return_closed = "信访局已不同意退回，本单位须继续办理（R8.3b）。"
        elif a.return_until is not None and now >= a.return_until:
            work.return_closed = "退回期限（交办后 2 个工作日，R8.3a）已过。"
        else:
            work.ret = True
    return work


def publication_choices(case: Case) -> list[str]:
    """R9.2a: internal → original channel only; R9.2b: the unit proposed not publishing →
    the bureau chooses; R9.3: otherwise published and sent."""
    if is_internal(case):
        return ["original_only"]
    if case.unit_proposes_private:
        return ["publish", "original_only"]
    return ["publish"]


def unit_groups(units: list[Unit], allowed: frozenset[str], *, parent: str | None = None
                ) -> list[tuple[str, list[Unit]]]:
    picked = [u for u in units if u.kind in allowed and (parent is None or u.parent_code == parent)]
    groups = [(label, [u for u in picked if u.kind in kinds]) for label, kinds in KIND_GROUPS]
    return [(label, members) for label, members in groups if members]


async def dispatch_context(session: AsyncSession, me: Principal, case: Case, units: list[Unit]
                           ) -> dict[str, Any]:
    if me.role == Role.CITY_BUREAU:
        targets = unit_groups([u for u in units if u.kind == UnitKind.DISTRICT_BUREAU or u.district is None],
                              frozenset(CITY_LEVEL | {UnitKind.DISTRICT_BUREAU}))
        co = unit_groups([u for u in units if u.district is None], frozenset(HANDLING_KINDS))
        suggestions = await suggest_units(session, case)
    else:
        targets = co = unit_groups(units, frozenset(HANDLING_KINDS), parent=me.unit_code)
        suggestions = await suggest_units(session, case, within=me.unit_code)
    return {"targets": targets, "co_targets": co, "suggestions": suggestions}


async def repeats_of(session: AsyncSession, me: Principal, case: Case) -> list[special.Repeat]:
    """Earlier similar items of the same citizen that the viewer may see (R8.5)."""
    found = await special.find_repeats(session, case.number)
    shown = set((await session.execute(select(Case.number).where(
        Case.number.in_([r.number for r in found]), visible(me)))).scalars())
    return [r for r in found if r.number in shown]


async def case_page(request: web.Request) -> web.Response:
    """GET /desk/cases/{number}: the case, its assignments, clocks, history and my actions."""
    me = current(request).principal
    deps = request.app[DESK]
    number = request.match_info["number"]
    clk = Clocks(deps.calendar.zone, deps.ctx.clock.now())
    async with deps.sessionmaker() as session:
        seen = (await session.execute(select(Case.id).where(Case.number == number, visible(me)))).first()
        detail = await case_detail(session, number) if seen else None
        if detail is None:
            raise web.HTTPNotFound(text="没有这个案件，或您无权查看 (no such case)")
        case = detail.case
        units = list((await session.execute(select(Unit).where(Unit.active.is_(True))
                                            .order_by(Unit.id))).scalars())
        city = next((u.code for u in units if u.kind == UnitKind.CITY_BUREAU), "")
        actions = actions_for(me, detail, city=city, now=clk.now)
        parts = list((await session.execute(select(Case.number).where(
            Case.parent_case_id == case.id).order_by(Case.number))).scalars())
        parent = (await session.get(Case, case.parent_case_id)) if case.parent_case_id else None
        extra: dict[str, Any] = {"targets": [], "co_targets": [], "suggestions": []}
        if actions.dispatch or actions.returns:
            extra = await dispatch_context(session, me, case, units)
        repeats = await repeats_of(session, me, case) if actions.stop else []
    names = {u.code: u.name for u in units}
    public_summary, public_answer = public_texts(case) if actions.publication else ("", "")
    return render(request, "desk_case.html", {
        "public_summary": public_summary, "public_answer": public_answer,
        "case": case, "detail": detail, "actions": actions, "clk": clk, "names": names,
        "parts": parts, "parent": parent.number if parent else None, "repeats": repeats,
        "answered_before": sum(1 for r in repeats if r.answered),
        "stop_threshold": rules.REPEAT_ANSWERS_BEFORE_STOP,
        "contact": contact_for(me.role, case.reply_address or case.sender),
        "sender": contact_for(me.role, case.sender),
        "internal": is_internal(case), "not_accepted": rules.NOT_ACCEPTED_REASONS,
        "internal_reasons": rules.INTERNAL_REASONS, "channels": CHANNELS, "statuses": CASE_STATUS,
        "states": ASSIGNMENT_STATE, "roles": ASSIGNMENT_ROLE, "events": EVENT_ACTION,
        "return_units": [u for u in units if u.kind in CITY_LEVEL | {UnitKind.DISTRICT_BUREAU,
                                                                      UnitKind.DISTRICT_UNIT}],
        "city_units": [u for u in units if u.kind in CITY_LEVEL and u.district is None],
        "notice_kinds": NOTICE_KIND, "notice_status": NOTICE_STATUS,
        "unit_of": {a.id: u for a, u in detail.assignments},
        "mask": lambda value: contact_for(me.role, value), **extra})


__all__ = ["Actions", "Suggestion", "actions_for", "case_page", "publication_choices"]
