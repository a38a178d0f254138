"""aiohttp handlers of the citizen portal.

A citizen opens their own case with its number and the query code from the
receipt; the phone number that filed it lists only case numbers and states.
Everyone may read published answers, with personal data masked. Posts carry the
CSRF token of the citizen form (same cookie, same signer). Lookups and searches
are throttled in the database (``registrar.throttle``), per address and per
case, so guessing codes or probing the published text does not scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contract.clock import Clock
from contract.signing import CitizenCsrf
from desks.access.forms import read_form
from desks.portal import queries
from desks.portal.feed import ENTRIES, feed_response
from forwarder.rules import CITIZEN_STATUS, Clocks, clocks_at, default_revisions
from registrar import throttle
from registrar.deadlines import DuePolicy
from registrar.throttle import Limit

#: Every status lookup, per address: enough for a family, not for a scan.
LOOKUPS_PER_ADDRESS = Limit(free=20, window_s=600, max_wait_s=900)
#: Wrong codes per case number, from anywhere: a code cannot be guessed.
MISSES_PER_CASE = Limit(free=5, window_s=900, max_wait_s=300)
#: Searches of the public answers, per address.
SEARCHES_PER_ADDRESS = Limit(free=30, window_s=60, max_wait_s=300)
TOO_MANY = "查询过于频繁，请稍后再试。"


@dataclass(slots=True)
class PortalDeps:
    sessionmaker: async_sessionmaker[AsyncSession]
    clock: Clock
    csrf: CitizenCsrf
    due: DuePolicy | None = None
    """Counts the answer's due date in working days (None: the status page shows none)."""
    revisions: tuple[Clocks, ...] = ()


PORTAL = web.AppKey("portal", PortalDeps)


def add_portal_routes(app: web.Application) -> None:
    app.router.add_get("/status", status_form, name="portal_status")
    app.router.add_post("/status", status_lookup)
    app.router.add_post("/status/rate", status_rate)
    app.router.add_get("/answers", answers_list, name="portal_answers")
    app.router.add_get("/answers/feed.atom", answers_feed)
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
    form = await read_form(request)
    values = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    token = values.get("csrf", "")
    if not request.app[PORTAL].csrf.valid(token, request.cookies.get(CitizenCsrf.COOKIE)):
        raise web.HTTPForbidden(text="页面已过期，请刷新后重试。")
    return values


async def status_form(request: web.Request) -> web.Response:
    """The lookup form; the receipt's link fills in the case number."""
    number = request.query.get("number", "").strip()[:40]
    return _render(request, "portal_status.html", {"case": None, "error": "", "number": number})


def _address(request: web.Request) -> str:
    return request.remote or "?"


async def _counted(request: web.Request, row_key: str, limit: Limit) -> bool:
    """Count one attempt under ``row_key``; False (and not counted) when it must wait."""
    deps = request.app[PORTAL]
    now = deps.clock.now()
    async with deps.sessionmaker.begin() as session:
        if await throttle.wait_s(session, [row_key], now=now):
            return False
        await throttle.hit(session, row_key, limit, now=now)
        return True


async def _miss(request: web.Request, number: str) -> None:
    deps = request.app[PORTAL]
    async with deps.sessionmaker.begin() as session:
        await throttle.hit(session, throttle.key("status-case", number), MISSES_PER_CASE,
                           now=deps.clock.now())


async def _show(request: web.Request, number: str, secret: str, *, error: str = "",
                status: int = 200, message: str = "") -> web.Response:
    deps = request.app[PORTAL]
    async with deps.sessionmaker() as session:
        case = await queries.lookup(session, number, secret)
        if case is None:
            return _render(request, "portal_status.html", {
                "case": None, "number": number,
                "error": error or "未找到该案件，请核对编号和查询码。"}, status=404)
        rating = await queries.rating_of(session, case)
        progress = await queries.progress(session, case, due=deps.due, zone=deps.clock.now().tzinfo,
                                          clocks=clocks_at(deps.clock.now(), revisions=deps.revisions
                                                           or default_revisions()))
    return _render(request, "portal_status.html", {
        "case": case, "status_text": CITIZEN_STATUS.get(case.status, case.status),
        "number": case.number, "secret": secret, "rating": rating, "error": error,
        "progress": progress, "ratings": queries.RATING_WORDS, "rating_word": queries.rating_word,
        "message": message, "tz": deps.clock.now().tzinfo}, status=status)


