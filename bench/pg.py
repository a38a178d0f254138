"""The PostgreSQL server the bench uses: its admin URL and the few admin statements it needs."""

from __future__ import annotations

import os

from sqlalchemy import text

from registrar.db import create_engine

PG_ADMIN = os.environ.get("HOTLINE_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")


def pg_url(database: str) -> str:
    """The URL of ``database`` on the admin URL's server."""
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + database


async def admin(statement: str) -> None:
    """Run one statement outside a transaction (CREATE/DROP DATABASE need that)."""
    engine = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def database_exists(name: str) -> bool:
    engine = create_engine(PG_ADMIN)
    try:
        async with engine.connect() as conn:
            found = await conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
            return found.first() is not None
    finally:
        await engine.dispose()
