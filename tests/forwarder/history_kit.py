"""A month of simulated activity through the real workflow (``forwarder.demo_history``), built
once per test module into its own database, for tests that only read it (issue 15)."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from contract.clock import FixedClock
from desks.access.accounts import seed_demo_accounts
from forwarder.calendar import WorkingCalendar
from forwarder.demo_history import History, HistoryReport
from forwarder.due import CalendarDuePolicy
from forwarder.workflow_base import Context
from registrar.db import create_engine, make_sessionmaker
from tests.conftest import TZ, _pg_admin, _pg_url
from tests.forwarder.api_kit import FAST_HASHER

#: The history ends where the tests' clock stands (Tuesday 2026-11-24, 10:00 in Fuzhou).
END = datetime(2026, 11, 24, 10, 0, tzinfo=TZ)
START = END - timedelta(days=30)
CASES = 90


async def build(url: str, data_dir: Path) -> HistoryReport:
    engine = create_engine(url)
    try:
        calendar = WorkingCalendar.load(zone=TZ)
        ctx = Context(clock=FixedClock(START), due=CalendarDuePolicy(calendar))
        sessionmaker = make_sessionmaker(engine)
        async with sessionmaker.begin() as session:
            await seed_demo_accounts(session, START, hasher=FAST_HASHER)
        return await History(sessionmaker, ctx, calendar, store_dir=data_dir).run(START, END, CASES)
    finally:
        await engine.dispose()


@pytest.fixture(scope="module", name="history_db")
def history_fixture(template_db: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[tuple[str, HistoryReport]]:
    """(url, report) of a database holding a month of activity, shared by a module's tests."""
    backend, template_url = template_db
    root = tmp_path_factory.mktemp("history")
    if backend == "sqlite":
        target = root / "history.db"
        shutil.copyfile(Path(template_url.split("///", 1)[1]), target)
        url = f"sqlite+aiosqlite:///{target}"
        yield url, asyncio.run(build(url, root / "data"))
        return
    name = f"hotline_hist_{uuid.uuid4().hex[:10]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template_url.rsplit("/", 1)[1]}"'))
    url = _pg_url(name)
    try:
        yield url, asyncio.run(build(url, root / "data"))
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
