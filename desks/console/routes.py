"""The agent console: log a call, read the case number back, see the caller's earlier cases.

``/desk/console`` is the agent's page (R5.1: the service centre registers every
phone item). The form posts to the same path with the desk's CSRF field; the
call becomes an ``Envelope`` on the intake service, the sink every channel
uses, so a logged call is registered exactly like an SMS or a web item. The
page answers with the case number and query code to read to the caller and,
when screening finds emergency words, the red banner (R3.8). The caller panel
(``/history``) lists the number's earlier cases so repeats are seen (R8.5);
``/ws`` is the screen pop the phone channel drives through ``hub.announce_call``.
"""

from __future__ import annotations

import logging
from datetime import datetime
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web
from sqlalchemy import exists, func, or_, select

from contract.envelope import Receipt, TryLater
from contract.normalise import InvalidInput, normalise_phone
from desks.access.forms import read_form
from desks.access.permissions import visible
from desks.console.consult import close_on_call
from desks.console.deps import CONSOLE
from desks.console.form import CATEGORIES, ConsoleFormErrors, blank_values, parse_console_form
from desks.console.hub import HEARTBEAT_S, HUB
from desks.console.seen import console_seen
from desks.staff.auth_pages import render
from desks.staff.deps import current
from forwarder.rules import CITIZEN_STATUS
from forwarder.screening import emergency_hint
from registrar.models import Case, CaseContact, CaseStatus, Contact, Role

log = logging.getLogger(__name__)

HISTORY_LIMIT = 10
SHORT_TEXT = 60
SCREEN_MAX_CHARS = 5000
"""The districts of the organisation, for the district select."""


def require_agent(request: web.Request, *, also: frozenset[str] = frozenset()) -> None:
    """403 page unless the signed-in member of staff is an agent (or one of ``also``)."""
    if current(request).principal.role not in {Role.AGENT, *also}:
        raise web.HTTPForbidden(
            text=render(request, "console_forbidden.html", {}).text, content_type="text/html")


def _districts(request: web.Request) -> tuple[str, ...]:
    return request.app[CONSOLE].districts


def _page(request: web.Request, *, values: dict[str, str], errors: dict[str, str] | None = None,
          receipt: Receipt | None = None, status: int = 200, consulted: str = "") -> web.Response:
    # The live R3.8 banner is rendered with the page, not left to the script: a form sent
    # back for a missing field still says 煤气泄漏, and the banner must be there at once.
    deps = request.app[CONSOLE]
    advice = emergency_hint(values.get("text", ""), deps.emergency_rules)
    # 答复形式 电话 is offered only where the site calls out (``worker.voice_channel``).
    offer_calls = bool(deps.workflow is not None and deps.workflow().voice_channel)
    return render(request, "console.html", {
        "values": values, "errors": errors or {}, "receipt": receipt,
        "categories": CATEGORIES, "districts": _districts(request),
        "district_keys": request.app[CONSOLE].district_keys,
        "live_advice": advice.text if advice and receipt is None else "", "consulted": consulted,
        "offer_calls": offer_calls,
    }, status=status)


async def console_page(request: web.Request) -> web.Response:
    """GET /desk/console: an empty form, the caller field focused."""
    require_agent(request)
    return _page(request, values=blank_values())


async def log_call(request: web.Request) -> web.Response:
    """POST /desk/console: register the call; show the number (and any emergency advice)."""
    require_agent(request)
    me = current(request).principal
    form = await read_form(request)
    raw = {k: v for k, v in form.items() if isinstance(v, str)}
    try:
        envelope = parse_console_form(raw, agent=me.username, received_at=request.app[CONSOLE].clock.now(),
                                      districts=_districts(request), keys=request.app[CONSOLE].district_keys)
    except ConsoleFormErrors as exc:
        return _page(request, values=exc.values, errors=exc.errors, status=400)
    try:
        receipt = await request.app[CONSOLE].sink(envelope)
    except TryLater:
        values = {k: raw.get(k, "") for k in blank_values()}
        return _page(request, values=values, status=503, errors={
            "form": "系统暂时无法保存，请稍后再按一次“登记”（已填内容保留，不会重复登记）"})
    consulted = ""
    if raw.get("consult") == "1" and receipt.created:  # 咨询直办: registered, then closed
        problem = await close_on_call(request, receipt, answer=raw.get("answer", ""),
                                      source=raw.get("kb_source", ""))
        consulted = problem or f"已当场解答并办结（依据：{raw.get('kb_source', '').strip()}）"
    return _page(request, values=blank_values(), receipt=receipt, consulted=consulted)


