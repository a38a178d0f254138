"""The desks' lists keep the plans that make them cost what the open work costs, not the history.

``bench.pages`` measures this at 1 000 000 cases; these tests pin what its figures rest
on, so that a refactor cannot lose it silently: the predicates of the inbox, of the sweeper's
claims and of the supervision desk's list of efficiency events and its count of
consultations are written into the SQL (a partial index only serves a query whose predicate
the planner can see, and a prepared statement's generic plan sees no bound values), the
searches run without parallel workers and look a searched unit up once, the bureaus'
dispatch clocks are read as one range, not probed one assignment at a time, and the city
bureau's queue walks each section's unmet clocks in page order.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from desks.access.principal import Principal
from desks.api.routes import search_query
from desks.staff.pages_cases import QueueFilter, clock_sections, owing_query
from desks.staff.pages_supervision import (
    ACTIONS,
    choose_period,
    dispatch_clocks,
    newest_events,
)
from forwarder.knowledge import consultations_query
from forwarder.sweeper import due_clocks, warning_clocks
from registrar.db import serial_plan
from registrar.models import ASSIGNMENT_DRAFTED, ASSIGNMENT_OWING, EFFICIENCY_ACTIONS, Case, Unit


async def _plan(session: AsyncSession, query: Any) -> str:
    """PostgreSQL's plan for ``query`` with its values written in, sequential scans priced out
    (the test data is tiny)."""
    await session.execute(text("SET LOCAL enable_seqscan = off"))
    literal = query.compile(dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True})
    return "\n".join((await session.execute(text(f"EXPLAIN {literal}"))).scalars())


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
        plan = await _plan(session, query)
        assert f"Index Scan using {index}" in plan and "Sort" not in plan, plan


async def test_searches_run_without_parallel_workers_on_postgresql(session: AsyncSession) -> None:
    await serial_plan(session)  # on SQLite: nothing to do, and no error
    if session.get_bind().dialect.name == "postgresql":
        shown = (await session.execute(text("SHOW max_parallel_workers_per_gather"))).scalar_one()
        assert shown == "0"


async def test_supervision_lists_efficiency_events_by_walking_their_partial_index(
        session: AsyncSession) -> None:
    assert set(ACTIONS) == set(EFFICIENCY_ACTIONS)  # the page names every event the index holds
    period = choose_period({"period": "this_year"}, datetime(2026, 12, 2, tzinfo=UTC).date(), UTC)
    query = newest_events(period, None)
    sql = str(query.compile(dialect=session.get_bind().dialect))
    assert "'late_read'" in sql and "'efficiency_warning'" in sql, sql  # values, not parameters
    if session.get_bind().dialect.name == "postgresql":
        plan = await _plan(session, query)
        assert "Index Scan Backward using ix_event_efficiency_at" in plan and "Sort" not in plan, plan


async def test_supervision_counts_consultations_through_their_partial_index(
        session: AsyncSession) -> None:
    query = consultations_query(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
    sql = str(query.compile(dialect=session.get_bind().dialect))
    assert "'consultation'" in sql, sql
    if session.get_bind().dialect.name == "postgresql":
        assert "ix_case_consultation_closed_at" in await _plan(session, query)


async def test_sweeper_claims_walk_their_partial_indexes(session: AsyncSession) -> None:
    """Of millions of clocks only the few open ones that ran out match; the claims must walk
    the partial indexes in claim order and stop at the batch, never sort what the table holds."""
    now = datetime(2026, 12, 2, 12, tzinfo=UTC)
    dialect = session.get_bind().dialect
    for query, index in ((due_clocks(now, 100), "ix_deadline_due_open"),
                         (warning_clocks(now, 100), "ix_deadline_warn_open")):
        literal = query.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
        if dialect.name == "postgresql":
            # The test data is tiny and its statistics vary with the tests before: a 1-row
            # estimate makes any index plus a sort look as cheap. Pricing scans and sorts out
            # asks what matters here: does an index give the claim order under this predicate?
            await session.execute(text("SET LOCAL enable_seqscan = off"))
            await session.execute(text("SET LOCAL enable_sort = off"))
            plan = "\n".join((await session.execute(text(f"EXPLAIN {literal}"))).scalars())
            assert f"Index Scan using {index}" in plan and "Sort" not in plan, plan
        else:  # SQLite takes ``met_at IS NULL`` as an equality: the older indexes serve too
            rows = (await session.execute(text(f"EXPLAIN QUERY PLAN {literal}"))).all()
            plan = "\n".join(str(row[-1]) for row in rows)
            assert "USING INDEX" in plan and "TEMP B-TREE" not in plan, plan


async def test_supervision_reads_the_periods_dispatch_clocks_as_one_range(session: AsyncSession) -> None:
    period = choose_period({"period": "this_year"}, datetime(2026, 12, 2, tzinfo=UTC).date(), UTC)
    for district in (None, "gulou"):
        query = dispatch_clocks(period, district)
        if session.get_bind().dialect.name != "postgresql":
            continue  # SQLite before 3.35 has no MATERIALIZED: plain CTEs there
        assert "clocks AS MATERIALIZED" in str(query.compile(dialect=session.get_bind().dialect))
        plan = await _plan(session, query)
        assert "CTE Scan on clocks" in plan and "ix_deadline_assignment_id" in plan, plan
        assert "(assignment_id = " not in plan, plan  # no probe per assignment
        assert "pk_assignment" not in plan, plan  # the bounds: not a walk of the primary key


async def test_search_by_unit_looks_the_unit_up_once_not_per_assignment(session: AsyncSession) -> None:
    city = Principal(1, "city", "市信访局", "city_bureau", "city-bureau", "city_bureau", None)
    query = search_query(city, {"unit": "gulou-urban"}).order_by(Case.registered_at.desc()).limit(51)
    sql = " ".join(str(query.compile(dialect=session.get_bind().dialect)).split())
    assert "unit_id = (SELECT unit.id FROM unit WHERE unit.code =" in sql, sql
    if session.get_bind().dialect.name == "postgresql":
        plan = await _plan(session, query)
        assert "InitPlan" in plan and "pk_unit" not in plan, plan


async def test_city_queue_sections_walk_their_unmet_clocks_in_page_order(session: AsyncSession) -> None:
    """The city bureau's sections (its queued items, reviews, returns) span most of the open
    work: each walks the unmet clocks of its kind in due order (``ix_deadline_unmet_kind_due``)
    and stops at the page, instead of reading every open item in the state to sort it. The state
    is asked in a subquery the planner cannot see into (at a year's history it took state and
    clock as independent, expected a handful of rows, and sorted); a district's sections ask it
    plainly, so the planner starts from its few units."""
    dialect = session.get_bind().dialect
    for code, walks in (("city-bureau", True), ("gulou-bureau", False)):
        bureau = (await session.execute(select(Unit).where(Unit.code == code))).scalar_one()
        sections = clock_sections(bureau, QueueFilter())
        for name, kind in (("queue", "'dispatch'"), ("review", "'review'"),
                           ("returns", "'return_decision'")):
            query = sections[name].first.limit(51)
            sql = " ".join(str(query.compile(dialect=dialect)).split())
            assert f"kind = {kind}" in sql and "met_at IS NULL" in sql, sql  # values, not parameters
            assert ("EXISTS (SELECT 1 WHERE assignment.state =" in sql) is walks, sql
            if dialect.name != "postgresql" or not walks:
                continue
            # Tiny test data makes any plan look as cheap: with scans and sorts priced out the
            # question is whether the index gives the page order under this predicate.
            await session.execute(text("SET LOCAL enable_seqscan = off"))
            await session.execute(text("SET LOCAL enable_sort = off"))
            literal = query.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
            plan = "\n".join((await session.execute(text(f"EXPLAIN {literal}"))).scalars())
            assert "Index Scan using ix_deadline_unmet_kind_due" in plan, plan
            assert "Presorted Key: deadline_1.due_at" in plan, plan  # ties only are sorted
            assert not re.search(r"(?<!Incremental )Sort  \(", plan), plan  # no sort of the section
