"""The read endpoints (search, one case, repeats, units) and the API sub-application.

Search pages with ``LIMIT n+1`` instead of counting, so a page view never
scans all cases (DESIGN.md: dashboards that never scan all cases per view).
"""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import Select, select, union

from contract.normalise import InvalidInput, normalise_phone, whole_number
from desks.access.deps import API
from desks.access.errors import ApiError, json_reply
from desks.access.permissions import assigned_to_unit, require_role, visible
from desks.access.principal import Principal
from desks.api.actions import add_action_routes, visible_case
from desks.api.findings import add_finding_routes
from desks.api.http import json_errors, transaction
from desks.api.serialise import (
    allowed_json,
    assignment_json,
    case_full,
    case_summary,
    deadline_json,
    event_json,
    notice_json,
    unit_json,
)
from forwarder import workflow_special as special
from forwarder.allowed import allowed_on
from registrar.db import serial_plan
from registrar.models import Case, CaseContact, CaseStatus, Contact, Unit
from registrar.queries import case_detail

PAGE_SIZE = 50


def search_query(principal: Principal, params: dict[str, str]) -> Select[Case]:
    """The caller's visible cases, filtered by status, unit, text, number prefix and phone."""
    query = select(Case).where(visible(principal))
    if status := params.get("status", "").strip():
        if status not in set(CaseStatus):
            raise ApiError.invalid(f"unknown status {status!r}; one of {', '.join(CaseStatus)}")
        query = query.where(Case.status == status)
    if unit := params.get("unit", "").strip():
        query = query.where(assigned_to_unit(unit))
    if q := params.get("q", "").strip():
        query = query.where(Case.text.contains(q, autoescape=True))
    if number := params.get("number", "").strip():
        query = query.where(Case.number.startswith(number, autoescape=True))
    if phone := params.get("phone", "").strip():
        try:
            e164 = normalise_phone(phone)
        except InvalidInput as exc:
            raise ApiError.invalid(str(exc)) from None
        # One indexed lookup per place a number is kept, then the few cases found: an OR over
        # the case row would read every case, newest first, looking for a rare number.
        by_contact = (select(CaseContact.case_id).join(Contact, Contact.id == CaseContact.contact_id)
                      .where(Contact.address == e164))
        found = union(select(Case.id).where(Case.sender == e164),
                      select(Case.id).where(Case.reply_address == e164), by_contact)
        query = query.where(Case.id.in_(found))
    return query


def page_number(params: dict[str, str]) -> int:
    page = whole_number(params.get("page", "1"), maximum=1_000_000)
    if page is None or page < 1:
        raise ApiError.invalid("page is a whole number from 1 to 1000000")
    return page


async def list_cases(request: web.Request) -> web.Response:
    """GET /api/cases: newest first, ``PAGE_SIZE`` a page, only what the caller may see."""
    params = dict(request.query)
    page = page_number(params)
    async with transaction(request, write=False) as (session, principal):
        await serial_plan(session)
        query = (search_query(principal, params)
                 .order_by(Case.registered_at.desc(), Case.id.desc())
                 .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1))
        rows = list((await session.execute(query)).scalars())
    return json_reply({"cases": [case_summary(c) for c in rows[:PAGE_SIZE]], "page": page,
                              "page_size": PAGE_SIZE, "has_more": len(rows) > PAGE_SIZE})


async def get_case(request: web.Request) -> web.Response:
    """GET /api/cases/{number}: the case with assignments, deadlines, events and notices."""
    async with transaction(request, write=False) as (session, principal):
        case = await visible_case(session, principal, request.match_info["number"])
        detail = await case_detail(session, case.number)
        assert detail is not None
        parts = list((await session.execute(select(Case.number).where(
            Case.parent_case_id == case.id).order_by(Case.number))).scalars())
        parent = (await session.get(Case, case.parent_case_id)) if case.parent_case_id else None
        body = {
            "case": case_full(case), "parent": parent.number if parent else None, "parts": parts,
            "attachments": [{"filename": a.filename, "content_type": a.content_type,
                             "size": a.size, "sha256": a.sha256} for a in case.attachments],
            "assignments": [assignment_json(a, u) for a, u in detail.assignments],
            "deadlines": [deadline_json(d) for d in detail.deadlines],
            "events": [event_json(e) for e in detail.events],
            "notices": [notice_json(n) for n in detail.notices],
        }
    return json_reply(body)


async def repeats(request: web.Request) -> web.Response:
    """GET /api/cases/{number}/repeats: earlier similar items of the same citizen (R8.5)."""
    async with transaction(request, write=False) as (session, principal):
        require_role(principal, "repeats")
        case = await visible_case(session, principal, request.match_info["number"])
        found = await special.find_repeats(session, case.number)
        # Only repeats the caller may see: an internal earlier item stays hidden.
        shown = set((await session.execute(select(Case.number).where(
            Case.number.in_([r.number for r in found]), visible(principal)))).scalars())
        listed = [r for r in found if r.number in shown]
        body = {"number": case.number, "answered_before": sum(1 for r in listed if r.answered),
                "repeats": [{"number": r.number, "status": r.status, "similarity": r.similarity,
                             "answered": r.answered} for r in listed]}
    return json_reply(body)


async def list_actions(request: web.Request) -> web.Response:
    """GET /api/cases/{number}/actions: every action on the case and its assignments, each
    ``ok`` or refused with the workflow's reason (``forwarder.allowed``, as the desk shows)."""
    async with transaction(request, write=False) as (session, principal):
        case = await visible_case(session, principal, request.match_info["number"])
        detail = await case_detail(session, case.number)
        assert detail is not None
        ctx = request.config_dict[API].ctx
        now = ctx.clock.now()
        allowed = await allowed_on(session, principal.caller, detail, now,
                                   clocks=ctx.clocks_at(now))
    return json_reply({"number": case.number, "actions": [allowed_json(a) for a in allowed]})


async def list_units(request: web.Request) -> web.Response:
    """GET /api/units: the active organisation, for dispatch pickers."""
    async with transaction(request, write=False) as (session, _principal):
        units = (await session.execute(select(Unit).where(Unit.active.is_(True)).order_by(Unit.id))
                 ).scalars()
        body = {"units": [unit_json(u) for u in units]}
    return json_reply(body)


def api_app() -> web.Application:
    """The sub-application mounted at /api/ (its middleware answers every error as JSON)."""
    app = web.Application(middlewares=[json_errors])
    app.router.add_get("/cases", list_cases)
    app.router.add_get("/cases/{number}", get_case)
    app.router.add_get("/cases/{number}/repeats", repeats)
    app.router.add_get("/cases/{number}/actions", list_actions)
    app.router.add_get("/units", list_units)
    add_action_routes(app)
    add_finding_routes(app)
    return app
