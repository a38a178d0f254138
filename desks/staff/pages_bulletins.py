"""The bulletins desk (issue 15.2): browse, read, download and make the R11.1 bulletins.

Who sees what: the efficiency offices, the city bureau and administrators read
every bulletin; a district bureau or district efficiency office the city's and
its own district's. The same people may make one on demand (a district for its
own district only); the worker makes the city's weekly and monthly ones on
schedule (``forwarder.bulletins.make_due``). A bulletin is served exactly as it
was stored: it is a record of what was published.
"""

from __future__ import annotations

from datetime import date

from aiohttp import web
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from desks.staff.auth_pages import render, see_other
from desks.staff.deps import DESK, current
from forwarder import bulletins
from forwarder.bulletin_render import renderer
from registrar.models import Role
from registrar.models_cockpit import Bulletin

ROLES = frozenset({Role.EFFICIENCY, Role.CITY_BUREAU, Role.ADMIN, Role.DISTRICT_BUREAU})


def own_district(request: web.Request) -> str | None:
    """The district a district member is confined to; None for the city's staff."""
    me = current(request).principal
    if me.role not in ROLES:
        raise web.HTTPForbidden(text="仅效能办、信访局和系统管理员可查阅效能通报 (supervisors only)")
    if me.role in (Role.DISTRICT_BUREAU, Role.EFFICIENCY) and me.unit_district:
        return me.unit_district
    return None


async def _visible(request: web.Request, bulletin_id: str) -> Bulletin:
    district = own_district(request)
    deps = request.app[DESK]
    try:
        wanted = int(bulletin_id)
    except ValueError:
        raise web.HTTPNotFound(text="没有这期通报") from None
    async with deps.sessionmaker() as session:
        found = await session.get(Bulletin, wanted)
    if found is None or (district is not None and found.scope not in ("", district)):
        raise web.HTTPNotFound(text="没有这期通报")
    return found


async def list_page(request: web.Request) -> web.Response:
    """GET /desk/bulletins: every bulletin this person may read, newest first."""
    district = own_district(request)
    deps = request.app[DESK]
    query = select(Bulletin.id, Bulletin.title, Bulletin.kind, Bulletin.scope, Bulletin.first_day,
                   Bulletin.last_day, Bulletin.made_by, Bulletin.created_at)
    if district is not None:
        query = query.where(or_(Bulletin.scope == "", Bulletin.scope == district))
    async with deps.sessionmaker() as session:
        rows = (await session.execute(query.order_by(Bulletin.created_at.desc(), Bulletin.id.desc())
                                      .limit(200))).all()
    today = deps.ctx.clock.now().astimezone(deps.calendar.zone).date()
    return render(request, "desk_bulletins.html", {
        "rows": rows, "kinds": bulletins.KINDS, "district": district or "", "today": today,
        "zone": deps.calendar.zone, "done": request.query.get("done", "")})


async def make_form(request: web.Request) -> web.Response:
    """POST /desk/bulletins: make the bulletin of the week or month containing ``day``."""
    district = own_district(request)
    deps = request.app[DESK]
    form = await request.post()
    kind = str(form.get("kind", ""))
    if kind not in bulletins.KINDS:
        raise web.HTTPBadRequest(text="请选择周报或月报")
    try:
        day = date.fromisoformat(str(form.get("day", "")))
    except ValueError:
        raise web.HTTPBadRequest(text="请填写日期 YYYY-MM-DD") from None
    scope = district if district is not None else str(form.get("scope", "")).strip()[:64]
    first, last = bulletins.period_of(kind, day)
    me = current(request).principal
    try:
        async with deps.sessionmaker.begin() as session:
            made = await bulletins.existing(session, kind, scope, first)
            if made is None:
                made = await bulletins.make(session, kind, first, last, scope=scope,
                                            now=deps.ctx.clock.now(), zone=deps.calendar.zone,
                                            made_by=me.username, render=renderer())
            made_id = made.id
    except IntegrityError:
        raise web.HTTPConflict(text="同时有人在编发这期通报，请刷新后查看") from None
    return see_other(f"/desk/bulletins/{made_id}")


async def html_page(request: web.Request) -> web.Response:
    """GET /desk/bulletins/{id}: the bulletin as published (HTML)."""
    found = await _visible(request, request.match_info["id"])
    # Its own stylesheet is inline (a stored document stands alone); nothing else may load.
    return web.Response(text=found.html, content_type="text/html", charset="utf-8", headers={
        "Cache-Control": "no-store", "Content-Security-Policy":
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"})


async def pdf_file(request: web.Request) -> web.Response:
    """GET /desk/bulletins/{id}.pdf: the bulletin as published (PDF, fonts embedded)."""
    found = await _visible(request, request.match_info["id"])
    name = f"bulletin-{found.kind}-{found.year}-{found.serial}.pdf"
    return web.Response(body=found.pdf, content_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


def add_bulletin_pages(app: web.Application) -> None:
    app.router.add_get("/desk/bulletins", list_page)
    app.router.add_post("/desk/bulletins", make_form)
    app.router.add_get("/desk/bulletins/{id:\\d+}.pdf", pdf_file)
    app.router.add_get("/desk/bulletins/{id:\\d+}", html_page)
