"""Durable intake and page rates through the real service, each beside its baseline from the same run.

For each database (SQLite always; PostgreSQL when reachable) the whole service
runs here, built by ``create_app`` and served on local ports, while the load
comes from another process (``bench/load.py``, an aiohttp client and a plain
SMTP client), so the figures include HTTP, multipart, SMTP and MIME work:

- ``durable_intake_<channel>_<db>``: acknowledged items per second through the
  citizen web form and through fax-to-email (a 1 MB TIFF), against the
  baseline of bare single-row ``INSERT … COMMIT``\\ s through the same driver at
  the same concurrency (the disk's own durable-write rate), measured just before
  and just after the web form's run and averaged, as it drifts;
- ``durable_intake_fax_<db>_vs_same_bytes``: the fax rate against bare commits of
  rows as large as its TIFF: what merely storing a fax's bytes durably allows;
- ``ack_p50_ms`` / ``ack_p99_ms``: acknowledgement latency at 110 items/s,
  against the same bare commit paced at 110/s;
- ``get_rate_<page>_<db>``: ``/healthz`` and the form's GET against a bare
  aiohttp hello-world in the same process.

Then every case number the load generator was given is looked up: an
acknowledged item that is not stored fails the run.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import os
import time
import uuid
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from PIL import Image, ImageDraw
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.figures import Figure, print_figure
from bench.harness import hello_world, load, serve
from channels import SETTINGS_SECTIONS
from config.organisation import load_organisation
from config.settings import DEMO_ORGANISATION_FILE, Settings, load_settings
from intake import keys
from intake.app import create_app
from registrar.db import create_engine, make_sessionmaker
from registrar.migrate import upgrade
from registrar.roster import sync_organisation

TZ = ZoneInfo("Asia/Shanghai")
PACED_RATE = 110.0


def fax_tiff() -> bytes:
    """Two uncompressed A4 fax pages (1728 px at 204 × 196 dpi): about 1 MB, as a gateway sends."""
    pages = []
    for number in (1, 2):
        page = Image.new("1", (1728, 2430), 1)
        draw = ImageDraw.Draw(page)
        for row in range(40):
            draw.line((150, 200 + row * 50, 1500, 200 + row * 50), fill=0, width=2)
        draw.text((150, 120), f"page {number}", fill=0)
        pages.append(page)
    out = io.BytesIO()
    pages[0].save(out, format="TIFF", compression="raw", dpi=(204, 196), save_all=True,
                  append_images=pages[1:])
    return out.getvalue()


async def bare_commits(engine: AsyncEngine, *, seconds: float, concurrency: int,
                       rate: float | None = None,
                       body: str = "台江区八一七路井盖缺失，很危险") -> dict[str, float]:
    """The baseline: one single-row INSERT and its COMMIT per item (closed or open loop)."""
    latencies: list[float] = []

    async def one() -> None:
        start = time.perf_counter()
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO bench_baseline (id, body) VALUES (:i, :b)"),
                               {"i": uuid.uuid4().hex, "b": body})
        latencies.append((time.perf_counter() - start) * 1000)

    began = time.perf_counter()
    if rate is None:
        async def client() -> None:
            while time.perf_counter() < began + seconds:
                await one()
        await asyncio.gather(*(client() for _ in range(concurrency)))
    else:
        tasks = []
        for i in range(int(seconds * rate)):
            await asyncio.sleep(max(0.0, began + i / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
    elapsed, ordered = time.perf_counter() - began, sorted(latencies)
    return {"rate": len(ordered) / elapsed, "p50_ms": ordered[len(ordered) // 2],
            "p99_ms": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]}


async def prepare(url: str, root: Path) -> AsyncEngine:
    await asyncio.to_thread(upgrade, url)
    engine = create_engine(url)
    async with make_sessionmaker(engine).begin() as s:
        await sync_organisation(s, load_organisation(DEMO_ORGANISATION_FILE),
                                now=datetime(2026, 1, 1, tzinfo=TZ))
        await s.execute(text("CREATE TABLE IF NOT EXISTS bench_baseline (id VARCHAR(64) PRIMARY KEY, "
                             "body TEXT NOT NULL)"))
    return engine


async def check_stored(engine: AsyncEngine, acked: list[str]) -> str:
    """Every acknowledged number must be a stored case; the day's numbers must be gap-free."""
    async with engine.connect() as conn:
        stored = set((await conn.execute(text('SELECT number FROM "case"'))).scalars())
    lost = [n for n in acked if n not in stored]
    if lost:
        raise SystemExit(f"LOST: {len(lost)} acknowledged items not stored, e.g. {lost[:5]}")
    by_day: dict[str, list[int]] = {}
    for number in stored:
        _, day, seq = number.rsplit("-", 2)
        by_day.setdefault(day, []).append(int(seq))
    gaps = {day: len(seqs) for day, seqs in by_day.items() if sorted(seqs) != list(range(1, len(seqs) + 1))}
    if gaps:
        raise SystemExit(f"GAPS in case numbers: {gaps}")
    return f"{len(acked)} acknowledged, all stored; {len(stored)} cases, numbers gap-free"