async def _states(request: web.Request, phone: str) -> web.Response:
    """A phone number alone: the numbers and states of its cases, never their text."""
    deps = request.app[PORTAL]
    async with deps.sessionmaker() as session:
        states = await queries.states_by_phone(session, phone)
    return _render(request, "portal_status.html", {
        "case": None, "states": states, "words": CITIZEN_STATUS, "number": "",
        "tz": deps.clock.now().tzinfo,
        "error": "" if states else "该手机号码没有提交过诉求。"}, status=200 if states else 404)


async def _throttled(request: web.Request, number: str) -> web.Response | None:
    """429 when this address looked up too much, or this case had too many wrong codes."""
    deps = request.app[PORTAL]
    case_key = throttle.key("status-case", number)
    async with deps.sessionmaker() as session:
        case_blocked = await throttle.wait_s(session, [case_key], now=deps.clock.now())
    if case_blocked or not await _counted(request, throttle.key("status-addr", _address(request)),
                                          LOOKUPS_PER_ADDRESS):
        return _render(request, "portal_status.html", {"case": None, "number": number,
                                                       "error": TOO_MANY}, status=429)
    return None


async def status_lookup(request: web.Request) -> web.Response:
    values = await _checked_post(request)
    number, secret = values.get("number", "").strip()[:40], values.get("secret", "")[:40]
    refused = await _throttled(request, number)
    if refused is not None:
        return refused
    phone = queries.as_phone(secret)
    if phone is not None:
        return await _states(request, phone)
    response = await _show(request, number, secret)
    if response.status == 404 and number:
        await _miss(request, number)
    return response


async def status_rate(request: web.Request) -> web.Response:
    values = await _checked_post(request)
    deps = request.app[PORTAL]
    number, secret = values.get("number", ""), values.get("secret", "")
    try:
        score = int(values.get("score", "0"))
    except ValueError:
        score = 0
    refused = await _throttled(request, number)
    if refused is not None:
        return refused
    async with deps.sessionmaker.begin() as session:
        case = await queries.lookup(session, number, secret)
        if case is None:
            error = "missing"
        else:
            try:
                await queries.rate(session, case, score, values.get("comment", ""),
                                   now=deps.clock.now())
            except queries.RatingRefused as exc:
                error = str(exc)
            else:
                error = ""
    if error == "missing":
        await _miss(request, number)
        raise web.HTTPNotFound(text="未找到该案件")
    return await _show(request, number, secret, error=error, status=400 if error else 200,
                       message="" if error else "感谢您的评价！")


async def answers_list(request: web.Request) -> web.Response:
    deps = request.app[PORTAL]
    q = request.query.get("q", "")[:50]
    district, unit = request.query.get("district", "")[:64], request.query.get("unit", "")[:64]
    try:
        page = max(1, min(int(request.query.get("page", "1")), 10_000))
    except ValueError:
        page = 1
    if q.strip() and not await _counted(
            request, throttle.key("answers-addr", _address(request)), SEARCHES_PER_ADDRESS):
        return _render(request, "portal_answers.html", {
            "items": [], "q": q, "page": 1, "pages": 1, "total": 0, "error": TOO_MANY,
            "tz": deps.clock.now().tzinfo, "units": [], "district": district, "unit": unit},
            status=429)
    async with deps.sessionmaker() as session:
        items, total = await queries.public_answers(session, q=q, page=page, district=district,
                                                    unit=unit)
        units = await queries.answering_units(session)
    pages = max(1, -(-total // queries.PAGE_SIZE))
    return _render(request, "portal_answers.html", {
        "items": items, "q": q, "page": page, "pages": pages, "total": total,
        "tz": deps.clock.now().tzinfo, "units": units, "district": district, "unit": unit,
        "districts": sorted({d for _, _, d in units if d})})


async def answer_page(request: web.Request) -> web.Response:
    deps = request.app[PORTAL]
    async with deps.sessionmaker() as session:
        item = await queries.public_answer(session, request.match_info["number"])
    if item is None:
        raise web.HTTPNotFound(text="没有这条公开答复")
    return _render(request, "portal_answer.html", {"item": item, "tz": deps.clock.now().tzinfo})


async def answers_feed(request: web.Request) -> web.Response:
    """GET /answers/feed.atom[?district=…|unit=…]: the newest published answers (Atom 1.0)."""
    deps = request.app[PORTAL]
    district = request.query.get("district", "")[:64]
    unit = request.query.get("unit", "")[:64]
    async with deps.sessionmaker() as session:
        items, _ = await queries.public_answers(session, district=district, unit=unit,
                                                page_size=ENTRIES)
    return feed_response(request, items, scope=district or unit, now=deps.clock.now())
