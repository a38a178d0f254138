"""The efficiency office's findings over HTTP: list, decide, contest, issue a notice by hand.

Same order of checks as every API action (``desks.api.actions``): authenticate
(401), the role may ask at all (403), the finding is within the caller's
supervision or is the caller's unit's own (404 alike for "absent" and "not
yours"), then ``forwarder.findings`` decides (bad input 400, out of its
district 403, wrong state or closed window 409). The functions taking
``(session, ctx, finding, principal, body)`` are shared with the desk's forms and
``hotline findings``, so the three doors check the same things.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from aiohttp import web
from sqlalchemy import ColumnElement, false, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from contract.normalise import whole_number
from desks.access.deps import API
from desks.access.errors import ApiError, json_reply
from desks.access.permissions import require_role
from desks.access.principal import Principal
from desks.api.http import Handler, Json, optional_text, parse_body, read_body, target_post, text, transaction
from forwarder import findings
from forwarder.charges import month_window
from forwarder.workflow_base import Context
from registrar.models import Case, Role, Unit
from registrar.models_supervision import Decision, Finding, FindingDecision, FindingStatus

FindingCall = Callable[[AsyncSession, Context, Finding, Principal, Json], Awaitable[Json]]


def finding_scope(principal: Principal) -> ColumnElement[bool]:
    """A filter on the charged ``Unit``: a city office, the city bureau and admins see all
    findings; a district office its district's; a unit its own; nobody else any."""
    if principal.role in (Role.CITY_BUREAU, Role.ADMIN):
        return true()
    if principal.role == Role.EFFICIENCY and principal.unit_code:
        return true() if principal.unit_district is None else Unit.district == principal.unit_district
    if principal.role in findings.UNIT_ROLES and principal.unit_code:
        return Unit.code == principal.unit_code
    return false()


async def visible_finding(session: AsyncSession, principal: Principal, raw_id: str) -> Finding:
    """The finding if the caller may see it; 404 alike for "absent" and "not yours"."""
    finding_id = whole_number(raw_id)
    row = None if finding_id is None else (await session.execute(
        select(Finding).join(Unit, Unit.id == Finding.unit_id)
        .where(Finding.id == finding_id, finding_scope(principal)))).scalar_one_or_none()
    if row is None:
        raise ApiError.not_found(f"no finding {raw_id}")
    return row


@dataclass(frozen=True, slots=True)
class FindingView:
    """A finding with what a reader needs: its unit, case, history and contest window."""

    finding: Finding
    unit: Unit
    late_unit: str | None
    case_number: str | None
    history: list[FindingDecision]
    contest_until: datetime

    @property
    def contested_before(self) -> bool:
        return any(d.decision == Decision.CONTEST for d in self.history)

    def contestable(self, now: datetime) -> bool:
        """Whether the unit may still contest it (once, in time, while it stands)."""
        return (self.finding.status in findings.CONTESTABLE and not self.contested_before
                and now < self.contest_until)


def month_scope(month: str, zone: Any) -> tuple[datetime, datetime]:
    """``YYYY-MM`` → the month's ``[start, end)`` in the city's zone; 400 otherwise."""
    try:
        first = date.fromisoformat(f"{month}-01")
    except ValueError:
        raise ApiError.invalid("month is YYYY-MM") from None
    if len(month) != 7:
        raise ApiError.invalid("month is YYYY-MM")
    return month_window(first, zone)


def scope_from(principal: Principal, params: dict[str, str], zone: Any) -> findings.Scope:
    """The list's filters (status, unit, month) within what the caller may see."""
    status = params.get("status", "").strip()
    if status and status not in set(FindingStatus):
        raise ApiError.invalid(f"unknown status {status!r}; one of {', '.join(FindingStatus)}")
    since = before = None
    if month := params.get("month", "").strip():
        since, before = month_scope(month, zone)
    unit = params.get("unit", "").strip() or None
    if principal.role in findings.UNIT_ROLES:
        unit = principal.unit_code  # a unit sees its own findings, whatever it asks
    elif principal.role not in (Role.EFFICIENCY, Role.CITY_BUREAU, Role.ADMIN):
        unit = ""  # no unit has this code: nothing (``finding_scope`` says the same)
    district = principal.unit_district if principal.role == Role.EFFICIENCY else None
    return findings.Scope(status=FindingStatus(status) if status else None, district=district,
                          unit_code=unit, since=since, before=before)


