"""The administrator's desk: units and roster (R10.2), accounts, routing keywords, the calendar,
the Open311 API's client keys.

Administration has no JSON API yet, so these pages post plain forms (with the
session's CSRF field, checked by the ``signed_in`` middleware) to handlers that
check the admin role themselves and call ``forwarder.admin`` in one
transaction. A refused change re-renders the page with the reason (400); a
done one redirects (303) to the page with a fixed message key, never with text
taken from the request.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from config.organisation import UnitKind
from contract.normalise import whole_number
from desks.access import users
from desks.access.accounts import ROLE_UNIT_KINDS
from desks.access.forms import read_form
from desks.staff.auth_pages import render, see_other
from desks.staff.deps import DESK, current
from forwarder import admin
from forwarder.calendar_check import calendar_check, unconfirmed_years
from forwarder.calendar_overrides import SHIPPED_FILE
from registrar import open311_clients
from registrar.models import Account, Role, RosterEntry, Unit

KIND_NAMES: dict[str, str] = {
    UnitKind.SERVICE_CENTRE: "12345 服务中心", UnitKind.CITY_BUREAU: "市信访局",
    UnitKind.DISTRICT_BUREAU: "区信访局", UnitKind.CITY_UNIT: "市直单位",
    UnitKind.DISTRICT_UNIT: "区直单位", UnitKind.DISCIPLINE: "纪委监委",
    UnitKind.EFFICIENCY: "效能办", UnitKind.GOV_OFFICE: "政府办公厅",
}
ROLE_NAMES: dict[str, str] = {
    Role.AGENT: "话务员", Role.CITY_BUREAU: "市信访局", Role.DISTRICT_BUREAU: "区信访局",
    Role.UNIT_HANDLER: "单位经办人", Role.UNIT_LEADER: "单位分管领导", Role.DISCIPLINE: "纪委监委",
    Role.EFFICIENCY: "效能办", Role.ADMIN: "系统管理员",
}
DUTY_NAMES = {"principal": "主要领导", "leader": "分管领导", "handler": "经办人"}
DONE: dict[str, str] = {
    "appointed": "已任命，记录已保存。", "relieved": "已卸任，记录保留在历史中。",
    "keywords": "关键词已保存。", "unit_active": "单位状态已更新。",
    "leader_submits": "答复报送方式已更新。",
    "account_active": "账号状态已更新。", "tokens": "该账号的 API 令牌已全部吊销。",
}


def require_admin(request: web.Request) -> None:
    """Administration is for the admin role only (R10.2 changes the record of responsibility)."""
    if current(request).principal.role != Role.ADMIN:
        raise web.HTTPForbidden(text="仅系统管理员可用")


def local_day(request: web.Request, text: str) -> datetime:
    """A date from a form as the start of that day in the city's zone (an effective moment)."""
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise admin.AdminError("请填写有效日期 YYYY-MM-DD (give a date)") from None
    return datetime.combine(day, time(0), tzinfo=request.app[DESK].calendar.zone)


def now(request: web.Request) -> datetime:
    return request.app[DESK].ctx.clock.now()


async def form(request: web.Request) -> dict[str, str]:
    return {k: str(v) for k, v in (await read_form(request)).items() if isinstance(v, str)}


def _done(request: web.Request) -> str:
    return DONE.get(request.query.get("done", ""), "")


# --- units and roster ---------------------------------------------------------------------


async def units_page(request: web.Request) -> web.Response:
    """All units by kind and district, each with its leader on duty today; leaderless ones in red."""
    require_admin(request)
    moment = now(request)
    async with request.app[DESK].sessionmaker() as session:
        units = list((await session.execute(select(Unit).order_by(Unit.district.nulls_first(), Unit.id))
                      ).scalars())
        on_duty = (await session.execute(select(RosterEntry.unit_id, RosterEntry.duty,
                                                RosterEntry.person_name).where(
            RosterEntry.valid_from <= moment,
            (RosterEntry.valid_to.is_(None)) | (RosterEntry.valid_to > moment)))).all()
    leaders: dict[int, list[str]] = {}
    handlers: dict[int, int] = {}
    for unit_id, duty, person in on_duty:
        if duty == "leader":
            leaders.setdefault(unit_id, []).append(person)
        else:
            handlers[unit_id] = handlers.get(unit_id, 0) + 1
    groups: dict[str, list[Unit]] = {}
    for unit in units:
        groups.setdefault(unit.district or "市级", []).append(unit)
    return render(request, "desk_admin.html", {
        "groups": groups, "leaders": leaders, "handlers": handlers, "kinds": KIND_NAMES})


