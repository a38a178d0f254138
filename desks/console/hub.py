"""The console's websocket hub: which agents are connected, and the screen pop for a new call.

The phone channel calls ``announce_call(app, caller)`` when a call reaches the
agents (or ``agent=`` the one it was routed to); every open console of that
agent fills in the caller's number and shows their earlier cases. The hub holds
this process's websockets; on PostgreSQL a ``PopRelay`` (``shared_pop.py``,
LISTEN/NOTIFY) carries each announcement to every web process sharing the
database, so the pop reaches the agent whichever process their browser holds.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import WSCloseCode, web

log = logging.getLogger(__name__)

HEARTBEAT_S = 25.0
"""Ping interval; a browser that stops answering is dropped after about this long."""
SEND_TIMEOUT_S = 5.0


@dataclass(slots=True)
class ConsoleHub:
    """Open console websockets, by agent username."""

    sockets: dict[str, set[web.WebSocketResponse]] = field(default_factory=lambda: defaultdict(set))

    def add(self, agent: str, ws: web.WebSocketResponse) -> None:
        self.sockets[agent].add(ws)

    def remove(self, agent: str, ws: web.WebSocketResponse) -> None:
        """Forget one socket; the agent's entry goes when their last console closes."""
        open_ = self.sockets.get(agent)
        if open_ is None:
            return
        open_.discard(ws)
        if not open_:
            del self.sockets[agent]

    def agents(self) -> list[str]:
        """Usernames with at least one console open."""
        return sorted(self.sockets)

    def count(self) -> int:
        return sum(len(s) for s in self.sockets.values())

    async def send(self, message: dict[str, Any], *, agent: str | None = None) -> int:
        """Send ``message`` to every console (or one agent's); returns how many got it."""
        targets = [(name, ws) for name, socks in self.sockets.items()
                   if agent is None or name == agent for ws in socks]
        payload = json.dumps(message, ensure_ascii=False)
        results = await asyncio.gather(*(self._send_one(ws, payload) for _, ws in targets))
        for (name, ws), ok in zip(targets, results, strict=True):
            if not ok:
                self.remove(name, ws)
        return sum(results)

    @staticmethod
    async def _send_one(ws: web.WebSocketResponse, payload: str) -> bool:
        if ws.closed:
            return False
        try:
            async with asyncio.timeout(SEND_TIMEOUT_S):
                await ws.send_str(payload)
        except (ConnectionError, RuntimeError, TimeoutError) as exc:
            # A console that vanished mid-send: the call still reaches the others.
            log.info("console websocket dropped while sending: %s", exc)
            return False
        return True

    async def close_all(self) -> None:
        """Close every console socket (server shutdown), so no handler waits forever."""
        sockets = [ws for socks in self.sockets.values() for ws in socks]
        await asyncio.gather(*(ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")
                               for ws in sockets), return_exceptions=True)
        self.sockets.clear()


HUB = web.AppKey("console_hub", ConsoleHub)


class PopRelay(Protocol):
    """Carries an announcement to the hubs of every process (``shared_pop.SharedPop``)."""

    async def announce(self, message: dict[str, Any], *, agent: str | None) -> int: ...


POP_RELAY = web.AppKey("console_pop_relay", PopRelay)
"""Set by the composition root where several processes share the database (PostgreSQL)."""


async def announce_call(app: web.Application, caller: str, *, agent: str | None = None,
                        call: str = "") -> int:
    """Pop a call to the agents' consoles: ``{"type": "call", "caller": "+86…"}``.

    ``caller`` is the number as the phone channel has it (E.164 preferred; the
    console normalises what it shows); ``call`` is the phone line's id of the live
    call, which the console's emergency key sends back. Returns the number of consoles reached,
    so the phone channel can tell "nobody is connected" from "delivered" (on
    PostgreSQL: in every process sharing the database).
    """
    message = {"type": "call", "caller": caller}
    if call:  # the line's id of the live call: the console sends it back with the emergency key
        message["call"] = call
    return await to_consoles(app, message, agent=agent)


async def to_consoles(app: web.Application, message: dict[str, Any], *, agent: str | None) -> int:
    """Send ``message`` to every console (or ``agent``'s), in every process sharing the database."""
    relay = app.get(POP_RELAY)
    if relay is not None:
        return await relay.announce(message, agent=agent)
    return await app[HUB].send(message, agent=agent)
