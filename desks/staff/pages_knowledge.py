"""The knowledge base on the city bureau's desk: the policy answers agents read out (咨询直办).

The city bureau adds an entry (title, the answer, category, what it rests on, from
when and until when it holds) and retires one that no longer applies; agents see the
entries in force. Plain HTML forms with the session's CSRF field; every rule (who may,
which dates) is ``forwarder.knowledge``'s, and a refusal comes back in its words.
"""

from __future__ import annotations

from datetime import date, timedelta

from aiohttp import web
from sqlalchemy import select

from desks.console.form import CATEGORIES
from desks.staff.auth_pages import render, see_other
from desks.staff.deps import DESK, current
from forwarder import knowledge
from forwarder.workflow_base import WorkflowError
from registrar.models import Role
from registrar.models_knowledge import KnowledgeEntry

BASE = "/desk/knowledge"
READERS = frozenset({Role.CITY_BUREAU, Role.AGENT, Role.DISTRICT_BUREAU})
DONE = {"added": "已加入知识库。", "retired": "已停用该条目。"}


def _date(value: str) -> date | None:
    try:
        return date.fromisoformat(value.strip()) if value.strip() else None
    except ValueError:
        return None


async def _page(request: web.Request, *, error: str = "", form: dict[str, str] | None = None,
                status: int = 200) -> web.Response:
    me = current(request).principal
    if me.role not in READERS:
        raise web.HTTPForbidden(text="知识库仅供信访局和服务中心使用")
    deps = request.app[DESK]
    today = deps.ctx.clock.now().astimezone(deps.calendar.zone).date()
    month = deps.ctx.clock.now().astimezone(deps.calendar.zone).replace(day=1, hour=0, minute=0,
                                                                         second=0, microsecond=0)
    async with deps.sessionmaker() as session:
        entries = list((await session.execute(select(KnowledgeEntry).order_by(
            KnowledgeEntry.retired_at.is_not(None), KnowledgeEntry.category,
            KnowledgeEntry.id.desc()))).scalars())
        following = (month + timedelta(days=32)).replace(day=1)
        answered = await knowledge.consultations(session, month, following)
    return render(request, "desk_knowledge.html", {
        "entries": entries, "today": today, "categories": CATEGORIES, "error": error,
        "form": form or {"valid_from": today.isoformat()}, "editor": me.role == Role.CITY_BUREAU,
        "done": DONE.get(request.query.get("done", ""), ""),
        "answered": answered}, status=status)


async def knowledge_page(request: web.Request) -> web.Response:
    """GET /desk/knowledge: the entries, in force first; the add form for the city bureau."""
    return await _page(request)


async def add(request: web.Request) -> web.StreamResponse:
    """POST /desk/knowledge: add an entry (the city bureau)."""
    posted = {k: str(v) for k, v in (await request.post()).items() if k != "csrf"}
    deps = request.app[DESK]
    start = _date(posted.get("valid_from", ""))
    if start is None:
        return await _page(request, error="请填写有效的开始日期（年-月-日）", form=posted, status=400)
    try:
        async with deps.sessionmaker.begin() as session:
            await knowledge.add_entry(
                session, title=posted.get("title", ""), body=posted.get("body", ""),
                category=posted.get("category", ""), source=posted.get("source", ""),
                valid_from=start, valid_until=_date(posted.get("valid_until", "")),
                actor=current(request).principal.actor, now=deps.ctx.clock.now())
    except WorkflowError as exc:
        return await _page(request, error=str(exc), form=posted, status=400)
    return see_other(f"{BASE}?done=added")


async def retire(request: web.Request) -> web.StreamResponse:
    """POST /desk/knowledge/{id}/retire: take an entry out of use."""
    deps = request.app[DESK]
    try:
        async with deps.sessionmaker.begin() as session:
            await knowledge.retire_entry(session, int(request.match_info["id"]),
                                         actor=current(request).principal.actor,
                                         now=deps.ctx.clock.now())
    except (WorkflowError, ValueError) as exc:
        return await _page(request, error=str(exc), status=400)
    return see_other(f"{BASE}?done=retired")


def add_knowledge_pages(app: web.Application) -> None:
    app.router.add_get(BASE, knowledge_page)
    app.router.add_post(BASE, add)
    app.router.add_post(BASE + "/{id}/retire", retire)
