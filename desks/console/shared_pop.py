"""The screen pop across web processes that share a PostgreSQL database.

An ``announce_call`` in one process NOTIFYs every process (itself included);
each one sends the pop to the consoles connected to it and answers with how
many it reached. The announcer waits for one answer per listening process
(counted in ``pg_stat_activity``), never longer than ``ACK_TIMEOUT_S``, and
returns the total, so the phone channel can still tell "nobody is connected"
from "delivered" when the agent's browser is held by another process.
On SQLite there is one process and the hub stays in-process.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from desks.console.hub import ConsoleHub
from registrar.broadcast import listeners, listening, notify

log = logging.getLogger(__name__)

CHANNEL = "hotline_console_pop"
LISTENER_NAME = "hotline-console-pop"
"""The ``application_name`` of each process's listening connection (how they are counted)."""
ACK_TIMEOUT_S = 2.0
"""How long an announcer waits for a process that has gone quiet (crashed, overloaded)."""


@dataclass(slots=True)
class _Tally:
    """The answers to one announcement as they arrive."""

    expected: int
    seen: int = 0
    reached: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, reached: int) -> None:
        self.seen += 1
        self.reached += reached
        if self.seen >= self.expected:
            self.done.set()


@dataclass(slots=True)
class SharedPop:
    """This process's end of the shared screen pop (``hub.PopRelay``)."""

    hub: ConsoleHub
    engine: AsyncEngine
    pending: dict[str, _Tally] = field(default_factory=dict)
    deliveries: set[asyncio.Task[None]] = field(default_factory=set)

    async def announce(self, message: dict[str, Any], *, agent: str | None) -> int:
        """Pop ``message`` on every process's consoles (or ``agent``'s); the consoles reached."""
        tally = _Tally(expected=await listeners(self.engine, LISTENER_NAME))
        key = uuid.uuid4().hex
        self.pending[key] = tally
        try:
            await notify(self.engine, CHANNEL, json.dumps(
                {"kind": "pop", "id": key, "agent": agent, "message": message}, ensure_ascii=False))
            try:
                async with asyncio.timeout(ACK_TIMEOUT_S):
                    await tally.done.wait()
            except TimeoutError:
                log.warning("screen pop %s: %d of %d processes answered", key, tally.seen,
                            tally.expected)
            return tally.reached
        finally:
            del self.pending[key]

    def on_message(self, payload: str) -> None:
        """A NOTIFY on ``CHANNEL``: a pop to deliver here, or a process's answer to ours."""
        try:
            data = json.loads(payload)
            kind, key = data["kind"], str(data["id"])
            if kind == "pop":
                task = asyncio.create_task(self._deliver(key, data["message"], data.get("agent")))
                self.deliveries.add(task)
                task.add_done_callback(self.deliveries.discard)
            elif kind == "ack" and key in self.pending:
                self.pending[key].add(int(data["reached"]))
        except (ValueError, KeyError, TypeError) as exc:
            # Anyone with access to the database may NOTIFY: a stray message is not ours.
            log.warning("ignored a malformed screen-pop message: %s", exc)

    async def _deliver(self, key: str, message: dict[str, Any], agent: str | None) -> None:
        reached = await self.hub.send(message, agent=agent)
        await notify(self.engine, CHANNEL, json.dumps({"kind": "ack", "id": key,
                                                       "reached": reached}))


@asynccontextmanager
async def shared_pop(hub: ConsoleHub, engine: AsyncEngine,
                     database_url: str) -> AsyncIterator[SharedPop]:
    """Listen for screen pops for as long as the block runs (one connection per process)."""
    relay = SharedPop(hub, engine)
    async with listening(database_url, CHANNEL, relay.on_message, name=LISTENER_NAME):
        try:
            yield relay
        finally:
            for task in list(relay.deliveries):
                task.cancel()
            await asyncio.gather(*relay.deliveries, return_exceptions=True)
