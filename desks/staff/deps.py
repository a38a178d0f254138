"""What the desks need from the composition root, under their own ``web.AppKey``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desks.access.login_throttle import LoginThrottle
from desks.access.sessions import DeskSession, DeskSessions
from forwarder.calendar import WorkingCalendar
from forwarder.workflow_base import Context
from registrar.agents import AgentPresence
from registrar.attachments import AttachmentStore


@dataclass(slots=True)
class DeskDeps:
    sessionmaker: async_sessionmaker[AsyncSession]
    ctx: Context
    sessions: DeskSessions
    calendar: WorkingCalendar
    throttle: LoginThrottle
    calendar_file: Path | None = None
    """The site's holiday override file, named on the admin's calendar page."""
    attachments: AttachmentStore | None = None
    """Where a handler's site photo for an answer is stored (issue 13 item 7)."""


DESK = web.AppKey("desk", DeskDeps)
AGENT_PHONES = web.AppKey("agent_phones", AgentPresence)
"""Where agents' phones are kept, set by the console where the phone line has agents: the
sign-in form then takes an agent's SIP address too (``auth_pages``), stored in the same rows."""
CURRENT = web.RequestKey("desk_session", DeskSession)
"""``request[CURRENT]``: the ``DeskSession`` of a signed-in page request."""


def current(request: web.Request) -> DeskSession:
    """The signed-in staff member of a page guarded by ``signed_in`` middleware."""
    return request[CURRENT]
