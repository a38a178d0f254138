"""Page views and a sweep over a large history: ms at 1 000 000 cases against the same at 10 000.

Each page is served by the real app (``create_app``, PostgreSQL, the clock pinned
at the moment the generated data ends) and fetched by the load generator in its
own process, signed in as the demo user who works from it, one view after
another: the mean latency is the cost of one view. The baseline of each figure
is the same view over the 10 000-case database, so the ratio is the growth
from 10 k to 1 M cases (1.0 is flat; ``bench.bigdata`` explains why the open
work is the same in both). The generated history never went through a sweep, so
each copy first gets the sweeper's summaries (``unit_day``, read by the
supervision desk) brought up to date, as a running system has them.

The sweep figure adds clocks not yet due until 1 000 000 (or 10 000) are open,
makes ``DUE_NOW`` of them run out and ``DUE_NOW`` more reach their warning
since the last sweep, and times one ``Sweeper.run_once``: the same work in both
databases, so the ratio shows what the open clocks around it cost.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.bigdata import copy_of, ensure_template
from bench.pg import admin
from channels import SETTINGS_SECTIONS
from config.settings import load_settings
from contract.clock import FixedClock
from desks.access.accounts import demo_password
from forwarder.calendar import WorkingCalendar
from forwarder.cockpit_summary import rebuild
from forwarder.due import CalendarDuePolicy
from forwarder.sweeper import Sweeper
from forwarder.workflow_base import Context
from intake.app import create_app
from registrar.db import create_engine, make_sessionmaker

#: (figure name, demo user, path): what each desk opens most.
PAGES: tuple[tuple[str, str, str], ...] = (
    ("queue_city", "city", "/desk/queue"),
    ("queue_district", "gulou", "/desk/queue"),
    ("inbox_unit", "urban", "/desk/inbox"),
    ("search_text", "city", "/desk/search?q=%E4%BA%95%E7%9B%96"),
    ("search_phone", "city", "/desk/search?phone=13900069840"),
    ("search_status", "city", "/desk/search?status=dispatched"),
    ("search_unit", "gulou", "/desk/search?unit=gulou-urban"),
    ("supervision", "efficiency", "/desk/supervision"),
)
ZONE = ZoneInfo("Asia/Shanghai")
DUE_NOW = 500
"""Clocks that ran out since the last sweep (and as many that reached their warning)."""

Load = Callable[..., Awaitable[dict[str, Any]]]
Serve = Callable[[Any], Awaitable[tuple[Any, int]]]


async def data_now(url: str) -> datetime:
    """The moment the generated history ends; the app's clock is pinned there."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            moment: datetime = (await conn.execute(text("SELECT now FROM bench_meta"))).scalar_one()
            return moment.astimezone(ZONE)
    finally:
        await engine.dispose()


async def page_views(url: str, root: Path, *, load: Load, serve: Serve,
                     seconds: float) -> dict[str, float]:
    """Mean ms per view of every page in ``PAGES`` over the database at ``url``."""
    now = await data_now(url)
    settings = load_settings(environ={}, overrides={
        "database_url": url, "data_dir": str(root / "pages"),
        "web": {"secret_key": "bench-secret-key-0123456789abcdef", "port": 0},
        "fax": {"enabled": False}, "gammu": {"enabled": False}, "sip": {"enabled": False},
        "worker": {"outbox_enabled": False, "sweeper_enabled": False}}, sections=SETTINGS_SECTIONS)
    runner, port = await serve(create_app(settings, clock=FixedClock(now)))
    out: dict[str, float] = {}
    try:
        for name, user, path in PAGES:
            got = await load("get", "--url", f"http://127.0.0.1:{port}{path}", "--seconds", str(seconds),
                             "--concurrency", "1", "--login", f"{user}:{demo_password(user)}")
            out[name] = float(got["mean_ms"])
    finally:
        await runner.cleanup()
    return out


