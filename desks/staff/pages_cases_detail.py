"""One case on the desk: what it says, who holds it, its clocks and history, and what I may do.

The page offers exactly the actions ``forwarder.allowed`` says the viewer may
take now (so nobody sees a button that can only fail, and nothing here
re-derives a rule); each is a ``<form data-api>`` that posts to the JSON API,
which checks everything again.
A case the viewer may not see is 404, as in the API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from config.organisation import UnitKind
from desks.access.permissions import visible
from desks.access.principal import Principal
from desks.staff.auth_pages import render
from desks.staff.deps import DESK, current
from desks.staff.history_view import history_lines
from desks.staff.pages_cases_view import (
    ANSWER_TEMPLATES,
    ASSIGNMENT_ROLE,
    ASSIGNMENT_STATE,
    CASE_STATUS,
    CHANNELS,
    EVENT_ACTION,
    IMAGE_TYPES,
    NOTICE_KIND,
    NOTICE_STATUS,
    Clocks,
    contact_for,
    is_internal,
    voice_transcript,
)
from forwarder import rules
from forwarder import workflow_special as special
from forwarder.allowed import Allowed, allowed_actions, case_facts
from forwarder.callbacks import FOLLOW_UPS
from forwarder.routing import Suggestion, suggest_units
from forwarder.workflow import CITY_LEVEL, HANDLING_KINDS, public_texts
from registrar.models import Assignment, AssignmentRole, AssignmentState, Case, Role, Unit
from registrar.queries import CaseDetail, case_detail

S = AssignmentState
PHOTO_NOTES = {"added": ("ok", "现场照片已附在答复中。"),
               "refused": ("error", "未能添加照片：请选择 10 MB 以内的 JPEG、PNG、WEBP 或 GIF 照片。")}
KIND_GROUPS: tuple[tuple[str, frozenset[str]], ...] = (
    ("市直单位", frozenset({UnitKind.CITY_UNIT})),
    ("区信访局", frozenset({UnitKind.DISTRICT_BUREAU})),
    ("纪委监委、效能办、政府办公厅", frozenset({UnitKind.DISCIPLINE, UnitKind.EFFICIENCY,
                                         UnitKind.GOV_OFFICE})),
    ("区直单位", frozenset({UnitKind.DISTRICT_UNIT})),
)


@dataclass(slots=True)
class UnitWork:
    """One of my unit's assignments and the steps open to me on it (R8.1–R8.3, R8.8)."""

    assignment: Assignment
    read: bool = False
    draft: bool = False
    approve: bool = False
    approve_submit: bool = False
    submit: bool = False
    ret: bool = False
    return_closed: str = ""
    coordinate: bool = False
    """R8.8: the government office's opinion on an item escalated to it."""


@dataclass(slots=True)
class Actions:
    """What the page offers the viewer: the ``ok`` entries of ``forwarder.allowed``."""

    screen: bool = False
    screen_and_dispatch: bool = False
    """R4.3 + R7.2 in one form: accept and name the handling unit with one press."""
    not_accept: bool = False
    dispatch: bool = False
    split: bool = False
    stop: bool = False
    stop_panel: bool = False
    """R8.5: the repeats panel, shown to whoever could stop but for the count (R8.5a)."""
    escalate: bool = False
    district_return: Assignment | None = None
    publication: list[str] = field(default_factory=list)
    callback_follow_up: list[str] = field(default_factory=list)
    """R12: the follow-ups open on a dissatisfied call-back (review, redo, efficiency office)."""
    reviews: list[Assignment] = field(default_factory=list)
    returns: list[Assignment] = field(default_factory=list)
    return_accept_closed: dict[int, str] = field(default_factory=dict)
    """R8.3d: returns the bureau may only refuse now, with the reason."""
    work: list[UnitWork] = field(default_factory=list)

    @property
    def any(self) -> bool:
        return bool(self.screen or self.not_accept or self.dispatch or self.split or self.stop_panel
                    or self.escalate or self.district_return or self.publication or self.reviews
                    or self.returns or self.work or self.callback_follow_up)


#: Why a unit may no longer return an item, as the desk says it (R8.3a, R8.3b).
RETURN_CLOSED = {"R8.3b": "信访局已不同意退回，本单位须继续办理（R8.3b）。",
                 "R8.3a": "退回期限（交办后 2 个工作日，R8.3a）已过。"}
UNIT_STEPS = ("read", "draft", "approve", "approve_submit", "submit", "return", "coordinate")


