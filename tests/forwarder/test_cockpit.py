"""The cockpit after a month of simulated activity (issue 15.1, 15.7): its summaries equal a direct
count, every chart equals its table and its CSV, every figure leads to exactly its cases, district
staff see their district, and no query of the page scans a table of cases, clocks or events."""

from __future__ import annotations

import csv
import io
import re
import sqlite3
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import event

from contract.clock import FixedClock
from forwarder.cockpit import unit_figures
from forwarder.cockpit_drill import window
from forwarder.demo_history import HistoryReport
from forwarder.supervision import unit_stats
from intake import keys
from intake.app import create_app
from registrar.db import create_engine, make_sessionmaker
from tests.conftest import TZ, make_settings
from tests.forwarder.history_kit import END, history_fixture  # noqa: F401  (the fixture)
from tests.forwarder.test_desk_admin import sign_in

Client = TestClient[Any, Any]
MONTH = "period=custom&from=2026-10-25&to=2026-11-24"
CHARTS = ("stages", "colours", "lateness", "trend", "channels", "hours")


@pytest.fixture
async def cockpit(history_db: tuple[str, HistoryReport], tmp_path: Path) -> AsyncIterator[Client]:
    settings = make_settings(history_db[0], tmp_path / "data")
    async with TestClient(TestServer(create_app(settings, clock=FixedClock(END)))) as client:
        yield client


def _svg_values(page: str, key: str) -> dict[tuple[str, str], str]:
    found = re.search(rf'<svg[^>]*id="chart-{key}".*?</svg>', page, re.S)
    if found is None:
        return {}
    return {(label, series): value for label, series, value in re.findall(
        r'<rect[^>]*data-label="([^"]*)" data-series="([^"]*)" data-value="([^"]*)"', found.group(0))}


def _table_values(page: str, key: str) -> dict[tuple[str, str], str]:
    found = re.search(rf'<table[^>]*id="table-{key}".*?</table>', page, re.S)
    assert found is not None, key
    out = {}
    for label, cells in re.findall(r'<tr data-label="([^"]*)">(.*?)</tr>', found.group(0), re.S):
        for series, value in re.findall(r'<td data-series="([^"]*)">(.*?)</td>', cells, re.S):
            out[(label, series)] = re.sub(r"<[^>]+>", "", value).strip()
    return out


async def test_R11_1_every_chart_equals_its_table_and_its_csv(cockpit: Client) -> None:
    assert await sign_in(cockpit, "efficiency") == 303
    page = await (await cockpit.get(f"/desk/cockpit?{MONTH}")).text()
    for key in CHARTS:
        table = _table_values(page, key)
        assert table, key
        assert _svg_values(page, key) == table, key
        text = (await (await cockpit.get(f"/desk/cockpit/{key}.csv?{MONTH}")).read()).decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(text)))
        series = rows[0][1:]
        from_csv = {(r[0], s): v for r in rows[1:] for s, v in zip(series, r[1:], strict=True)}
        assert from_csv == table, key
    assert sum(int(v) for v in _table_values(page, "hours").values()) == sum(
        int(v) for v in _table_values(page, "channels").values()) > 0


async def test_R11_1_summaries_equal_a_direct_count(history_db: tuple[str, HistoryReport]) -> None:
    engine = create_engine(history_db[0])
    try:
        async with make_sessionmaker(engine)() as session:
            first, last = date(2026, 10, 25), date(2026, 11, 24)
            kept = {u.unit_code: u for u in await unit_figures(session, first, last)}
            direct = await unit_stats(session, *window(first, last, TZ))
    finally:
        await engine.dispose()
    assert kept and {s.unit_code for s in direct if s.dispatched} <= set(kept)
    for s in direct:
        figures = kept[s.unit_code]
        for name in ("dispatched", "read_on_time", "read_late", "answered_on_time", "answered_late",
                     "overdue_handling", "expired_unhandled", "passed_first_time", "ratings",
                     "charges", "waived", "notices"):
            assert figures[name] == getattr(s, name), (s.unit_code, name)
    assert sum(u["read_late"] for u in kept.values()) > 0  # the history has late reads to show
    assert sum(u["returns"] for u in kept.values()) > 0 and sum(u["redone"] for u in kept.values()) > 0
    assert sum(u["callbacks"] for u in kept.values()) > 0


