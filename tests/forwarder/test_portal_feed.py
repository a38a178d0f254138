"""Public answers by district and unit, their search and the Atom feed (issue 15.5, R9.3), after a
month of simulated activity whose complaints carry names, phone numbers and home addresses: no
public page and no feed entry shows any citizen's number, name or address, nor an internal item."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from contract.clock import FixedClock
from forwarder.demo_history import HistoryReport
from intake.app import create_app
from registrar.db import create_engine, make_sessionmaker
from registrar.models import Case
from tests.conftest import make_settings
from tests.forwarder.history_kit import END, history_fixture  # noqa: F401  (the fixture)

Client = TestClient[Any, Any]
ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
async def portal(history_db: tuple[str, HistoryReport], tmp_path: Path) -> AsyncIterator[Client]:
    settings = make_settings(history_db[0], tmp_path / "data")
    async with TestClient(TestServer(create_app(settings, clock=FixedClock(END)))) as client:
        yield client


async def _cases(url: str) -> list[Case]:
    engine = create_engine(url)
    try:
        async with make_sessionmaker(engine)() as session:
            return list((await session.execute(select(Case))).scalars())
    finally:
        await engine.dispose()


def secrets_of(cases: list[Case]) -> set[str]:
    """Every citizen's phone (as stored and as dialled), name and home address below the street."""
    out: set[str] = set()
    for c in cases:
        for phone in (c.sender, c.reply_address):
            if phone:
                out |= {phone, phone.removeprefix("+86")}
        if c.display_name:
            out.add(c.display_name)
        if c.location_hint:
            out.add(c.location_hint)
            house = re.search(r"\d+号\d+栋\d+室", c.location_hint)
            if house:
                out.add(house.group(0))
    return out


async def test_R9_3_public_pages_and_feed_leak_no_phone_name_or_address(
        portal: Client, history_db: tuple[str, HistoryReport]) -> None:
    cases = await _cases(history_db[0])
    secrets = secrets_of(cases)
    assert len(secrets) > 100
    published = [c.number for c in cases if c.published_at is not None]
    internal = [c.number for c in cases if c.classification == "internal"]
    assert len(published) > 10 and internal
    pages = ["/answers", "/answers/feed.atom"]
    pages += [f"/answers/{n}" for n in published]
    listing = await (await portal.get("/answers")).text()
    districts = set(re.findall(r'<option value="([^"]+)"[^>]*>[^<]+[区县市]</option>', listing))
    assert "鼓楼区" in districts
    pages += [f"/answers?district={d}" for d in districts]
    pages += [f"/answers?unit={u}" for u in ("city-urban", "city-housing", "gulou-urban")]
    pages += [f"/answers/feed.atom?district={d}" for d in ("鼓楼区", "台江区")]
    pages += ["/answers/feed.atom?unit=city-urban", "/answers?q=路灯", "/answers?q=物业", "/answers?page=2"]
    shown = 0
    for path in pages:
        response = await portal.get(path)
        assert response.status == 200, path
        text = await response.text()
        leaked = sorted(s for s in secrets if s in text)
        assert leaked == [], (path, leaked[:5])
        assert not any(n in text for n in internal), path
        shown += len(re.findall(r"FZ12345-\d{8}-\d{6}", text))
    assert shown > len(published)


async def test_R9_3_views_by_district_and_unit_and_the_atom_feed(
        portal: Client, history_db: tuple[str, HistoryReport]) -> None:
    cases = await _cases(history_db[0])
    published = {c.number for c in cases if c.published_at is not None}
    feed = await portal.get("/answers/feed.atom")
    assert feed.headers["Content-Type"].startswith("application/atom+xml")
    root = ElementTree.fromstring(await feed.read())
    numbers = [e.findtext(f"{ATOM}id", "").rsplit("/", 1)[1] for e in root.iter(f"{ATOM}entry")]
    assert numbers and set(numbers) <= published and len(numbers) == min(len(published), 50)
    # Newest first, each entry with the masked texts of its page.
    stamps = [e.findtext(f"{ATOM}updated", "") for e in root.iter(f"{ATOM}entry")]
    assert stamps == sorted(stamps, reverse=True)
    first = next(root.iter(f"{ATOM}entry"))
    page = await (await portal.get(f"/answers/{numbers[0]}")).text()
    assert (first.findtext(f"{ATOM}content") or "") in page

    gulou = await (await portal.get("/answers/feed.atom?district=鼓楼区")).read()
    titles = [e.findtext(f"{ATOM}title", "") for e in ElementTree.fromstring(gulou).iter(f"{ATOM}entry")]
    assert all("鼓楼区" in t for t in titles)
    urban = await (await portal.get("/answers?unit=city-urban")).text()
    listed = re.findall(r'<li><a href="/answers/([^"]+)">', urban)
    units = re.findall(r'<span class="units">([^<]*)</span>', urban)
    assert listed and all("市城市管理委员会" in u or "城市管理" in u for u in units)
    everything = await (await portal.get("/answers")).text()
    total = int(re.search(r"共 (\d+) 条", everything).group(1))  # type: ignore[union-attr]
    by_district = 0
    for d in sorted(set(re.findall(r'<option value="([^"]+)"[^>]*>[^<]+[区县市]</option>', everything))):
        found = re.search(r"共 (\d+) 条", await (await portal.get(f"/answers?district={d}")).text())
        by_district += int(found.group(1)) if found else 0
    assert 0 < by_district <= total  # city units' answers belong to no district
