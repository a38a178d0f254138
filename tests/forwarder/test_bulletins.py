"""The R11.1 bulletins after a month of simulated activity (issue 15.2): made on schedule once,
numbered per year, stored as HTML and as a PDF whose text (pdftotext) carries the figures and
the Chinese; readable by the roles allowed, a district only its own and the city's."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from contract.clock import FixedClock
from desks.staff.deps import DESK
from forwarder import bulletins
from forwarder.bulletin_render import renderer
from forwarder.demo_history import HistoryReport
from intake.app import create_app
from registrar.db import create_engine, make_sessionmaker
from registrar.models import Event
from registrar.models_cockpit import Bulletin
from tests.conftest import TZ, make_settings
from tests.forwarder.history_kit import END, history_fixture  # noqa: F401  (the fixture)
from tests.forwarder.test_desk_admin import csrf, sign_in

Client = TestClient[Any, Any]


@pytest.fixture
async def desk(history_db: tuple[str, HistoryReport], tmp_path: Path) -> AsyncIterator[Client]:
    settings = make_settings(history_db[0], tmp_path / "data")
    async with TestClient(TestServer(create_app(settings, clock=FixedClock(END)))) as client:
        yield client


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext not installed (apt-get install poppler-utils)")
    path = tmp_path / "b.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout


def test_R11_1_periods_are_whole_weeks_and_months() -> None:
    assert bulletins.period_of("weekly", date(2026, 11, 24)) == (date(2026, 11, 23), date(2026, 11, 29))
    assert bulletins.last_complete("weekly", date(2026, 11, 24)) == (date(2026, 11, 16),
                                                                      date(2026, 11, 22))
    assert bulletins.last_complete("monthly", date(2026, 11, 24)) == (date(2026, 10, 1),
                                                                       date(2026, 10, 31))
    assert bulletins.last_complete("monthly", date(2026, 1, 3)) == (date(2025, 12, 1),
                                                                     date(2025, 12, 31))


async def test_R11_1_worker_makes_each_bulletin_once_numbered_with_its_figures_in_the_pdf(
        desk: Client, tmp_path: Path) -> None:
    deps = desk.server.app[DESK]
    made = await bulletins.make_due(deps.sessionmaker, now=END, zone=TZ, render=renderer())
    assert made == ["福州市12345热线效能监督周报 〔2026〕第1期", "福州市12345热线效能监督月报 〔2026〕第1期"]
    assert await bulletins.make_due(deps.sessionmaker, now=END, zone=TZ, render=renderer()) == []
    async with deps.sessionmaker() as session:
        weekly = (await session.execute(select(Bulletin).where(Bulletin.kind == "weekly"))).scalar_one()
        week_start, week_end = bulletins.last_complete("weekly", date(2026, 11, 24))
        start, end = (bulletins.window(week_start, week_end, TZ))
        notices = await session.scalar(select(func.count()).select_from(Event).where(
            Event.action == "unit_notified", Event.at >= start, Event.at < end))
    assert (weekly.first_day, weekly.last_day, weekly.serial) == (week_start, week_end, 1)
    text = pdf_text(weekly.pdf, tmp_path)
    assert "福州市12345热线效能监督周报" in text and "〔2026〕第1期" in text
    assert f"本期发出通报 {notices} 次" in text and notices > 0
    dispatched = re.search(r"交办单位 <b>(\d+)</b> 件", weekly.html)
    assert dispatched is not None and f"交办单位 {dispatched.group(1)} 件" in text
    # Every unit row of the HTML is in the PDF with the same numbers.
    for name, count in re.findall(r'<tr data-unit="[^"]+"><td>([^<]+)</td><td class="n">(\d+)</td>',
                                  weekly.html):
        assert re.search(rf"{re.escape(name[:8])}\S*\s+{count}\s", text), name
    assert "表扬（R12.1）" in text and "逾期未办结件" in text


async def test_R11_1_on_demand_numbering_and_who_may_read(desk: Client, tmp_path: Path) -> None:
    assert await sign_in(desk, "efficiency") == 303
    token = await csrf(desk, "/desk/bulletins")
    made = await desk.post("/desk/bulletins", data={"csrf": token, "kind": "monthly", "day": "2026-11-10"},
                           allow_redirects=False)
    assert made.status == 303
    location = made.headers["Location"]
    page = await (await desk.get(location)).text()
    assert "〔2026〕第" in page and "各单位办理情况" in page
    pdf = await desk.get(location + ".pdf")
    assert pdf.status == 200 and pdf.headers["Content-Type"] == "application/pdf"
    assert "月报" in pdf_text(await pdf.read(), tmp_path)
    again = await desk.post("/desk/bulletins", data={"csrf": token, "kind": "monthly", "day": "2026-11-20"},
                            allow_redirects=False)
    assert again.headers["Location"] == location  # the same month: the same bulletin

    assert await sign_in(desk, "gulou") == 303
    token = await csrf(desk, "/desk/bulletins")
    own = await desk.post("/desk/bulletins", data={"csrf": token, "kind": "weekly", "day": "2026-11-10",
                                                   "scope": "台江区"}, allow_redirects=False)
    own_page = await (await desk.get(own.headers["Location"])).text()
    assert "鼓楼区12345热线效能监督周报 〔2026〕第1期" in own_page  # its own district, whatever it asked
    listing = await (await desk.get("/desk/bulletins")).text()
    assert "鼓楼区" in listing and location.rsplit("/", 1)[1] in listing
    assert await sign_in(desk, "taijiang") == 303
    assert (await desk.get(own.headers["Location"])).status == 404
    assert (await desk.get(location)).status == 200
    for user in ("urban", "agent", "discipline"):
        assert await sign_in(desk, user) == 303
        assert (await desk.get("/desk/bulletins")).status == 403
        assert (await desk.get(location + ".pdf")).status == 403


async def test_R11_1_bulletin_counts_equal_the_cockpit_summaries(
        history_db: tuple[str, HistoryReport]) -> None:
    engine = create_engine(history_db[0])
    try:
        async with make_sessionmaker(engine)() as session:
            data = await bulletins.gather(session, "monthly", date(2026, 11, 1), date(2026, 11, 30),
                                          scope="", now=END, zone=TZ)
    finally:
        await engine.dispose()
    assert data.total["dispatched"] == sum(u["dispatched"] for u in data.units) > 0
    assert data.worst and all(r.due_at <= END for r in data.worst)
    assert [r.stats.marks for r in data.commended] == [0] * len(data.commended)
    assert data.notices == sum(1 for f in data.findings if f.kind.startswith("通报"))
