"""aiohttp handlers of the citizen portal.

A citizen opens their own case with its number and the query code from the
receipt (or the phone number that filed it); everyone may read published
answers, with personal data masked. Posts carry the CSRF token of the citizen
form (same cookie, same signer).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contract.clock import Clock
from contract.signing import CitizenCsrf
from desks.portal import queries
from forwarder.rules import CITIZEN_STATUS


@dataclass(slots=True)
class PortalDeps:
    sessionmaker: async_sessionmaker[AsyncSession]
    clock: Clock
    csrf: CitizenCsrf


PORTAL = web.AppKey("portal", PortalDeps)


def add_portal_routes(app: web.Application) -> None:
    app.router.add_get("/status", status_form, name="portal_status")
    app.router.add_post("/status", status_lookup)
    app.router.add_post("/status/rate", status_rate)
    app.router.add_get("/answers", answers_list, name="portal_answers")
    app.router.add_get("/answers/{number}", answer_page)


def _render(request: web.Request, template: str, context: dict[str, Any], *,
            status: int = 200) -> web.Response:
    csrf = request.app[PORTAL].csrf
    token = csrf.token(request.cookies.get(CitizenCsrf.COOKIE))
    response = aiohttp_jinja2.render_template(template, request, {**context, "csrf": token},
                                              status=status)
    csrf.set_cookie(response, token)
    return response


async def _checked_post(request: web.Request) -> dict[str, str]:
    form = await request.post()
    values = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    token = values.get("csrf", "")
    if not request.app[PORTAL].csrf.valid(token, request.cookies.get(CitizenCsrf.COOKIE)):
        raise web.HTTPForbidden(text="页面已过期，请刷新后重试。")
    return values


async def status_form(request: web.Request) -> web.Response:
    return _render(request, "portal_status.html", {"case": None, "error": ""})


async def _show(request: web.Request, number: str, secret: str, *, error: str = "",
                status: int = 200, message: str = "") -> web.Response:
    deps = request.app[PORTAL]
    async with deps.sessionmaker() as session:
        case = await queries.lookup(session, number, secret)
        if case is None:
            return _render(request, "portal_status.html", {
                "case": None, "number": number,
                "error": error or "未找到该案件，请核对编号和查询码（或提交时的手机号码）。"}, status=404)
        rating = await queries.rating_of(session, case)
    return _render(request, "portal_status.html", {
        "case": case, "status_text": CITIZEN_STATUS.get(case.status, case.status),
        "number": case.number, "secret": secret, "rating": rating, "error": error,
        "message": message, "tz": deps.clock.now().tzinfo}, status=status)


async def status_lookup(request: web.Request) -> web.Response:
    values = await _checked_post(request)
    return await _show(request, values.get("number", ""), values.get("secret", ""))


async def status_rate(request: web.Request) -> web.Response:
    values = await _checked_post(request)
    deps = request.app[PORTAL]
    number, secret = values.get("number", ""), values.get("secret", "")
    try:
        score = int(values.get("score", "0"))
    except ValueError:
        score = 0
    async with deps.sessionmaker.begin() as session:
        case = await queries.lookup(session, number, secret)
        if case is None:
            raise web.HTTPNotFound(text="未找到该案件")
        try:
            await queries.rate(session, case, score, values.get("comment", ""),
                               now=deps.clock.now())
        except queries.RatingRefused as exc:
            error = str(exc)
        else:
            error = ""
    return await _show(request, number, secret, error=error, status=400 if error else 200,
                       message="" if error else "感谢您的评价！")


async def answers_list(request: web.Request) -> web.Response:
    deps = request.app[PORTAL]
    q = request.query.get("q", "")[:50]
    try:
        page = max(1, min(int(request.query.get("page", "1")), 10_000))
    except ValueError:
        page = 1
    async with deps.sessionmaker() as session:
        items, total = await queries.public_answers(session, q=q, page=page)
    pages = max(1, -(-total // queries.PAGE_SIZE))
    return _render(request, "portal_answers.html", {
        "items": items, "q": q, "page": page, "pages": pages, "total": total,
        "tz": deps.clock.now().tzinfo})


async def answer_page(request: web.Request) -> web.Response:
    deps = request.app[PORTAL]
    async with deps.sessionmaker() as session:
        item = await queries.public_answer(session, request.match_info["number"])
    if item is None:
        raise web.HTTPNotFound(text="没有这条公开答复")
    return _render(request, "portal_answer.html", {"item": item, "tz": deps.clock.now().tzinfo})
