"""Shared fixtures: both databases, migrated by Alembic; a pinned clock; the app.

Every database test runs twice, on SQLite and on PostgreSQL. PostgreSQL is
found at ``HOTLINE_TEST_PG_URL`` (default: the local server with trust auth).
On CI (``CI`` set) a missing PostgreSQL fails the run; on a laptop the
PostgreSQL half is skipped with the reason printed.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from channels import SETTINGS_SECTIONS
from config.organisation import load_organisation
from config.settings import DEMO_ORGANISATION_FILE, Settings, load_settings
from contract.clock import FixedClock
from registrar.db import create_engine, make_sessionmaker
from registrar.migrate import upgrade
from registrar.roster import sync_organisation

TZ = ZoneInfo("Asia/Shanghai")
PG_ADMIN_URL = os.environ.get(
    "HOTLINE_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
SEED_TIME = datetime(2026, 1, 5, 9, 0, tzinfo=TZ)


def on_ci() -> bool:
    return bool(os.environ.get("CI"))


def _unavailable(reason: str) -> None:
    if on_ci():
        pytest.fail(f"{reason} (required on CI)")
    pytest.skip(reason)


async def _pg_admin(statement: str) -> None:
    engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


def _pg_url(database: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + database


async def _seed(url: str) -> None:
    engine = create_engine(url)
    try:
        async with make_sessionmaker(engine).begin() as session:
            await sync_organisation(session, load_organisation(DEMO_ORGANISATION_FILE),
                                    now=SEED_TIME)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def template_db(request: pytest.FixtureRequest,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A database migrated to head and seeded with the demo organisation: (backend, url)."""
    backend: str = request.param
    if backend == "sqlite":
        path = tmp_path_factory.mktemp("db") / "template.db"
        url = f"sqlite+aiosqlite:///{path}"
        upgrade(url)
        asyncio.run(_seed(url))
        yield backend, url
        return
    name = f"hotline_tmpl_{uuid.uuid4().hex[:10]}"
    try:
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        _unavailable(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}")
    url = _pg_url(name)
    upgrade(url)
    asyncio.run(_seed(url))
    yield backend, url
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def backend(template_db: tuple[str, str]) -> str:
    return template_db[0]


@pytest.fixture
def db_url(template_db: tuple[str, str], tmp_path: Path) -> Iterator[str]:
    """A fresh database of its own for one test (a copy of the template), dropped after."""
    backend, template_url = template_db
    if backend == "sqlite":
        source = Path(template_url.split("///", 1)[1])
        target = tmp_path / "hotline.db"
        shutil.copyfile(source, target)
        yield f"sqlite+aiosqlite:///{target}"
        return
    name = f"hotline_test_{uuid.uuid4().hex[:10]}"
    template = template_url.rsplit("/", 1)[1]
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    yield _pg_url(name)
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(db_url)
    yield eng
    await eng.dispose()


@pytest.fixture
async def session(template_db: tuple[str, str]) -> AsyncIterator[AsyncSession]:
    """A session inside a transaction that is rolled back after the test."""
    eng = create_engine(template_db[1])
    try:
        async with eng.connect() as conn:
            outer = await conn.begin()
            sess = AsyncSession(bind=conn, join_transaction_mode="create_savepoint",
                                expire_on_commit=False)
            try:
                yield sess
            finally:
                await sess.close()
                await outer.rollback()
    finally:
        await eng.dispose()


@pytest.fixture
def clock() -> FixedClock:
    """Tuesday 2026-11-24, 10:00 in Fuzhou."""
    return FixedClock(datetime(2026, 11, 24, 10, 0, tzinfo=TZ))


def make_settings(db_url: str, data_dir: Path, **overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "database_url": db_url,
        "data_dir": str(data_dir),
        "web": {"secret_key": "test-secret-key-0123456789abcdef", "port": 0},
        # Channels with their own listeners and the background jobs are off unless a
        # test turns them on (with port 0 and its own directories).
        "fax": {"enabled": False},
        "gammu": {"enabled": False},
        "sip": {"enabled": False},
        "worker": {"outbox_enabled": False, "sweeper_enabled": False},
    }
    base.update(overrides)
    return load_settings(environ={}, overrides=base, sections=SETTINGS_SECTIONS)


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return make_settings(db_url, tmp_path / "data")


@pytest.fixture
async def client(settings: Settings, clock: FixedClock) -> AsyncIterator[TestClient[Any, Any]]:
    """The whole app, built by its factory, served on a free local port."""
    from intake.app import create_app

    async with TestClient(TestServer(create_app(settings, clock=clock))) as test_client:
        yield test_client
