"""Messages between the processes that share one PostgreSQL database (LISTEN/NOTIFY).

Several web processes behind a balancer each hold their own websockets; a
screen pop announced in one must reach a console connected to another. The
database they already share carries it: each process keeps one dedicated
connection that LISTENs on a channel, and anyone may NOTIFY it. Nothing is
stored (a message to a process that is down is simply not seen, which suits a
screen pop), and SQLite has no such thing: there the service runs in one
process and stays in-process.

See https://www.postgresql.org/docs/current/sql-notify.html (payloads under
8000 bytes, delivered on commit, in order per sender).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

MAX_PAYLOAD = 7900
"""PostgreSQL refuses a NOTIFY payload of 8000 bytes or more."""


def asyncpg_dsn(database_url: str) -> str:
    """``postgresql+asyncpg://…`` (SQLAlchemy's form) → the ``postgresql://…`` asyncpg takes."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(
        hide_password=False)


@asynccontextmanager
async def listening(database_url: str, channel: str, on_message: Callable[[str], None], *,
                    name: str) -> AsyncIterator[asyncpg.Connection]:
    """LISTEN on ``channel`` for as long as the block runs; ``on_message(payload)`` is called
    on the event loop for each NOTIFY. The connection carries ``name`` as its
    ``application_name``, so ``listeners`` can count the processes listening."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url),
                                 server_settings={"application_name": name})

    def deliver(_conn: object, _pid: int, _channel: str, payload: str) -> None:
        on_message(payload)

    try:
        await conn.add_listener(channel, deliver)
        yield conn
    finally:
        try:
            if not conn.is_closed():
                await conn.remove_listener(channel, deliver)
        finally:
            conn.terminate() if conn.is_closed() else await conn.close()


async def notify(engine: AsyncEngine, channel: str, payload: str) -> None:
    """NOTIFY ``channel`` (committed at once); refuses a payload PostgreSQL would refuse."""
    if len(payload.encode()) > MAX_PAYLOAD:
        raise ValueError(f"NOTIFY payload of {len(payload.encode())} bytes is too long")
    async with engine.begin() as conn:
        await conn.execute(text("SELECT pg_notify(:channel, :payload)"),
                           {"channel": channel, "payload": payload})


async def listeners(engine: AsyncEngine, name: str) -> int:
    """How many connections named ``name`` (one per listening process) this database has."""
    async with engine.connect() as conn:
        found = await conn.scalar(text(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = :name"), {"name": name})
    return int(found or 0)


async def keep_listening(database_url: str, channel: str, on_message: Callable[[str], None], *,
                         name: str, on_change: Callable[[asyncpg.Connection | None], None],
                         retry_s: float = 1.0, max_retry_s: float = 30.0) -> None:
    """LISTEN on ``channel`` until cancelled, reconnecting with backoff when the database drops
    the connection or cannot be reached; ``on_change`` gets the connection, or None while
    there is none (the caller then works in this process only)."""
    delay = retry_s
    while True:
        try:
            async with listening(database_url, channel, on_message, name=name) as conn:
                on_change(conn)
                delay = retry_s
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _conn, lost=lost: lost.set())
                await lost.wait()
        except (OSError, ConnectionError, asyncpg.PostgresError) as exc:
            log.warning("%s: listener unavailable (%s); retrying in %.0f s", name, exc, delay)
        finally:
            on_change(None)
        await asyncio.sleep(delay)
        delay = min(delay * 2, max_retry_s)