async def summarise(url: str) -> float:
    """Bring the sweeper's summaries (``unit_day``) up to date, as a running system keeps them:
    the generated history never went through a sweep. Returns the seconds it took."""
    engine = create_engine(url)
    try:
        began = time.perf_counter()
        async with make_sessionmaker(engine).begin() as session:
            days = await rebuild(session, zone=ZONE)
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("ANALYZE unit_day, unit_month"))
        elapsed = time.perf_counter() - began
        print(f"    summaries: {days} days counted in {elapsed:.1f} s", flush=True)
        return elapsed
    finally:
        await engine.dispose()


async def _open_clocks_to(conn: Any, total: int, now: datetime) -> None:
    """Add clocks not yet due (warned already) on existing lead assignments until ``total`` are open."""
    have = (await conn.execute(text("SELECT count(*) FROM deadline WHERE met_at IS NULL AND NOT missed"))
            ).scalar_one()
    await conn.execute(text("""
        INSERT INTO deadline (case_id, assignment_id, kind, rule, started_at, working_days, due_at,
                              provisional, warn_at, warned, met_at, missed, cancelled)
        SELECT a.case_id, a.id, 'answer', 'R8.2a', CAST(:now AS timestamptz), 10,
               CAST(:now AS timestamptz) + make_interval(hours => (1 + g % 300)::int), false,
               CAST(:now AS timestamptz), true, NULL, false, false
        FROM generate_series(1, CAST(:more AS bigint)) AS g
        JOIN assignment a ON a.id = 2 * (1 + g % (SELECT max(case_id) FROM assignment))
    """), {"now": now, "more": max(0, total - int(have))})


async def _make_due(conn: Any, now: datetime) -> None:
    """``DUE_NOW`` open answer clocks ran out half a minute ago; ``DUE_NOW`` others reached their
    warning then (each UPDATE takes rows still due later than an hour, so the two sets differ)."""
    for change in ("due_at = CAST(:now AS timestamptz) - interval '30 seconds'",
                   "warn_at = CAST(:now AS timestamptz) - interval '30 seconds', warned = false"):
        await conn.execute(text(f"""
            UPDATE deadline SET {change}
            WHERE id IN (SELECT d.id FROM deadline d JOIN assignment a ON a.id = d.assignment_id
                         WHERE d.met_at IS NULL AND NOT d.missed AND d.kind = 'answer'
                           AND d.due_at > CAST(:now AS timestamptz) + interval '1 hour'
                           AND a.state IN ('read', 'drafted')
                         ORDER BY d.id DESC LIMIT {DUE_NOW})
        """), {"now": now})


async def prepare_sweep(engine: AsyncEngine, open_clocks: int) -> Context:
    """Bring the open clocks to ``open_clocks``, make ``DUE_NOW`` run out and ``DUE_NOW`` more
    reach their warning; the context (clock pinned where the data ends) to sweep with."""
    now = await data_now(engine.url.render_as_string(hide_password=False))
    async with engine.begin() as conn:
        await _open_clocks_to(conn, open_clocks, now)
        await _make_due(conn, now)
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("ANALYZE deadline"))
    calendar = WorkingCalendar.load(zone=ZONE)
    return Context(clock=FixedClock(now), due=CalendarDuePolicy(calendar))


async def sweep_once(url: str, open_clocks: int) -> float:
    """ms for one sweep over ``open_clocks`` open clocks, ``DUE_NOW`` of them due and as many warned."""
    engine = create_engine(url)
    try:
        ctx = await prepare_sweep(engine, open_clocks)
        began = time.perf_counter()
        report = await Sweeper(make_sessionmaker(engine), ctx).run_once()
        elapsed = (time.perf_counter() - began) * 1000
        print(f"    sweep over {open_clocks} open clocks: {report}")
        return elapsed
    finally:
        await engine.dispose()


async def measure(n: int, now: datetime, root: Path, *, load: Load, serve: Serve,
                  seconds: float) -> dict[str, float]:
    """Every page's ms per view and the sweep's ms over a copy of the ``n``-case template."""
    template = await ensure_template(n, now)
    name = f"hotline_bench_run_{n}"
    url = await copy_of(template, name)
    try:
        await summarise(url)
        results = await page_views(url, root, load=load, serve=serve, seconds=seconds)
        results["sweep"] = await sweep_once(url, open_clocks=n)
    finally:
        await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return results