def actions_for(allowed: list[Allowed], detail: CaseDetail) -> Actions:
    """The page's view of what the workflow allows the viewer now (it never re-derives a rule)."""
    judged = {(a.action, a.target): a for a in allowed}
    number, out = detail.case.number, Actions()

    def ok(action: str, target: str | int) -> bool:
        entry = judged.get((action, target))
        return entry is not None and entry.ok

    out.screen, out.not_accept = ok("accept", number), ok("not_accept", number)
    out.screen_and_dispatch = ok("accept_dispatch", number)
    out.dispatch, out.split = ok("dispatch", number), ok("split", number)
    out.escalate, out.stop = ok("escalate", number), ok("stop", number)
    out.stop_panel = out.stop or judged[("stop", number)].reason.startswith("R8.5b")
    if ok("publication", number):
        out.publication = list(judged[("publication", number)].choices)
    if ok("callback_follow_up", number):
        out.callback_follow_up = list(judged[("callback_follow_up", number)].choices)
    for a, _unit in detail.assignments:
        if ok("review", a.id):
            out.reviews.append(a)
        if ok("return_decision", a.id):
            out.returns.append(a)
            if "accept" not in judged[("return_decision", a.id)].choices:
                out.return_accept_closed[a.id] = "R8.3d"
        if a.role == AssignmentRole.BUREAU:
            if ok("return", a.id):
                out.district_return = a
            continue
        steps = {step: ok(step, a.id) for step in UNIT_STEPS}
        if any(steps.values()):
            work = UnitWork(a, read=steps["read"], draft=steps["draft"], approve=steps["approve"],
                            approve_submit=steps["approve_submit"],
                            submit=steps["submit"], ret=steps["return"],
                            coordinate=steps["coordinate"])
            if not work.ret and a.state in (S.DISPATCHED, S.READ):
                work.return_closed = RETURN_CLOSED.get(judged[("return", a.id)].reason[:5], "")
            out.work.append(work)
    return out


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


#: The assignment states that still owe the viewer's unit something, by role.
OWED = {Role.CITY_BUREAU: (S.QUEUED,), Role.DISTRICT_BUREAU: (S.QUEUED,),
        Role.UNIT_HANDLER: (S.DISPATCHED, S.READ, S.APPROVED, S.REDO),
        Role.UNIT_LEADER: (S.DRAFTED,)}


async def next_item(session: AsyncSession, me: Principal, case: Case) -> str | None:
    """The next case waiting on the viewer's unit, oldest first: where to go after an action."""
    states = OWED.get(Role(me.role)) if me.role in OWED else None
    if not states or me.unit_code is None:
        return None
    number: str | None = (await session.execute(
        select(Case.number).join(Assignment, Assignment.case_id == Case.id)
        .join(Unit, Unit.id == Assignment.unit_id)
        .where(Unit.code == me.unit_code, Assignment.state.in_(states), Case.id != case.id)
        .order_by(Case.registered_at, Case.id).limit(1))).scalar_one_or_none()
    return number


async def repeats_of(session: AsyncSession, me: Principal, case: Case) -> list[special.Repeat]:
    """Every earlier item of the same citizen the viewer may see, likeliest repeat first (R8.5)."""
    found = await special.earlier_cases(session, case.number)
    shown = set((await session.execute(select(Case.number).where(
        Case.number.in_([r.number for r in found]), visible(me)))).scalars())
    return [r for r in found if r.number in shown]


async def case_page(request: web.Request) -> web.Response:
    """GET /desk/cases/{number}: the case, its assignments, clocks, history and my actions."""
    me = current(request).principal
    deps = request.app[DESK]
    number = request.match_info["number"]
    clk = Clocks(deps.calendar.zone, deps.ctx.clock.now(), deps.calendar)
    async with deps.sessionmaker() as session:
        seen = (await session.execute(select(Case.id).where(Case.number == number, visible(me)))).first()
        detail = await case_detail(session, number) if seen else None
        if detail is None:
            raise web.HTTPNotFound(text="没有这个案件，或您无权查看")
        case = detail.case
        units = list((await session.execute(select(Unit).where(Unit.active.is_(True))
                                            .order_by(Unit.id))).scalars())
        city = next((u.code for u in units if u.kind == UnitKind.CITY_BUREAU), "")
        clocks = deps.ctx.clocks_at(clk.now)
        allowed = allowed_actions(me.caller, await case_facts(
            session, detail, city_code=city, caller=me.caller), clk.now, clocks=clocks)
        actions = actions_for(allowed, detail)
        parts = list((await session.execute(select(Case.number).where(
            Case.parent_case_id == case.id).order_by(Case.number))).scalars())
        parent = (await session.get(Case, case.parent_case_id)) if case.parent_case_id else None
        extra: dict[str, Any] = {"targets": [], "co_targets": [], "suggestions": []}
        if actions.dispatch or actions.returns or actions.screen_and_dispatch:
            extra = await dispatch_context(session, me, case, units)
        repeats = await repeats_of(session, me, case) if actions.stop_panel else []
        following = await next_item(session, me, case)
    names = {u.code: u.name for u in units}
    public_summary, public_answer = public_texts(case) if actions.publication else ("", "")
    return render(request, "desk_case.html", {
        "public_summary": public_summary, "public_answer": public_answer,
        "case": case, "detail": detail, "actions": actions, "clk": clk, "names": names,
        "history": history_lines(detail.events, names, channel=case.channel),
        "next_item": following,
        "answer_photos": {str((e.data or {}).get("sha256")) for e in detail.events
                          if e.action == "answer_photo"},
        "image_types": IMAGE_TYPES, "transcript": voice_transcript(case),
        "answer_templates": ANSWER_TEMPLATES,
        "photo_note": PHOTO_NOTES.get(request.query.get("photo", ""), ("", "")),
        "parts": parts, "parent": parent.number if parent else None, "repeats": repeats,
        "answered_before": sum(1 for r in repeats if r.answered and r.repeat),
        "stop_threshold": clocks.repeat_answers_before_stop,
        "follow_ups": FOLLOW_UPS, "redo_days": clocks.redo_days,
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


__all__ = ["Actions", "Suggestion", "actions_for", "case_page"]