async def test_R11_1_every_unit_figure_leads_to_exactly_its_cases(cockpit: Client) -> None:
    assert await sign_in(cockpit, "efficiency") == 303
    page = await (await cockpit.get(f"/desk/cockpit?{MONTH}")).text()
    table = re.search(r'<table[^>]*id="unit-table".*?</table>', page, re.S)
    assert table is not None
    checked = 0
    for href, value in re.findall(r'<td class="[^"]*" data-series="[^"]*"><a href="([^"]+)">(\d+)</a>',
                                  table.group(0)):
        behind = await (await cockpit.get(href.replace("&amp;", "&"))).text()
        assert len(re.findall(r'<a href="/desk/cases/', behind)) == int(value), href
        checked += 1
    assert checked >= 20


async def test_R11_1_district_bureau_sees_its_district_and_units_are_sorted_by_lateness(
        cockpit: Client) -> None:
    assert await sign_in(cockpit, "gulou") == 303
    page = await (await cockpit.get(f"/desk/cockpit?{MONTH}&district=台江区")).text()
    units = re.findall(r'<tr data-unit="([^"]+)">', page)
    assert units and all(code.startswith("gulou-") for code in units)
    assert (await cockpit.get("/desk/cockpit")).status == 200
    assert await sign_in(cockpit, "urban") == 303
    assert (await cockpit.get("/desk/cockpit")).status == 403
    assert (await cockpit.get("/desk/cockpit/cases?figure=dispatched")).status == 403
    assert await sign_in(cockpit, "city") == 303
    page = await (await cockpit.get(f"/desk/cockpit?{MONTH}")).text()
    late = [sum(int(v) for v in re.findall(r'data-series="(?:read_late|answered_late|overdue_handling|'
                                             r'expired_unhandled)"><a [^>]+>(\d+)</a>', row))
            for row in re.findall(r'<tr data-unit="[^"]+">(.*?)</tr>', page, re.S)]
    assert late == sorted(late, reverse=True) and late[0] > 0


async def test_issue15_7_cockpit_queries_read_indexes_and_summaries_not_whole_tables(
        cockpit: Client, backend: str, history_db: tuple[str, HistoryReport]) -> None:
    if backend != "sqlite":
        pytest.skip("reads SQLite's EXPLAIN QUERY PLAN; PostgreSQL plans depend on its statistics")
    assert await sign_in(cockpit, "efficiency") == 303
    seen: list[tuple[str, Any]] = []

    def grab(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        seen.append((statement, parameters))
    event.listen(cockpit.app[keys.ENGINE].sync_engine, "before_cursor_execute", grab)
    for path in (f"/desk/cockpit?{MONTH}", f"/desk/cockpit?{MONTH}&q=鼓楼&grain=week",
                 "/desk/cockpit/units.csv", f"/desk/cockpit/cases?figure=read_late&{MONTH[7:]}",
                 f"/desk/cockpit/cases?figure=hour:9&{MONTH[7:]}",
                 f"/desk/cockpit/cases?figure=clock:answer:red&{MONTH[7:]}",
                 f"/desk/cockpit/cases?figure=charges&{MONTH[7:]}"):
        assert (await cockpit.get(path)).status == 200, path
    db = sqlite3.connect(history_db[0].split("///", 1)[1])
    try:
        scans = {row[3] for statement, params in seen if statement.lstrip().upper().startswith("SELECT")
                 for row in db.execute("EXPLAIN QUERY PLAN " + statement, params)
                 if row[3].startswith("SCAN")}
    finally:
        db.close()
    # Only the organisation (a hundred units) is read whole; never cases, clocks, events, findings.
    assert scans <= {"SCAN unit", "SCAN account", "SCAN desk_session"}, scans
    assert len(seen) > 10
