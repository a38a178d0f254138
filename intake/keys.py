"""Every ``web.AppKey`` of the application, in one place."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from config.settings import Settings
from contract.clock import Clock
from contract.signing import CitizenCsrf, Signer
from forwarder.calendar import WorkingCalendar
from forwarder.due import CalendarDuePolicy
from forwarder.outbox import OutboxDispatcher
from forwarder.rules import Clocks
from intake.call_control import LocalCalls
from intake.health import DatabaseProbe
from intake.service import IntakeService
from registrar.agents import AgentPresence

SETTINGS = web.AppKey("settings", Settings)
CLOCK = web.AppKey("clock", Clock)
ENGINE = web.AppKey("engine", AsyncEngine)
HEALTH = web.AppKey("health", DatabaseProbe)
SESSIONMAKER = web.AppKey("sessionmaker", async_sessionmaker[AsyncSession])
INTAKE = web.AppKey("intake", IntakeService)
CALENDAR = web.AppKey("calendar", WorkingCalendar)
DUE = web.AppKey("due", CalendarDuePolicy)
REGULATION = web.AppKey("regulation", tuple[Clocks, ...])
"""The regulation's clock counts by revision, read from ``settings.regulation_path``."""
OUTBOX = web.AppKey("outbox", OutboxDispatcher)
BOUND_PORTS = web.AppKey("bound_ports", dict[str, int])
"""Ports the channels bound, by ``"<channel>.<purpose>"`` (``"fax.smtp"``), for tests and logs."""
AGENTS = web.AppKey("agents", AgentPresence)
"""Agents' presence for the phone line, shared by the console and the SIP channel."""
SIGNER = web.AppKey("signer", Signer)
CSRF = web.AppKey("csrf", CitizenCsrf)
CALLS = web.AppKey("calls", LocalCalls)
"""The consoles' requests on live calls (``intake.call_control``): shared over PostgreSQL."""
