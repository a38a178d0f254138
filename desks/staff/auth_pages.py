"""Sign in, sign out, change password; and the guard that keeps every other desk page private."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from contract.agents import checked_sip_uri
from desks.access.auth import hash_password, off_loop, verify_password
from desks.access.forms import read_form
from desks.access.sessions import SAFE_METHODS, DeskSessions, csrf_matches, end_sessions
from desks.staff.deps import AGENT_PHONES, CURRENT, DESK, current
from registrar.models import Account, Role

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PUBLIC_PATHS = frozenset({"/desk/login"})

#: Where each role starts after signing in.
HOME: dict[str, str] = {
    Role.AGENT: "/desk/console",
    Role.CITY_BUREAU: "/desk/queue",
    Role.DISTRICT_BUREAU: "/desk/queue",
    Role.UNIT_HANDLER: "/desk/inbox",
    Role.UNIT_LEADER: "/desk/inbox",
    Role.DISCIPLINE: "/desk/inbox",
    Role.EFFICIENCY: "/desk/supervision",
    Role.ADMIN: "/desk/admin",
}


def render(request: web.Request, template: str, context: dict[str, Any], *,
           status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """Render a desk page with the signed-in user, their CSRF token and the navigation."""
    desk = request.get(CURRENT)
    extra = {"me": desk.principal if desk else None, "csrf": desk.csrf if desk else ""}
    response = aiohttp_jinja2.render_template(template, request, {**extra, **context},
                                              status=status)
    response.headers.update(headers or {})
    return response


@web.middleware
async def signed_in(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every /desk/ page but the sign-in needs a session; every request that may change
    state needs its CSRF token too, in the form's ``csrf`` field or the ``X-CSRF-Token``
    header, whatever the body's content type."""
    if not request.path.startswith("/desk") or request.path in PUBLIC_PATHS \
            or request.path.startswith("/desk/static/"):
        return await handler(request)
    deps = request.app[DESK]
    async with deps.sessionmaker() as session:
        desk = await deps.sessions.current(request, session)
    if desk is None:
        if request.method == "GET":
            raise web.HTTPSeeOther(f"/desk/login?next={request.path_qs}")
        raise web.HTTPUnauthorized(text="请先登录")
    if request.method not in SAFE_METHODS and not csrf_matches(await _csrf_sent(request),
                                                                desk.csrf):
        raise web.HTTPForbidden(text="页面已过期，请刷新后重试")
    request[CURRENT] = desk
    return await handler(request)


async def _csrf_sent(request: web.Request) -> str:
    header = request.headers.get("X-CSRF-Token")
    if header is not None:
        return header
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        try:
            value = (await read_form(request)).get("csrf", "")
        except ValueError:
            raise web.HTTPBadRequest(text="表单格式不正确") from None
        return value if isinstance(value, str) else ""
    return ""


def see_other(location: str) -> web.Response:
    """A 303 that can carry cookies (raising ``HTTPSeeOther`` could not set them)."""
    return web.Response(status=303, headers={"Location": location})


def _next(request: web.Request, fallback: str) -> str:
    target = request.query.get("next", "")
    # Only local paths: never an open redirect.
    return target if target.startswith("/desk") and "//" not in target else fallback


def _takes_phone(request: web.Request) -> bool:
    """Whether this site's console has agents' phones (the phone line's presence)."""
    return request.app.get(AGENT_PHONES) is not None


def _login_form(request: web.Request, *, error: str = "", username: str = "", sip_uri: str = "",
                next_: str = "", status: int = 200,
                headers: dict[str, str] | None = None) -> web.Response:
    return render(request, "desk_login.html", {
        "error": error, "username": username, "next": next_, "phone": _takes_phone(request),
        "sip_uri": sip_uri}, status=status, headers=headers)


async def login_page(request: web.Request) -> web.Response:
    return _login_form(request, next_=request.query.get("next", ""))


