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

import asyncpg
from sqlalchemy.exc import SQLAlchemyError
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
    connection: asyncpg.Connection | None = None
    """The listening connection, to notice when the database drops it."""

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
    async with listening(database_url, CHANNEL, relay.on_message, name=LISTENER_NAME) as conn:
        relay.connection = conn
        try:
            yield relay
        finally:
            for task in list(relay.deliveries):
                task.cancel()
            await asyncio.gather(*relay.deliveries, return_exceptions=True)


@dataclass(slots=True)
class ResilientPop:
    """The process's relay, kept listening across database outages.

    The service must start and serve while PostgreSQL is away (the citizen
    form answers "try again", the modem keeps its texts), so the listener is
    (re)connected in the background with backoff. While it is down, a pop
    reaches this process's consoles only, and says so in the log.
    """

    hub: ConsoleHub
    engine: AsyncEngine
    database_url: str
    current: SharedPop | None = None
    retry_s: float = 1.0

    async def announce(self, message: dict[str, Any], *, agent: str | None) -> int:
        relay = self.current
        if relay is None:
            log.warning("screen pop: not listening on the database; this process's consoles only")
            return await self.hub.send(message, agent=agent)
        try:
            return await relay.announce(message, agent=agent)
        except (OSError, ConnectionError, SQLAlchemyError, asyncpg.PostgresError) as exc:
            log.warning("screen pop across processes failed (%s); this process only", exc)
            return await self.hub.send(message, agent=agent)

    async def keep_listening(self) -> None:
        """Hold one listening connection; when it is lost or cannot be had, try again later."""
        delay = self.retry_s
        while True:
            try:
                async with shared_pop(self.hub, self.engine, self.database_url) as relay:
                    self.current, delay = relay, self.retry_s
                    lost = asyncio.Event()
                    assert relay.connection is not None
                    relay.connection.add_termination_listener(lambda _conn, lost=lost: lost.set())
                    await lost.wait()  # the database closed or dropped the connection
            except (OSError, ConnectionError, asyncpg.PostgresError) as exc:
                log.warning("screen pop listener unavailable (%s); retrying in %.0f s", exc, delay)
            finally:
                self.current = None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)
