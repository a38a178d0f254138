"""The composition root: ``create_app(settings)`` builds the whole service.

Every long-lived resource (database engine, channel servers, background jobs)
is one async context manager in ``app.cleanup_ctx``; nothing is created at
import time, so tests build as many apps as they like.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import hdrs, web
from aiohttp.helpers import parse_mimetype

from channels import CHANNELS
from channels.web.settings import WebFormSettings
from channels.web.spec import SPEC as WEB_FORM
from config.organisation import load_organisation
from config.settings import Settings
from contract.clock import Clock, SystemClock
from contract.signing import CitizenCsrf, Signer
from desks.access.login_throttle import LoginThrottle
from desks.access.sessions import DeskSessions
from desks.api import ApiDeps, setup_api
from desks.console import TEMPLATES as CONSOLE_TEMPLATES
from desks.console import ConsoleDeps, setup_console
from desks.console.hub import HUB, POP_RELAY
from desks.console.shared_pop import ResilientPop
from desks.error_pages import error_pages
from desks.portal import PORTAL, PortalDeps, add_portal_routes
from desks.rule_tips import RuleTips, rule_tips
from desks.staff import TEMPLATES as DESK_TEMPLATES
from desks.staff import DeskDeps, setup_desk
from desks.words import chinese_only, file_kind, note_view, send_error
from forwarder.calendar import WorkingCalendar
from forwarder.due import CalendarDuePolicy
from forwarder.rules import load_revisions
from forwarder.screening import load_rules
from forwarder.workflow_base import Context
from intake import keys, wiring
from intake.call_control import LocalCalls, SharedCalls
from intake.health import DatabaseProbe
from intake.service import IntakeService
from intake.wiring import ALL_ROLES
from registrar.attachments import AttachmentStore
from registrar.db import create_engine, is_sqlite, make_sessionmaker

log = logging.getLogger(__name__)

PORTAL_DIR = Path(__file__).resolve().parent.parent / "desks" / "portal"
UI_TEMPLATE_DIRS = [PORTAL_DIR / "templates", DESK_TEMPLATES, CONSOLE_TEMPLATES]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: The pages' filters that turn stored internals into words (desks/words.py, desks/rule_tips.py).
UI_FILTERS: dict[str, Callable[..., Any]] = {
    "rule_tips": rule_tips, "file_kind": file_kind, "send_error": send_error,
    "note_view": note_view, "chinese_only": chinese_only}


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """No framing, no sniffing, no inline script: stored text can never run as code.

    Error answers (404, 403, 413 …, and a 500 from an unexpected failure) carry the
    same headers: an error page is a page too. A client that hangs up mid-request is
    logged as one INFO line, not as an error."""
    try:
        response: web.StreamResponse = await handler(request)
    except web.HTTPException as exc:
        _harden(exc)
        raise
    except ConnectionResetError as exc:
        # The client hung up mid-upload: its business, not a failure of ours; nobody
        # reads the answer, so one line says what happened, without a traceback.
        log.info("client %s went away during %s %s (%s)", request.remote, request.method,
                 request.path, exc)
        response = web.Response(status=400, text="连接已中断 (client went away)")
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        response = web.Response(status=500, text="服务器内部错误")
    _harden(response)
    return response


@web.middleware
async def readable_bodies(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A multipart body without a boundary cannot be read; aiohttp raises deep in the
    handler's ``post()`` (a 500). Refuse it at the door, saying what is missing."""
    content_type = request.headers.get(hdrs.CONTENT_TYPE, "")
    if content_type:
        mimetype = parse_mimetype(content_type)
        if mimetype.type == "multipart" and not mimetype.parameters.get("boundary", "").strip():
            raise web.HTTPBadRequest(text="multipart body without a boundary: send "
                                          "Content-Type: multipart/form-data; boundary=…")
    return await handler(request)


def _harden(response: web.StreamResponse) -> None:
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; object-src 'none'; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'self'",
    )


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    engine = create_engine(settings.database_url)
    app[keys.ENGINE] = engine
    app[keys.HEALTH] = DatabaseProbe(engine)
    sessionmaker = make_sessionmaker(engine)
    app[keys.SESSIONMAKER] = sessionmaker
    app[keys.INTAKE] = IntakeService(sessionmaker=sessionmaker, clock=app[keys.CLOCK],
                                     store=AttachmentStore(settings.attachments_dir),
                                     prefix=settings.case_prefix, due=app[keys.DUE],
                                     emergency_rules=load_rules(),
                                     group_commit=settings.intake.group_commit,
                                     batch_max_items=settings.intake.batch_max_items,
                                     batch_wait_s=settings.intake.batch_wait_ms / 1000,
                                     batch_pipeline=(1 if is_sqlite(settings.database_url)
                                                     else settings.intake.batch_pipeline),
                                     revisions=app[keys.REGULATION],
                                     sms_channel=settings.worker.sms_channel,
                                     voice_channel=settings.worker.voice_channel)
    app[PORTAL] = PortalDeps(sessionmaker, app[keys.CLOCK], app[keys.CSRF], due=app[keys.DUE],
                             revisions=app[keys.REGULATION])
    yield
    await engine.dispose()


