"""``make bench``: every figure beside its baseline, printed and written to ``results/latest.json``.

Three parts, each in its own module, all through the real service with the
load coming from another process (``bench/load.py``):

- ``intake`` (``bench/intake.py``): durable intake through the web form and
  SMTP fax, acknowledgement latency and GET rates, on SQLite and PostgreSQL;
- ``pages`` (``bench/pages.py``, PostgreSQL): the bureau's queue, a unit's
  inbox, search and the supervision desk, and one sweep, at 1 000 000 cases
  against the same at 10 000 (``bench/bigdata.py`` generates both once and
  keeps them as template databases);
- ``scale`` (``bench/scale.py``): CPU per request with two web processes
  behind nginx against one.

Nothing is asserted on speed: this measures, the tests prove. What one intake
costs, in measures that load on the machine does not distort (statements, round
trips, server CPU, a profile), is ``python -m bench.cost`` (``bench/cost.py``).

    python -m bench [--quick] [--parts intake,pages,scale] [--only sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bench import pages, scale
from bench.bigdata import copy_of, ensure_template
from bench.figures import Figure, print_figure
from bench.harness import load, serve
from bench.intake import PACED_RATE, bench_database, fax_tiff
from bench.pg import admin, pg_url

TZ = ZoneInfo("Asia/Shanghai")
RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"
PARTS = ("intake", "pages", "scale")
GET_RATE = 500
"""Form GETs a second per web process in the scale part: well below one process's rate here."""


async def _pg_database() -> str | None:
    name = f"hotline_bench_{uuid.uuid4().hex[:8]}"
    try:
        await admin(f'CREATE DATABASE "{name}"')
    except Exception as exc:  # no server here: report and measure SQLite only
        print(f"postgresql: skipped ({exc.__class__.__name__}: {str(exc)[:80]})")
        return None
    return name


async def intake_part(root: Path, args: argparse.Namespace) -> list[Figure]:
    print(f"intake: {args.concurrency} concurrent clients, {args.seconds:g} s a phase; "
          f"latency at {PACED_RATE:g} items/s")
    figures: list[Figure] = []
    await asyncio.to_thread((root / "fax.tif").write_bytes, fax_tiff())
    if args.only in (None, "sqlite"):
        print("sqlite")
        figures += await bench_database("sqlite", f"sqlite+aiosqlite:///{root}/bench.db", root, args)
    name = await _pg_database() if args.only in (None, "postgresql") else None
    if name:
        print("postgresql")
        try:
            figures += await bench_database("postgresql", pg_url(name), root, args)
        finally:
            await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return figures


async def pages_part(root: Path, args: argparse.Namespace) -> list[Figure]:
    small, big = args.sizes
    print(f"pages (PostgreSQL): ms per view, one after another, at {big} cases; baseline {small}")
    now = datetime.now(TZ).replace(microsecond=0)
    measured = {}
    for n in (small, big):
        measured[n] = await pages.measure(n, now, root, load=load, serve=serve,
                                          seconds=args.page_seconds)
    label = f"{big // 1_000_000}m" if big >= 1_000_000 else f"{big // 1000}k"
    figures = []
    for name in measured[big]:
        kind = "sweep_ms" if name == "sweep" else f"view_ms_{name}"
        figures.append(Figure.of(f"{kind}_{label}", "ms", measured[big][name], measured[small][name]))
        print_figure(figures[-1])
    return figures


async def scale_part(root: Path, args: argparse.Namespace) -> list[Figure]:
    print(f"scale: web CPU per request behind nginx, 2 processes against 1, each paced at the same rate, "
          f"{args.rounds} alternating rounds (median)")
    url = await copy_of(await ensure_template(args.sizes[0], datetime.now(TZ)), "hotline_bench_scale")
    figures = []
    try:
        for page, mode, rate in (("form", ["get"], GET_RATE), ("intake", ["web"], PACED_RATE)):
            one, two = await scale.one_against_two(url, root / "scale", load=load, mode=mode,
                                                   seconds=args.seconds, rate=rate, rounds=args.rounds)
            print(f"  {page}: 1 process {min(one):.3f}–{max(one):.3f} ms, "
                  f"2 processes {min(two):.3f}–{max(two):.3f} ms CPU a request")
            figures.append(Figure.of(f"cpu_ms_per_request_{page}_2_web", "ms CPU", statistics.median(two),
                                     statistics.median(one)))
            print_figure(figures[-1])
    finally:
        await admin('DROP DATABASE IF EXISTS "hotline_bench_scale" WITH (FORCE)')
    return figures


async def main(args: argparse.Namespace) -> None:
    began = time.perf_counter()
    print("ratio = value / baseline")
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for part, run in (("intake", intake_part), ("pages", pages_part), ("scale", scale_part)):
            if part in args.parts:
                figures += await run(root, args)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps([asdict(f) for f in figures], indent=2) + "\n")
    print("\nall figures (value, baseline, ratio):")
    for figure in figures:
        print_figure(figure)
    shown = RESULTS.relative_to(Path.cwd()) if RESULTS.is_relative_to(Path.cwd()) else RESULTS
    print(f"written to {shown} in {time.perf_counter() - began:.0f} s")


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="a small run while developing: 1 s phases, pages at 10 000 vs 1 000 cases")
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--only", choices=["sqlite", "postgresql"], default=None)
    parser.add_argument("--parts", default=",".join(PARTS),
                        help=f"comma-separated, from {', '.join(PARTS)}")
    args = parser.parse_args()
    args.parts = [p for p in args.parts.split(",") if p]
    unknown = set(args.parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")
    args.seconds = args.seconds or (1.0 if args.quick else 5.0)
    args.page_seconds = 0.5 if args.quick else 3.0
    args.rounds = 1 if args.quick else 3
    args.sizes = (1_000, 10_000) if args.quick else (10_000, 1_000_000)
    return args


if __name__ == "__main__":
    asyncio.run(main(arguments()))