async def screen(request: web.Request) -> web.Response:
    """GET /desk/console/screen?text=…: the live R3.8 hint while the agent types."""
    require_agent(request)
    text = request.query.get("text", "")[:SCREEN_MAX_CHARS]
    advice = emergency_hint(text, request.app[CONSOLE].emergency_rules)
    return web.json_response({"advice": advice.text if advice else "",
                              "services": advice.services if advice else ""})


def _local(value: datetime, request: web.Request) -> str:
    return value.astimezone(request.app[CONSOLE].tz).strftime("%Y-%m-%d %H:%M")


async def history(request: web.Request) -> web.Response:
    """GET /desk/console/history?phone=…: the number's last cases the agent may see (R8.5)."""
    require_agent(request)
    try:
        phone = normalise_phone(request.query.get("phone", ""))
    except InvalidInput as exc:
        return web.json_response({"error": exc.message}, status=400)
    principal = current(request).principal
    by_contact = exists(select(CaseContact.case_id).join(Contact, Contact.id == CaseContact.contact_id)
                        .where(CaseContact.case_id == Case.id, Contact.address == phone)
                        .correlate(Case))
    mine = (visible(principal), or_(Case.sender == phone, Case.reply_address == phone, by_contact))
    async with request.app[CONSOLE].sessionmaker() as session:
        total = (await session.execute(select(func.count(Case.id)).where(*mine))).scalar_one()
        cases = (await session.execute(
            select(Case).where(*mine).order_by(Case.registered_at.desc(), Case.id.desc())
            .limit(HISTORY_LIMIT))).scalars().all()
    return web.json_response({"phone": phone, "total": total, "cases": [{
        "number": c.number,
        "date": _local(c.registered_at, request),
        "status": CITIZEN_STATUS.get(c.status, c.status),
        "open": c.status not in (CaseStatus.CLOSED, CaseStatus.NOT_ACCEPTED, CaseStatus.STOPPED),
        "channel": c.channel,
        "text": c.text if len(c.text) <= SHORT_TEXT else c.text[:SHORT_TEXT] + "…",
    } for c in cases]})


def _same_origin(request: web.Request) -> bool:
    """A browser always sends Origin on a websocket handshake: refuse other sites' pages."""
    origin = request.headers.get("Origin")
    return origin is None or urlsplit(origin).netloc == request.host


async def console_socket(request: web.Request) -> web.WebSocketResponse:
    """GET /desk/console/ws: an agent's console listens here for calls popped to it."""
    require_agent(request)
    if not _same_origin(request):
        raise web.HTTPForbidden(text="拒绝来自其他网站的连接")
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT_S)
    await ws.prepare(request)
    hub, agent = request.app[HUB], current(request).principal.username
    hub.add(agent, ws)
    await console_seen(request.app, agent)
    try:
        await ws.send_json({"type": "hello", "agent": agent})
        async for message in ws:
            # Consoles only listen; a "ping" gets a "pong" so the page can show it is live.
            if message.type == WSMsgType.TEXT and message.data == "ping":
                await ws.send_json({"type": "pong"})
    finally:
        hub.remove(agent, ws)
        await console_seen(request.app, agent)  # the line's grace period starts now
    return ws


def add_console_routes(app: web.Application) -> None:
    app.router.add_get("/desk/console", console_page)
    app.router.add_post("/desk/console", log_call)
    app.router.add_get("/desk/console/screen", screen)
    app.router.add_get("/desk/console/history", history)
    app.router.add_get("/desk/console/ws", console_socket)
