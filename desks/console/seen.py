"""Consoles seen connected: what tells the phone line an agent's browser is still open.

A web process marks each agent with an open console websocket seen every
``SEEN_EVERY_S`` (and at connect and close); the line offers calls only to
agents seen within its grace period (``[sip] agent_console_grace_s``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from desks.console.deps import CONSOLE
from desks.console.hub import HUB

log = logging.getLogger(__name__)

SEEN_EVERY_S = 10.0
"""How often open consoles are marked seen; the line's grace period must be longer."""


async def console_seen(app: web.Application, agent: str) -> None:
    """Mark one agent's console seen now (it just connected or closed); never fails the socket."""
    presence = app[CONSOLE].presence
    if presence is None:
        return
    try:
        await presence.seen([agent])
    except (OSError, SQLAlchemyError) as exc:
        log.warning("console of %s: presence not recorded (%s)", agent, exc)


async def _keep_seen(app: web.Application) -> None:
    while True:
        await asyncio.sleep(SEEN_EVERY_S)
        presence = app[CONSOLE].presence
        agents = app[HUB].agents()
        if presence is None or not agents:
            continue
        try:
            await presence.seen(agents)
        except (OSError, SQLAlchemyError) as exc:  # the database is away: try again next time
            log.warning("consoles' presence not renewed (%s)", exc)


async def seen_while_connected(app: web.Application) -> AsyncIterator[None]:
    """``cleanup_ctx``: renew open consoles' presence for as long as the app runs."""
    task = asyncio.create_task(_keep_seen(app), name="console-presence")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
