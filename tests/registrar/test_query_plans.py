"""The desks' lists keep the plans that make them cost what the open work costs, not the history.

``bench.pages`` measures this at 1 000 000 cases; these tests pin the two things its
figures rest on, so that a refactor cannot lose them silently: the predicates of the
inbox and of the sweeper's claims are written into the SQL (a partial index only serves
a query whose predicate the planner can see, and a prepared statement's generic plan
sees no bound values), and the searches run without parallel workers.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from desks.staff.pages_cases import owing_query
from forwarder.sweeper import due_clocks, warning_clocks
from registrar.db import serial_plan
from registrar.models import ASSIGNMENT_DRAFTED, ASSIGNMENT_OWING, Unit


async def test_inbox_predicates_are_inline_and_walk_their_partial_indexes(session: AsyncSession) -> None:
    unit = (await session.execute(select(Unit).where(Unit.code == "city-urban"))).scalar_one()
    dialect = session.get_bind().dialect
    for where, index in ((ASSIGNMENT_OWING, "ix_assignment_owing"),
                         (ASSIGNMENT_DRAFTED, "ix_assignment_drafted")):
        query = owing_query(unit, where).limit(51)
        sql = str(query.compile(dialect=dialect))
        assert "role != 'bureau'" in sql and "'drafted'" in sql, sql  # values, not parameters
        if dialect.name != "postgresql":
            continue
        await session.execute(text("SET LOCAL enable_seqscan = off"))  # the test data is tiny
        literal = query.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
        plan = "\n".join((await session.execute(text(f"EXPLAIN {literal}"))).scalars())
        assert f"Index Scan using {index}" in plan and "Sort" not in plan, plan


async def test_searches_run_without_parallel_workers_on_postgresql(session: AsyncSession) -> None:
    await serial_plan(session)  # on SQLite: nothing to do, and no error
    if session.get_bind().dialect.name == "postgresql":
        shown = (await session.execute(text("SHOW max_parallel_workers_per_gather"))).scalar_one()
        assert shown == "0"


async def test_sweeper_claims_walk_their_partial_indexes(session: AsyncSession) -> None:
    """Of millions of clocks only the few open ones that ran out match; the claims must walk
    the partial indexes in claim order and stop at the batch, never sort what the table holds."""
    now = datetime(2026, 12, 2, 12, tzinfo=UTC)
    dialect = session.get_bind().dialect
    for query, index in ((due_clocks(now, 100), "ix_deadline_due_open"),
                         (warning_clocks(now, 100), "ix_deadline_warn_open")):
        literal = query.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
        if dialect.name == "postgresql":
            await session.execute(text("SET LOCAL enable_seqscan = off"))  # the test data is tiny
            plan = "\n".join((await session.execute(text(f"EXPLAIN {literal}"))).scalars())
            assert f"Index Scan using {index}" in plan and "Sort" not in plan, plan
        else:  # SQLite takes ``met_at IS NULL`` as an equality: the older indexes serve too
            rows = (await session.execute(text(f"EXPLAIN QUERY PLAN {literal}"))).all()
            plan = "\n".join(str(row[-1]) for row in rows)
            assert "USING INDEX" in plan and "TEMP B-TREE" not in plan, plan
