"""The console's knowledge base and the chase of an earlier item (咨询直办, 催办; issue 13 item 2).

``/desk/console/knowledge`` searches what an agent may read out (``forwarder.knowledge``);
the call form's "当场解答并办结" registers the call like any other (R5.1) and then closes
it with the answer and its source, in a second transaction: should that fail, the call
stays registered for the bureau, never lost. ``/desk/console/urge`` records a repeat
caller's chase on the earlier item (from the caller panel) instead of a new item.
"""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from contract.envelope import Receipt
from desks.access.permissions import visible
from desks.console.deps import CONSOLE
from desks.console.form import CATEGORIES
from desks.staff.deps import current
from forwarder import knowledge
from forwarder.workflow_base import Context, WorkflowError
from registrar.models import Case, Role


def _forbid_unless_agent(request: web.Request) -> None:
    if current(request).principal.role != Role.AGENT:
        raise web.HTTPForbidden(text="来电登记台只供服务中心坐席使用")


def _context(request: web.Request) -> Context:
    factory = request.app[CONSOLE].workflow
    if factory is None:
        raise web.HTTPServiceUnavailable(text="咨询直办暂不可用")
    return factory()


async def search(request: web.Request) -> web.Response:
    """GET /desk/console/knowledge?q=…&category=…: entries in force today, then published answers."""
    _forbid_unless_agent(request)
    deps = request.app[CONSOLE]
    category = request.query.get("category", "")
    async with deps.sessionmaker() as session:
        hits = await knowledge.search(session, request.query.get("q", ""),
                                      today=deps.clock.now().astimezone(deps.tz).date(),
                                      category=category if category in CATEGORIES else "")
    return web.json_response({"hits": [{
        "kind": "政策解答" if h.kind == "policy" else "公开答复", "ref": h.ref, "title": h.title,
        "body": h.body, "source": h.source, "category": h.category,
        "valid_until": h.valid_until.isoformat() if h.valid_until else "长期有效",
    } for h in hits]})


async def close_on_call(request: web.Request, receipt: Receipt, *, answer: str, source: str) -> str:
    """Close the call just registered as a consultation; "" when done, else why not (the
    call stays registered and goes to the bureau as usual)."""
    deps = request.app[CONSOLE]
    try:
        async with deps.sessionmaker.begin() as session:
            await knowledge.answer_on_call(session, _context(request), receipt.case_number,
                                           answer=answer, source=source,
                                           actor=current(request).principal.actor)
    except WorkflowError as exc:
        return f"已登记，但未能当场办结（{exc}），将按一般诉求转市信访局办理。"
    return ""


async def urge(request: web.Request) -> web.Response:
    """POST /desk/console/urge {number, note}: a repeat caller chases an open item (催办)."""
    _forbid_unless_agent(request)
    body = await request.json()
    number, note = str(body.get("number", ""))[:40], str(body.get("note", ""))[:500]
    principal = current(request).principal
    deps = request.app[CONSOLE]
    async with deps.sessionmaker.begin() as session:
        seen = (await session.execute(select(Case.status).where(
            Case.number == number, visible(principal)))).scalar_one_or_none()
        if seen is None:
            return web.json_response({"error": "没有这件诉求，或您无权查看"}, status=404)
        try:  # whether it may be chased is forwarder.knowledge.urge's to say
            await knowledge.urge(session, _context(request), number, note=note, actor=principal.actor)
        except WorkflowError as exc:
            return web.json_response({"error": str(exc)}, status=409)
    return web.json_response({"ok": True, "message": f"已在 {number} 登记催办，未新建诉求"})


def add_consult_routes(app: web.Application) -> None:
    app.router.add_get("/desk/console/knowledge", search)
    app.router.add_post("/desk/console/urge", urge)