@contextlib.asynccontextmanager
async def _in_background(job: Coroutine[Any, Any, None]) -> AsyncIterator[None]:
    """Run ``job`` (a listener that reconnects on its own) while the block runs; cancel it after."""
    keeper = asyncio.create_task(job)
    try:
        yield
    finally:
        keeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeper


async def _call_control(app: web.Application) -> AsyncIterator[None]:
    """On PostgreSQL, listen for the consoles' requests on live calls (the emergency key) for
    as long as the app runs: the phone line may run in another process."""
    calls = app[keys.CALLS]
    if not isinstance(calls, SharedCalls):
        yield
        return
    async with _in_background(calls.keep_listening()):
        yield


async def _screen_pop(app: web.Application) -> AsyncIterator[None]:
    """On PostgreSQL the console's screen pop reaches every web process sharing the database
    (LISTEN/NOTIFY); on SQLite the service is one process and the hub stays in-process."""
    url = app[keys.SETTINGS].database_url
    if is_sqlite(url):
        yield
        return
    relay = ResilientPop(app[HUB], app[keys.ENGINE], url)
    app[POP_RELAY] = relay
    async with _in_background(relay.keep_listening()):
        yield


async def healthz(request: web.Request) -> web.Response:
    """Liveness and database reachability, for load balancers and `make run` users."""
    problem = await request.app[keys.HEALTH].check()
    if problem is not None:
        return web.json_response({"status": "unavailable", "database": problem}, status=503)
    return web.json_response({"status": "ok", "database": "ok"})


def create_app(settings: Settings, *, clock: Clock | None = None,
               roles: frozenset[str] = ALL_ROLES) -> web.Application:
    """Build the application for ``settings``; ``clock`` is injected by tests.

    ``roles`` picks the parts this process runs (``hotline serve --only …``);
    the portal and ``/healthz`` are always served, the channels' routes where
    ``web`` runs.
    """
    web_settings = settings.web
    form = settings.channel(WEB_FORM.name, WebFormSettings)
    app = web.Application(middlewares=[security_headers, error_pages, readable_bodies],
                          client_max_size=form.max_body_bytes)
    app[keys.SETTINGS] = settings
    the_clock: Clock = clock or SystemClock(settings.tz)
    app[keys.CLOCK] = the_clock
    calendar = WorkingCalendar.load(zone=settings.tz, site_file=settings.calendar_path)
    app[keys.CALENDAR] = calendar
    app[keys.DUE] = CalendarDuePolicy(calendar)
    app[keys.REGULATION] = load_revisions(settings.regulation_path)
    app.cleanup_ctx.append(_database)
    app[keys.CALLS] = (LocalCalls() if is_sqlite(settings.database_url)
                       else SharedCalls(lambda: app[keys.ENGINE], settings.database_url))
    app.cleanup_ctx.append(_call_control)

    template_dirs = [spec.templates for spec in CHANNELS if spec.templates] + UI_TEMPLATE_DIRS
    aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader([str(d) for d in template_dirs]),
                         autoescape=jinja2.select_autoescape(default=True),
                         extensions=[RuleTips], filters=UI_FILTERS)
    organisation = load_organisation(settings.organisation_path)
    secret = web_settings.secret_key.encode() or secrets.token_bytes(32)
    signer = Signer(secret)
    app[keys.SIGNER] = signer
    app[keys.CSRF] = CitizenCsrf(signer, secure=web_settings.secure_cookies)

    app[keys.BOUND_PORTS] = {}
    add_portal_routes(app)
    app.router.add_get("/healthz", healthz)
    wiring.install(app, settings, roles, wiring.ports(app, settings, organisation.districts))
    # Sessions age in real time, not in the business clock that tests move by days.
    desk_sessions = DeskSessions(signer, secure=web_settings.secure_cookies)

    def workflow_context() -> Context:
        return Context(clock=the_clock, due=app[keys.DUE], sms_channel=settings.worker.sms_channel,
                       voice_channel=settings.worker.voice_channel,
                       contest_days=settings.supervision.contest_days,
                       revisions=app[keys.REGULATION])

    setup_api(app, lambda: ApiDeps(sessionmaker=app[keys.SESSIONMAKER], ctx=workflow_context(),
                                   extra_sources=(desk_sessions.api_source,)))
    setup_desk(app, lambda: DeskDeps(sessionmaker=app[keys.SESSIONMAKER], ctx=workflow_context(),
                                     sessions=desk_sessions, calendar=calendar,
                                     throttle=LoginThrottle(the_clock.now),
                                     calendar_file=settings.calendar_path,
                                     attachments=app[keys.INTAKE].store))
    setup_console(app, lambda: ConsoleDeps(
        sessionmaker=app[keys.SESSIONMAKER], sink=app[keys.INTAKE], clock=the_clock,
        attachments=app[keys.INTAKE].store, tz=settings.tz, districts=organisation.districts,
        emergency_rules=app[keys.INTAKE].emergency_rules, district_keys=organisation.district_keys,
        workflow=workflow_context, presence=app[keys.AGENTS], calls=app[keys.CALLS]))
    app.cleanup_ctx.append(_screen_pop)
    return app
