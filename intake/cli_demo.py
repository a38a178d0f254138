"""``hotline demo seed --months N``: the demo organisation plus a generated history (issue 15.6).

The history is written only into a database without cases: it is a demo and a
benchmark fixture, never something to mix with real items. ``make run`` asks
for a small one (a month, a few hundred items) so that the cockpit, the
bulletins and the ranking have figures on first sight and the start stays fast.
"""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import func, select

from config.settings import Settings
from contract.clock import FixedClock, SystemClock
from forwarder.calendar import WorkingCalendar
from forwarder.demo_history import History
from forwarder.due import CalendarDuePolicy
from forwarder.rules import load_revisions
from forwarder.workflow_base import Context
from registrar.db import create_engine, make_sessionmaker
from registrar.models import Case

#: Items a simulated day gets when ``--cases`` is not given.
PER_DAY = 12


async def seed_history(settings: Settings, *, months: int, cases: int | None,
                       seed: int = 12345) -> str:
    """Generate ``months`` of history ending now, if the database has no case yet."""
    engine = create_engine(settings.database_url)
    try:
        sessionmaker = make_sessionmaker(engine)
        async with sessionmaker() as session:
            existing = int(await session.scalar(select(func.count()).select_from(Case)) or 0)
        if existing:
            return f"history skipped: the database already holds {existing} case(s)"
        calendar = WorkingCalendar.load(zone=settings.tz, site_file=settings.calendar_path)
        end = SystemClock(settings.tz).now()
        start = end - timedelta(days=30 * months)
        clock = FixedClock(start)
        ctx = Context(clock=clock, due=CalendarDuePolicy(calendar),
                      sms_channel=settings.worker.sms_channel,
                      contest_days=settings.supervision.contest_days,
                      revisions=load_revisions(settings.regulation_path))
        total = cases if cases is not None else PER_DAY * 30 * months
        began = time.monotonic()
        report = await History(sessionmaker, ctx, calendar, store_dir=settings.attachments_dir,
                               seed=seed, prefix=settings.case_prefix).run(start, end, total)
    finally:
        await engine.dispose()
    moves = ", ".join(f"{k} {v}" for k, v in sorted(report.actions.items()))
    return (f"history: {report.cases} case(s) over {months} month(s) in "
            f"{time.monotonic() - began:.0f} s; {moves}; {report.refused} action(s) refused by the rules")
