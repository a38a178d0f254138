"""Durable intake throughput: ``register()`` against the bare durable write it is built on.

For each database (SQLite always; PostgreSQL when reachable) it measures:
- baseline: one committed single-row INSERT per item (the least a durable
  intake can do), with the same concurrency;
- intake: the full registration of an SMS envelope through ``IntakeService``
  (case number, contact, events, queue assignment, dispatch deadline, receipt
  notice, one transaction), with the same concurrency.
It prints items per second and intake/baseline. Nothing is asserted: this
measures, the tests prove.

    python -m bench [--items 400] [--concurrency 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import text

from config.organisation import load_organisation
from config.settings import DEMO_ORGANISATION_FILE
from contract.clock import SystemClock
from contract.envelope import Channel, Envelope
from forwarder.calendar import WorkingCalendar
from forwarder.due import CalendarDuePolicy
from intake.service import IntakeService
from registrar.attachments import AttachmentStore
from registrar.db import create_engine, make_sessionmaker
from registrar.migrate import upgrade
from registrar.roster import sync_organisation

TZ = ZoneInfo("Asia/Shanghai")
PG_ADMIN = os.environ.get("HOTLINE_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")


async def _run(jobs: list[object], concurrency: int, work: object) -> float:
    queue: asyncio.Queue[object] = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)

    async def worker() -> None:
        while not queue.empty():
            await work(queue.get_nowait())  # type: ignore[operator]

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - start


async def measure(url: str, items: int, concurrency: int, root: Path) -> tuple[float, float]:
    await asyncio.to_thread(upgrade, url)
    engine = create_engine(url)
    sessions = make_sessionmaker(engine)
    async with sessions.begin() as s:
        await sync_organisation(s, load_organisation(DEMO_ORGANISATION_FILE),
                                now=datetime(2026, 1, 1, tzinfo=TZ))
        await s.execute(text("CREATE TABLE IF NOT EXISTS bench_baseline (id VARCHAR(64) PRIMARY KEY, "
                             "body TEXT NOT NULL)"))

    async def baseline(job: object) -> None:
        async with sessions.begin() as s:
            await s.execute(text("INSERT INTO bench_baseline (id, body) VALUES (:i, :b)"),
                            {"i": str(job), "b": "台江区八一七路井盖缺失，很危险"})

    intake = IntakeService(sessions, SystemClock(TZ), AttachmentStore(root / "files"), "FZ12345",
                           due=CalendarDuePolicy(WorkingCalendar.load(zone=TZ)))

    async def register(job: object) -> None:
        await intake(Envelope(channel=Channel.SMS_MODEM, external_id=str(job),
                              received_at=datetime.now(TZ), text="台江区八一七路井盖缺失，很危险",
                              sender="+8613905910001", reply_address="+8613905910001"))

    base_s = await _run([uuid.uuid4().hex for _ in range(items)], concurrency, baseline)
    intake_s = await _run([uuid.uuid4().hex for _ in range(items)], concurrency, register)
    await engine.dispose()
    return items / base_s, items / intake_s


async def _pg_database() -> str | None:
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    name = f"hotline_bench_{uuid.uuid4().hex[:8]}"
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # no server here: report and measure SQLite only
        print(f"postgresql: skipped ({exc.__class__.__name__}: {str(exc)[:80]})")
        return None
    finally:
        await admin.dispose()
    return name


async def _drop(name: str) -> None:
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


async def main(items: int, concurrency: int) -> None:
    print(f"durable intake, {items} items, {concurrency} concurrent (items/s; ratio = intake/baseline)")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        base, full = await measure(f"sqlite+aiosqlite:///{root}/bench.db", items, concurrency, root)
        print(f"sqlite      baseline {base:8.1f}/s   register() {full:8.1f}/s   ratio {full / base:.2f}")
        name = await _pg_database()
        if name:
            try:
                url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
                base, full = await measure(url, items, concurrency, root)
                print(f"postgresql  baseline {base:8.1f}/s   register() {full:8.1f}/s   "
                      f"ratio {full / base:.2f}")
            finally:
                await _drop(name)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.items, args.concurrency))
