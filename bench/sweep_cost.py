"""What one sweep costs in SQL statements, counted rather than timed (the machine is shared).

Copies the generated template of each size (``bench.bigdata``), prepares the same
sweep as ``bench.pages`` (``DUE_NOW`` clocks run out, as many reach their warning,
the rest of the open clocks up to the size) and counts every statement of one
``Sweeper.run_once`` with a ``before_cursor_execute`` listener, by kind (verb and
table), the seconds they took by kind, and the process's CPU seconds. An ``executemany`` counts once, as it is
sent (the report's tallies show that the work done is the same).

    python -m bench.sweep_cost [--sizes 10000,1000000] [--top 25]

Prints one JSON object per size. The copies are this tool's own databases
(``hotline_sweep_cost_<n>``), dropped afterwards; the templates are kept.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time
from collections import Counter
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import event

from bench.bigdata import copy_of, ensure_template
from bench.pages import DUE_NOW, ZONE, prepare_sweep, summarise
from bench.pg import admin
from forwarder.sweeper import Sweeper
from registrar.db import create_engine, make_sessionmaker

_TABLE = re.compile(r'\b(?:FROM|INTO|UPDATE)\s+"?(\w+)"?', re.IGNORECASE)


def kind_of(statement: str) -> str:
    """``VERB table`` of a statement (its first table named after FROM, INTO or UPDATE)."""
    words = statement.split(None, 2)
    verb = " ".join(words[:2]).upper() if words[:1] == ["RELEASE"] else (words or ["?"])[0].upper()
    found = _TABLE.search(statement)
    return f"{verb} {found.group(1)}" if found and verb in ("SELECT", "INSERT", "UPDATE", "DELETE") \
        else verb


async def count_sweep(n: int, *, top: int) -> dict[str, Any]:
    """Statements, by kind, and CPU seconds of one sweep over a copy of the ``n``-case template."""
    name = f"hotline_sweep_cost_{n}"
    url = await copy_of(await ensure_template(n, datetime.now(ZONE)), name)
    try:
        await summarise(url)
        engine = create_engine(url)
        try:
            ctx = await prepare_sweep(engine, n)
            kinds: Counter[str] = Counter()
            seconds: dict[str, float] = {}
            began_at: list[float] = []

            def _statement(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
                kinds[kind_of(statement)] += 1
                began_at.append(time.perf_counter())

            def _done(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
                kind = kind_of(statement)
                seconds[kind] = seconds.get(kind, 0.0) + time.perf_counter() - began_at.pop()

            event.listen(engine.sync_engine, "before_cursor_execute", _statement)
            event.listen(engine.sync_engine, "after_cursor_execute", _done)
            cpu, began = time.process_time(), time.perf_counter()
            report = await Sweeper(make_sessionmaker(engine), ctx).run_once()
            cpu, wall = time.process_time() - cpu, time.perf_counter() - began
            event.remove(engine.sync_engine, "before_cursor_execute", _statement)
            event.remove(engine.sync_engine, "after_cursor_execute", _done)
        finally:
            await engine.dispose()
    finally:
        await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    total = sum(kinds.values())
    return {"open_clocks": n, "due": DUE_NOW, "report": {k: v for k, v in asdict(report).items() if v},
            "statements": total, "per_missed_clock": round(total / DUE_NOW, 2),
"cpu_s": round(cpu, 2), "wall_s": round(wall, 2),
            "by_kind": dict(kinds.most_common(top)),
            "seconds_by_kind": {k: round(v, 3) for k, v in Counter(seconds).most_common(top)}}


async def main(args: argparse.Namespace) -> None:
    for n in args.sizes:
        print(json.dumps(await count_sweep(n, top=args.top), ensure_ascii=False), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")],
                        default=[10_000, 1_000_000])
    parser.add_argument("--top", type=int, default=25)
    asyncio.run(main(parser.parse_args()))