def service_settings(db: str, url: str, root: Path) -> Settings:
    """The whole service on ``url`` with the web form and fax on free ports, no background jobs."""
    return load_settings(environ={}, overrides={
        "database_url": url, "data_dir": str(root / db),
        "web": {"secret_key": "bench-secret-key-0123456789abcdef", "port": 0},
        "fax": {"enabled": True, "port": 0}, "gammu": {"enabled": False}, "sip": {"enabled": False},
        "worker": {"outbox_enabled": False, "sweeper_enabled": False}}, sections=SETTINGS_SECTIONS)


async def bench_database(db: str, url: str, root: Path, args: argparse.Namespace) -> list[Figure]:
    engine = await prepare(url, root)
    app_runner, port = await serve(create_app(service_settings(db, url, root)))
    hello_runner, hello_port = await serve(hello_world())
    figures: list[Figure] = []
    acked: list[str] = []
    secs, conc, base = str(args.seconds), str(args.concurrency), f"http://127.0.0.1:{port}"
    tiff = root / "fax.tif"
    try:
        # The disk's commit rate drifts on a shared machine: the baseline is measured just
        # before and just after the web form's run, and their mean taken.
        before = await bare_commits(engine, seconds=args.seconds, concurrency=args.concurrency)
        paced = await bare_commits(engine, seconds=args.seconds / 2, concurrency=0, rate=PACED_RATE)
        fax_port = app_runner.app[keys.BOUND_PORTS]["fax.smtp"]
        bare = before
        for channel, target in (("web", ["web", "--url", base]),
                                ("fax", ["fax", "--smtp", f"127.0.0.1:{fax_port}",
                                         "--tiff", str(tiff)])):
            full = await load(*target, "--seconds", secs, "--concurrency", conc)
            if channel == "web":
                after = await bare_commits(engine, seconds=args.seconds, concurrency=args.concurrency)
                bare = {**before, "rate": (before["rate"] + after["rate"]) / 2}
                print(f"  bare commits: {before['rate']:.0f}/s before, {after['rate']:.0f}/s after "
                      f"the web form's run (baseline: their mean)")
            # Latency means something only below capacity: a channel slower than PACED_RATE
            # (fax) is paced at 80 % of what it just sustained, or its queue is all we measure.
            rate = min(PACED_RATE, 0.8 * full["rate"])
            if rate < PACED_RATE:
                print(f"  {channel}: latency paced at {rate:.1f} items/s (80 % of its rate)")
            at_rate = await load(*target, "--seconds", str(args.seconds / 2), "--rate", f"{rate:.3f}")
            acked += full["acked"] + at_rate["acked"]
            figures += [
                Figure.of(f"durable_intake_{channel}_{db}", "items/s", full["rate"], bare["rate"]),
                Figure.of(f"ack_p50_ms_{channel}_{db}", "ms", at_rate["p50_ms"], paced["p50_ms"]),
                Figure.of(f"ack_p99_ms_{channel}_{db}", "ms", at_rate["p99_ms"], paced["p99_ms"])]
            for figure in figures[-3:]:
                print_figure(figure)
        # The fax's own yardstick: the same bare commits, each row as large as the TIFF (random
        # base64: PostgreSQL cannot compress it away), i.e. merely storing what a fax carries.
        same_bytes = await bare_commits(engine, seconds=args.seconds, concurrency=args.concurrency,
                                        body=base64.b64encode(os.urandom(tiff.stat().st_size * 3 // 4))
                                        .decode())
        fax_rate = next(f.value for f in figures if f.name == f"durable_intake_fax_{db}")
        figures.append(Figure.of(f"durable_intake_fax_{db}_vs_same_bytes", "items/s", fax_rate,
                                 same_bytes["rate"]))
        print_figure(figures[-1])
        intake = app_runner.app[keys.INTAKE]
        stats = intake.committer.stats
        print(f"  group commit: {stats.items} items in {stats.batches} batches "
              f"(largest {stats.largest}, retried {stats.retried_batches})")
        intake.group_commit = False  # the per-item path, for comparison
        alone = await load("web", "--url", base, "--seconds", secs, "--concurrency", conc)
        intake.group_commit = True
        acked += alone["acked"]
        figures.append(Figure.of(f"durable_intake_web_{db}_per_item", "items/s", alone["rate"],
                                 bare["rate"]))
        print_figure(figures[-1])
        print("  " + await check_stored(engine, acked))
        hello = await load("get", "--url", f"http://127.0.0.1:{hello_port}/", "--seconds", secs,
                           "--concurrency", conc)
        for page, path in (("healthz", "/healthz"), ("form", "/")):
            got = await load("get", "--url", base + path, "--seconds", secs, "--concurrency", conc)
            figures.append(Figure.of(f"get_rate_{page}_{db}", "requests/s", got["rate"], hello["rate"]))
            print_figure(figures[-1])
    finally:
        await hello_runner.cleanup()
        await app_runner.cleanup()
        await engine.dispose()
    return figures