async def _keep_phone(request: web.Request, account: Account, sip_uri: str) -> None:
    """An agent who typed their phone at sign-in: stored as the console's field stores it.

    Empty keeps what is stored (an agent with an address is not asked again); other
    roles take no calls, so what they typed is ignored.
    """
    phones = request.app.get(AGENT_PHONES)
    if sip_uri and account.role == Role.AGENT and phones is not None:
        await phones.set_address(account.username, sip_uri)


async def login(request: web.Request) -> web.StreamResponse:
    deps = request.app[DESK]
    form = await read_form(request)
    username = str(form.get("username", ""))[:64].strip()
    password = str(form.get("password", ""))[:256]
    sip_uri, problem = checked_sip_uri(form.get("sip_uri", "")) if _takes_phone(request) else ("", None)
    if sip_uri and problem:  # before the password: nothing is signed in with a typo in the phone
        return _login_form(request, error=f"话机 SIP 地址：{problem}", username=username,
                           sip_uri=sip_uri[:300], next_=request.query.get("next", ""), status=400)
    address = request.remote or "?"
    async with deps.sessionmaker.begin() as session:
        wait = await deps.throttle.wait_s(session, username, address)
    if wait:
        return _login_form(request, error=f"登录失败次数过多，请 {math.ceil(wait)} 秒后再试。",
                           username=username, status=429,
                           headers={"Retry-After": str(math.ceil(wait))})
    async with deps.sessionmaker.begin() as session:
        account = await verify_password(session, username, password)
        if account is None:
            await deps.throttle.failed(session, username, address)
        else:
            await deps.throttle.succeeded(session, username, address)
            response = see_other(_next(request, HOME.get(account.role, "/desk/queue")))
            await deps.sessions.issue(session, response, account)
    if account is None:
        return _login_form(request, error="用户名或密码不正确。", username=username,
                           sip_uri=sip_uri, next_=request.query.get("next", ""), status=401)
    await _keep_phone(request, account, sip_uri)
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    """End the session on the server, so a copied cookie is as dead as the browser's."""
    deps = request.app[DESK]
    async with deps.sessionmaker.begin() as session:
        await deps.sessions.end(session, current(request).session_id)
    response = see_other("/desk/login")
    DeskSessions.clear(response)
    return response


async def home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPSeeOther(HOME.get(current(request).principal.role, "/desk/queue"))


async def password_page(request: web.Request) -> web.Response:
    return render(request, "desk_password.html", {"error": "", "done": bool(request.query.get("done"))})


async def change_password(request: web.Request) -> web.StreamResponse:
    deps = request.app[DESK]
    me = current(request).principal
    form = await read_form(request)
    old, new, again = (str(form.get(k, "")) for k in ("old", "new", "again"))
    error = ""
    if new != again:
        error = "两次输入的新密码不一致。"
    async with deps.sessionmaker.begin() as session:
        account = await verify_password(session, me.username, old) if not error else None
        if not error and account is None:
            error = "原密码不正确。"
        if not error:
            assert isinstance(account, Account)
            try:
                account.password_hash = await off_loop(hash_password, new)
            except ValueError:
                error = "新密码至少 10 个字符。"
        if not error:
            # Every session of the account ends, this one too; this browser gets a new one.
            assert account is not None
            await end_sessions(session, account.id, now=deps.ctx.clock.now())
            response = see_other("/desk/password?done=1")
            await deps.sessions.issue(session, response, account)
    if error:
        return render(request, "desk_password.html", {"error": error, "done": False}, status=400)
    return response


def add_auth_routes(app: web.Application) -> None:
    app.router.add_get("/desk/login", login_page)
    app.router.add_post("/desk/login", login)
    app.router.add_post("/desk/logout", logout)
    app.router.add_get("/desk", home)
    app.router.add_get("/desk/", home)
    app.router.add_get("/desk/password", password_page)
    app.router.add_post("/desk/password", change_password)
