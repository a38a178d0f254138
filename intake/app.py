"""The composition root: ``create_app(settings)`` builds the whole service.

Every long-lived resource (database engine, channel servers, background jobs)
is one async context manager in ``app.cleanup_ctx``; nothing is created at
import time, so tests build as many apps as they like.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from channels.web.csrf import Signer
from channels.web.form import FormLimits
from channels.web.routes import CitizenWeb
from config.organisation import load_organisation
from config.settings import Settings
from forwarder.api import ApiDeps, setup_api
from forwarder.calendar import WorkingCalendar
from forwarder.desk import TEMPLATES as DESK_TEMPLATES
from forwarder.desk import DeskDeps, setup_desk
from forwarder.desk.session import DeskSessions
from forwarder.due import CalendarDuePolicy
from forwarder.portal import PORTAL, PortalDeps, add_portal_routes
from forwarder.workflow_base import Context
from intake import keys, wiring
from intake.console import TEMPLATES as CONSOLE_TEMPLATES
from intake.console import setup_console
from intake.health import DatabaseProbe
from intake.screening import load_rules
from intake.service import IntakeService
from intake.wiring import ALL_ROLES, Role
from registrar.attachments import AttachmentStore
from registrar.clock import Clock, SystemClock
from registrar.db import create_engine, make_sessionmaker

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent.parent / "channels" / "web"
PORTAL_DIR = Path(__file__).resolve().parent.parent / "forwarder" / "portal"
TEMPLATE_DIRS = [WEB_DIR / "templates", PORTAL_DIR / "templates", DESK_TEMPLATES, CONSOLE_TEMPLATES]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """No framing, no sniffing, no inline script: stored text can never run as code."""
    response = await handler(request)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; object-src 'none'; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'self'",
    )
    return response


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
                                     batch_wait_s=settings.intake.batch_wait_ms / 1000)
    app[PORTAL] = PortalDeps(sessionmaker, app[keys.CLOCK], app[keys.SIGNER])
    yield
    await engine.dispose()


async def healthz(request: web.Request) -> web.Response:
    """Liveness and database reachability, for load balancers and `make run` users."""
    problem = await request.app[keys.HEALTH].check()
    if problem is not None:
        return web.json_response({"status": "unavailable", "database": problem}, status=503)
    return web.json_response({"status": "ok", "database": "ok"})


def create_app(settings: Settings, *, clock: Clock | None = None,
               roles: frozenset[Role] = ALL_ROLES) -> web.Application:
    """Build the application for ``settings``; ``clock`` is injected by tests.

    ``roles`` picks the parts this process runs (``hotline serve --only …``);
    the citizen pages and ``/healthz`` are always served.
    """
    web_settings = settings.web
    max_body = web_settings.max_attachments * web_settings.max_attachment_bytes + 1_048_576
    app = web.Application(middlewares=[security_headers], client_max_size=max_body)
    app[keys.SETTINGS] = settings
    the_clock: Clock = clock or SystemClock(settings.tz)
    app[keys.CLOCK] = the_clock
    calendar = WorkingCalendar.load(zone=settings.tz, site_file=settings.calendar_path)
    app[keys.CALENDAR] = calendar
    app[keys.DUE] = CalendarDuePolicy(calendar)
    app.cleanup_ctx.append(_database)

    aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader([str(d) for d in TEMPLATE_DIRS]),
                         autoescape=jinja2.select_autoescape(default=True))
    organisation = load_organisation(settings.organisation_path)
    secret = web_settings.secret_key.encode() or secrets.token_bytes(32)
    signer = Signer(secret)
    app[keys.SIGNER] = signer

    citizen = CitizenWeb(
        sink=lambda envelope: app[keys.INTAKE](envelope),
        limits=FormLimits(
            max_attachments=web_settings.max_attachments,
            max_attachment_bytes=web_settings.max_attachment_bytes,
            allowed_types=frozenset(web_settings.allowed_attachment_types),
            districts=organisation.districts,
        ),
        signer=signer,
        now=the_clock.now,
    )
    citizen.add_routes(app)
    add_portal_routes(app)
    app.router.add_get("/healthz", healthz)
    app.router.add_static("/static/web", WEB_DIR / "static")
    wiring.install(app, settings, roles)
    desk_sessions = DeskSessions(signer, secure=web_settings.secure_cookies)

    def workflow_context() -> Context:
        return Context(clock=the_clock, due=app[keys.DUE], sms_channel=settings.worker.sms_channel)

    setup_api(app, lambda: ApiDeps(sessionmaker=app[keys.SESSIONMAKER], ctx=workflow_context(),
                                   extra_sources=(desk_sessions.api_source,)))
    setup_desk(app, lambda: DeskDeps(sessionmaker=app[keys.SESSIONMAKER], ctx=workflow_context(),
                                     sessions=desk_sessions, calendar=calendar,
                                     calendar_file=settings.calendar_path))
    setup_console(app)
    return app