async def _unit_context(session: AsyncSession, request: web.Request, code: str) -> dict[str, Any]:
    unit = (await session.execute(select(Unit).where(Unit.code == code))).scalar_one_or_none()
    if unit is None:
        raise web.HTTPNotFound(text="没有这个单位")
    history = await admin.roster_history(session, unit)
    moment = now(request)
    ids = {i for e in history for i in (*admin.ReportLine.unpack(e.reported_by).to,
                                        *admin.ReportLine.unpack(e.reported_by).cc)}
    names = dict((await session.execute(select(Unit.id, Unit.name).where(Unit.id.in_(ids)))).all()
                 ) if ids else {}
    to, cc = await admin.reporting_line(session, unit)
    zone = request.app[DESK].calendar.zone

    def row(e: RosterEntry) -> dict[str, Any]:
        line = admin.ReportLine.unpack(e.reported_by)
        state = ("future" if e.valid_from > moment else
                 "ended" if e.valid_to is not None and e.valid_to <= moment else "current")
        return {"id": e.id, "person": e.person_name, "duty": DUTY_NAMES.get(e.duty, e.duty),
                "from": e.valid_from.astimezone(zone).strftime("%Y-%m-%d"),
                "to": e.valid_to.astimezone(zone).strftime("%Y-%m-%d") if e.valid_to else "",
                "state": state,
                "reporter": "初始名册（组织配置文件）" if line.reporter == "config" else line.reporter,
                "relieved_by": line.relieved_by or "",
                "reported_to": [names.get(i, f"#{i}") for i in line.to],
                "copied_to": [names.get(i, f"#{i}") for i in line.cc],
                "closable": e.valid_to is None}
    rows = [row(e) for e in history]
    return {"unit": unit, "kind": KIND_NAMES.get(unit.kind, unit.kind),
            "current": [r for r in rows if r["state"] == "current"],
            "open": [r for r in rows if r["closable"]], "history": rows,
            "gaps": admin.roster_gaps(history, moment),
            "line_to": [u.name for u in to], "line_cc": [u.name for u in cc],
            "today": moment.astimezone(zone).strftime("%Y-%m-%d"), "duties": DUTY_NAMES,
            "keywords": "、".join(unit.keywords or [])}


async def unit_page(request: web.Request) -> web.Response:
    require_admin(request)
    async with request.app[DESK].sessionmaker() as session:
        context = await _unit_context(session, request, request.match_info["code"])
    return render(request, "desk_admin_unit.html", {**context, "error": "", "done": _done(request)})


async def unit_action(request: web.Request) -> web.StreamResponse:
    """POST /desk/admin/units/{code}/{action}: appoint, relieve, keywords, active."""
    require_admin(request)
    code, action = request.match_info["code"], request.match_info["action"]
    data = await form(request)
    reporter = data.get("reporter", "") or current(request).principal.display_name
    try:
        async with request.app[DESK].sessionmaker.begin() as session:
            if action == "appoint":
                await admin.appoint(session, code, data.get("person", ""), data.get("duty", ""),
                                    effective=local_day(request, data.get("effective", "")),
                                    reported_by=reporter)
                done = "appointed"
            elif action == "relieve":
                entry_id = data.get("entry", "")
                entry_number = whole_number(entry_id)
                entry = await session.get(RosterEntry, entry_number) if entry_number else None
                unit = await admin.unit_by_code(session, code)
                if entry is None or entry.unit_id != unit.id:
                    raise admin.AdminError("请选择本单位的一条任职记录 (pick an entry of this unit)")
                await admin.relieve(session, entry.id, reported_by=reporter,
                                    effective=local_day(request, data.get("effective", "")))
                done = "relieved"
            elif action == "keywords":
                await admin.set_keywords(session, code, data.get("keywords", ""))
                done = "keywords"
            elif action == "active":
                await admin.set_unit_active(session, code, data.get("active") == "1")
                done = "unit_active"
            elif action == "leader-submits":
                await admin.set_leader_submits(session, code, data.get("on") == "1")
                done = "leader_submits"
            else:
                raise web.HTTPNotFound()
    except admin.AdminError as exc:
        async with request.app[DESK].sessionmaker() as session:
            context = await _unit_context(session, request, code)
        return render(request, "desk_admin_unit.html", {**context, "error": str(exc), "done": ""},
                      status=400)
    return see_other(f"/desk/admin/units/{code}?done={done}")


# --- accounts -----------------------------------------------------------------------------


async def _users_context(session: AsyncSession) -> dict[str, Any]:
    rows = (await session.execute(select(Account, Unit.code, Unit.name).outerjoin(
        Unit, Unit.id == Account.unit_id).order_by(Account.active.desc(), Account.username))).all()
    units = list((await session.execute(select(Unit.code, Unit.name, Unit.kind).where(
        Unit.active.is_(True)).order_by(Unit.district.nulls_first(), Unit.id))).all())
    fits = {str(role): "任意" if None in kinds else
            "/".join(KIND_NAMES.get(str(k), str(k)) for k in sorted(kinds, key=str))
            for role, kinds in ROLE_UNIT_KINDS.items()}
    return {"accounts": rows, "units": units, "roles": ROLE_NAMES, "fits": fits, "kinds": KIND_NAMES}


async def users_page(request: web.Request) -> web.Response:
    require_admin(request)
    async with request.app[DESK].sessionmaker() as session:
        context = await _users_context(session)
    return render(request, "desk_admin_users.html",
                  {**context, "error": "", "done": _done(request), "issued": None, "form": {}})