async def finding_views(session: AsyncSession, ctx: Context, scope: findings.Scope, *,
                        limit: int = 500) -> list[FindingView]:
    """The findings in ``scope`` with their history, case numbers and windows (four queries)."""
    rows = await findings.findings_of(session, scope, limit=limit)
    history = await findings.history_of(session, [f.id for f, _ in rows])
    case_ids = {f.case_id for f, _ in rows if f.case_id is not None}
    numbers = dict((await session.execute(select(Case.id, Case.number).where(
        Case.id.in_(case_ids)))).all()) if case_ids else {}
    late_ids = {f.late_unit_id for f, _ in rows if f.late_unit_id is not None}
    codes = dict((await session.execute(select(Unit.id, Unit.code).where(
        Unit.id.in_(late_ids)))).all()) if late_ids else {}
    return [FindingView(f, u, codes.get(f.late_unit_id) if f.late_unit_id else None,
                        numbers.get(f.case_id) if f.case_id else None, history[f.id],
                        findings.contest_until(f, ctx.due, ctx.contest_days)) for f, u in rows]


def _t(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def finding_json(view: FindingView, now: datetime) -> Json:
    f = view.finding
    return {"id": f.id, "kind": f.kind, "status": f.status, "unit": view.unit.code,
            "unit_name": view.unit.name, "late_unit": view.late_unit, "case": view.case_number,
            "persons": f.persons, "reason": f.reason, "created_at": _t(f.created_at),
            "decided_at": _t(f.decided_at), "contest_until": _t(view.contest_until),
            "contestable": view.contestable(now),
            "history": [{"decision": d.decision, "reason": d.reason, "by": d.decided_by,
                         "at": _t(d.at), "data": d.data} for d in view.history]}


async def one_json(session: AsyncSession, ctx: Context, finding: Finding) -> Json:
    [view] = await finding_views(session, ctx, findings.Scope(finding_id=finding.id))
    return {"finding": finding_json(view, ctx.clock.now())}


# --- the actions, shared by the API, the desk and the command line ------------------------


async def decide(s: AsyncSession, ctx: Context, finding: Finding, p: Principal, body: Json) -> Json:
    """Confirm, waive, judge a lead unit's refusal (R11.2b), or uphold / withdraw a contest."""
    raw = text(body, "decision")
    try:
        decision = Decision(raw)
    except ValueError:
        raise ApiError.invalid(f"unknown decision {raw!r}") from None
    reason = text(body, "reason")
    if decision in findings.ANSWERS:
        await findings.answer_contest(s, finding.id, decision, reason=reason, actor=p.actor,
                                      at=ctx.clock.now())
    else:
        await findings.decide(s, finding.id, decision, reason=reason, actor=p.actor, at=ctx.clock.now())
    return await one_json(s, ctx, finding)


async def contest(s: AsyncSession, ctx: Context, finding: Finding, p: Principal, body: Json) -> Json:
    """The charged unit contests, with its reason, within the window."""
    await findings.contest(s, finding.id, reason=text(body, "reason"), actor=p.actor,
                           at=ctx.clock.now(), due=ctx.due, days=ctx.contest_days)
    return await one_json(s, ctx, finding)


async def hand_notice(s: AsyncSession, ctx: Context, p: Principal, body: Json) -> Json:
    """A notice (通报) by hand to a unit the office supervises (R11.1)."""
    made = await findings.issue_notice(s, text(body, "unit"), reason=text(body, "reason"), actor=p.actor,
                                       at=ctx.clock.now(), case_number=optional_text(body, "case"))
    return await one_json(s, ctx, made)


# --- the routes -------------------------------------------------------------------------


async def list_findings(request: web.Request) -> web.Response:
    """GET /api/findings?status=&unit=&month=YYYY-MM: newest first, with their history."""
    ctx: Context = request.config_dict[API].ctx
    async with transaction(request, write=False) as (session, principal):
        require_role(principal, "findings")
        scope = scope_from(principal, dict(request.query), ctx.clock.now().tzinfo)
        views = await finding_views(session, ctx, scope)
        body = {"findings": [finding_json(v, ctx.clock.now()) for v in views]}
    return json_reply(body)


def finding_post(action: str, call: FindingCall) -> Handler:
    return target_post(action, "id", visible_finding, call)


async def post_notice(request: web.Request) -> web.Response:
    """POST /api/findings/notice {unit, reason, case?}: a hand notice (efficiency office)."""
    raw = await read_body(request)
    async with transaction(request, write=True) as (session, principal):
        require_role(principal, "hand_notice")
        body = parse_body(raw)
        result = await hand_notice(session, request.config_dict[API].ctx, principal, body)
    return json_reply(result)


def add_finding_routes(app: web.Application) -> None:
    app.router.add_get("/findings", list_findings)
    app.router.add_post("/findings/notice", post_notice)
    app.router.add_post("/findings/{id}/decide", finding_post("decide_finding", decide))
    app.router.add_post("/findings/{id}/contest", finding_post("contest_finding", contest))

