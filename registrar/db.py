"""Engines and sessions for both backends.

On PostgreSQL a pooled connection is pinged before use only when it sat idle
(``PING_AFTER_IDLE_S``): that is when a server restart or a dropped network
leaves it dead. SQLAlchemy's own ``pool_pre_ping`` pings on every checkout,
which on asyncpg is three round trips (BEGIN, ``;``, ROLLBACK) before every
intake batch and every page: a fifth of a batch's round trips. A connection
that failed anyway (the server died within the last second) fails its
transaction, which every caller already survives (the intake's group commit
retries an invalidated batch once; a page answers 503), and the pool then
replaces every connection older than that failure.

SQLite is the embedded default. It is made durable and safe for concurrent
writers here: WAL, ``synchronous=FULL`` (a commit survives a power cut), a busy
timeout, foreign keys on, and every transaction begun ``IMMEDIATE`` so two
writers queue for the lock instead of failing with "database is locked" when a
reader upgrades to a writer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Column, Table, event, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.sql.dml import Insert


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _sqlite_durable(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """Create the async engine for ``url``, making the SQLite file's folder if needed."""
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, **kwargs)
        _sqlite_durable(engine)
        return engine
    engine = create_async_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        _ping_when_idle(engine)
    return engine


PING_AFTER_IDLE_S = 1.0
"""A pooled connection unused for longer than this is pinged before it is handed out."""


def _ping_when_idle(engine: AsyncEngine) -> None:
    """Pessimistic disconnect handling, paid only after idleness (SQLAlchemy's checkout recipe)."""
    pool, dialect = engine.sync_engine.pool, engine.sync_engine.dialect

    @event.listens_for(pool, "connect")
    @event.listens_for(pool, "checkin")
    def _fresh(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get("idle_since", 0.0) < PING_AFTER_IDLE_S:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as exc:
            # The pool discards this connection and checks out another (up to three tries).
            raise DisconnectionError(f"pooled connection dead after idling: {exc}") from exc


def store_unavailable(exc: BaseException) -> bool:
    """True when the database cannot be reached at all (not a refusal of one statement):
    retrying item by item is pointless, and a page should say "try later" (503), not 500."""
    if isinstance(exc, OSError | ConnectionError | TimeoutError | OperationalError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def stale_connection(exc: BaseException) -> bool:
    """True when a statement failed because its pooled connection had died: SQLAlchemy has
    invalidated it (and every older one), so the same work on a new connection may succeed."""
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def insert_in(dialect: str, table: Table | type[Any]) -> Insert:
    """An INSERT that knows ``ON CONFLICT`` (both backends spell it alike) in ``dialect``."""
    return pg_insert(table) if dialect == "postgresql" else sqlite_insert(table)


def insert_for(session: AsyncSession, table: Table | type[Any]) -> Insert:
    """``insert_in`` the session's dialect."""
    return insert_in(session.get_bind().dialect.name, table)


Statement = TypeVar("Statement")


def prebuilt(build: Callable[[str], Statement]) -> Callable[[AsyncSession], Statement]:
    """The statement ``build(dialect)`` makes, built once per dialect and then reused.

    Building a statement (``insert(…).on_conflict_do_nothing(…).returning(…)``) costs more
    than executing it from SQLAlchemy's compiled cache: a registration batch spent about
    0.5 ms of CPU building its statements anew. Built statements are immutable, so one
    per dialect serves every session; the values go in as bind parameters.
    """
    built: dict[str, Statement] = {}

    def statement(session: AsyncSession) -> Statement:
        dialect = session.get_bind().dialect.name
        found = built.get(dialect)
        if found is None:
            found = built[dialect] = build(dialect)
        return found

    return statement


def insert_new_only(table: Table, key: Sequence[Column[Any]]) -> Callable[[AsyncSession], Insert]:
    """``INSERT … ON CONFLICT (key) DO NOTHING RETURNING key…, id``, prebuilt: a row whose key
    is stored already (a concurrent writer's) is skipped, not an error, and not returned."""

    def build(dialect: str) -> Insert:
        stmt: Any = insert_in(dialect, table)
        result: Insert = stmt.on_conflict_do_nothing(index_elements=list(key)).returning(
            *key, table.c.id)
        return result

    return prebuilt(build)


async def serial_plan(session: AsyncSession) -> None:
    """Keep the rest of this transaction's queries off parallel plans (PostgreSQL only).

    A list that walks an index newest first and stops at its ``LIMIT`` is cheap in one
    process. At 1 000 000 cases PostgreSQL prices the same walk split over two workers
    behind a Gather Merge lower, and the workers run far past the limit before it stops
    them: the search by unit probed 33 000 cases instead of about 2 800 (110–250 ms
    against 9–14 ms, ``EXPLAIN (ANALYZE, BUFFERS)`` in docs/scaling.md). ``SET LOCAL``
    ends with the transaction, so reports that do profit from workers keep them.
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