async def users_action(request: web.Request) -> web.StreamResponse:
    """POST /desk/admin/users (create) and /desk/admin/users/{id}/{action}."""
    require_admin(request)
    data = await form(request)
    me = current(request).principal
    account_id, action = request.match_info.get("id", ""), request.match_info.get("action", "create")
    issued: tuple[str, str] | None = None
    done = ""
    try:
        async with request.app[DESK].sessionmaker.begin() as session:
            if action == "create":
                account, password = await users.create_user(
                    session, username=data.get("username", ""), display_name=data.get("display_name", ""),
                    role=data.get("role", ""), unit_code=data.get("unit") or None, now=now(request))
                issued = (account.username, password)
            elif whole_number(account_id) is None:
                raise web.HTTPNotFound()
            elif action == "active":
                await users.set_account_active(session, int(account_id), data.get("active") == "1",
                                               now=now(request), by_account_id=me.account_id)
                done = "account_active"
            elif action == "password":
                account, password = await users.reset_password(session, int(account_id),
                                                             now=now(request))
                issued = (account.username, password)
            elif action == "tokens":
                await users.revoke_account_tokens(session, int(account_id), now=now(request))
                done = "tokens"
            else:
                raise web.HTTPNotFound()
    except admin.AdminError as exc:
        async with request.app[DESK].sessionmaker() as session:
            context = await _users_context(session)
        return render(request, "desk_admin_users.html",
                      {**context, "error": str(exc), "done": "", "issued": None,
                       "form": data if action == "create" else {}}, status=400)
    if issued is None:
        return see_other(f"/desk/admin/users?done={done}")
    # The password is shown in this response only, never stored in clear or put in a URL.
    async with request.app[DESK].sessionmaker() as session:
        context = await _users_context(session)
    response = render(request, "desk_admin_users.html",
                      {**context, "error": "", "done": "", "issued": issued, "form": {}})
    response.headers["Cache-Control"] = "no-store"
    return response


# --- the calendar -------------------------------------------------------------------------


async def calendar_page(request: web.Request) -> web.Response:
    """``hotline calendar check`` for this year and next, and which files to edit."""
    require_admin(request)
    deps = request.app[DESK]
    today = now(request).astimezone(deps.calendar.zone).date()
    # The site file is named in the settings the desk does not receive; where its years were
    # loaded, the calendar knows it from their origin.
    site_file = getattr(deps, "calendar_file", None)
    origins = sorted({str(o.origin) for y in (today.year, today.year + 1)
                      for o in deps.calendar._overrides(y)} - {str(SHIPPED_FILE)})
    return render(request, "desk_admin_calendar.html", {
        "lines": calendar_check(deps.calendar, today), "missing": unconfirmed_years(deps.calendar, today),
        "shipped": str(SHIPPED_FILE), "site_file": str(site_file) if site_file else "",
        "origins": origins})


# --- Open311 API clients ------------------------------------------------------------------


async def _open311_page(request: web.Request, *, error: str = "", issued: tuple[str, str] | None = None,
                        status: int = 200) -> web.Response:
    async with request.app[DESK].sessionmaker() as session:
        clients = await open311_clients.list_clients(session)
    response = render(request, "desk_admin_open311.html", {
        "clients": clients, "error": error, "issued": issued,
        "done": "已吊销。" if request.query.get("done") == "revoked" else ""}, status=status)
    response.headers["Cache-Control"] = "no-store"  # a new key is shown in this page once
    return response


async def open311_page(request: web.Request) -> web.Response:
    require_admin(request)
    return await _open311_page(request)


async def open311_action(request: web.Request) -> web.StreamResponse:
    """POST /desk/admin/open311 (add a client, its key shown once) and …/{name}/revoke."""
    require_admin(request)
    data = await form(request)
    name = request.match_info.get("name") or data.get("client_name", "")
    try:
        async with request.app[DESK].sessionmaker.begin() as session:
            if "name" in request.match_info:
                await open311_clients.revoke_client(session, name, now=now(request))
                return see_other("/desk/admin/open311?done=revoked")
            key = await open311_clients.add_client(session, name, now=now(request))
    except open311_clients.ClientError as exc:
        return await _open311_page(request, error=str(exc), status=400)
    return await _open311_page(request, issued=(name.strip(), key))


def add_admin_pages(app: web.Application) -> None:
    app.router.add_get("/desk/admin", units_page)
    app.router.add_get("/desk/admin/units/{code}", unit_page)
    app.router.add_post("/desk/admin/units/{code}/{action}", unit_action)
    app.router.add_get("/desk/admin/users", users_page)
    app.router.add_post("/desk/admin/users", users_action)
    app.router.add_post("/desk/admin/users/{id}/{action}", users_action)
    app.router.add_get("/desk/admin/calendar", calendar_page)
    app.router.add_get("/desk/admin/open311", open311_page)
    app.router.add_post("/desk/admin/open311", open311_action)
    app.router.add_post("/desk/admin/open311/{name}/revoke", open311_action)
