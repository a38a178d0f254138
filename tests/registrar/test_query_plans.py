"""The desks' lists keep the plans that make them cost what the open work costs, not the history.

``bench.pages`` measures this at 1 000 000 cases; these tests pin the two things its
figures rest on, so that a refactor cannot lose them silently: the inbox's predicates
are written into the SQL (a partial index only serves a query whose predicate the
planner can see, and a prepared statement's generic plan sees no bound values), and
the searches run without parallel workers.
"""

from __future__ import annotations

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from desks.staff.pages_cases import owing_query
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
