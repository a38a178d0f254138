"""The cockpit in Chromium at 1366×768 (issue 15.1): the efficiency office city-wide and a district
bureau on its own district, after a month of simulated activity; a figure leads to its cases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestServer

from config.settings import Settings
from tests.browser.conftest import Shots
from tests.browser.test_desk_admin import _sign_in
from tests.forwarder.history_kit import build


async def test_R11_1_cockpit_for_the_efficiency_office_then_a_district_bureau(
        server: TestServer, settings: Settings, page: Any, shots: Shots, tmp_path: Path) -> None:
    await build(settings.database_url, tmp_path / "history")

    await _sign_in(page, server, "efficiency")
    await page.click("nav >> text=驾驶舱")
    await page.wait_for_selector("#chart-stages")
    assert "效能驾驶舱" in await page.inner_text("h1")
    # Readable at 1366 px: nothing wider than the window, the charts side by side.
    assert await page.evaluate("document.documentElement.scrollWidth") <= 1366
    boxes = [await page.locator(f"#panel-{k}").bounding_box() for k in ("stages", "colours")]
    assert boxes[0] and boxes[1] and boxes[0]["y"] == boxes[1]["y"] and boxes[0]["x"] < boxes[1]["x"]
    units = await page.locator("#unit-table tbody tr").count()
    assert units > 5
    districts = set(await page.locator("#unit-table tbody tr td:first-child small").all_inner_texts())
    assert len(districts) > 1  # city-wide: several districts' units
    await shots.take(page, "efficiency-city-wide")

    # A number leads to the cases behind it.
    link = page.locator("#unit-table tbody tr").first.locator("td").nth(1).locator("a")
    expected = int(await link.inner_text())
    await link.click()
    await page.wait_for_selector("#behind")
    assert await page.locator("#behind tbody tr td a").count() == min(expected, 50)
    await shots.take(page, "cases-behind-a-figure")

    # The overdue search narrows the list.
    await page.go_back()
    await page.fill("#q", "鼓楼区")
    await page.click("#overdue-filter button[type=submit]")
    await page.wait_for_selector("#overdue-list")
    cells = await page.locator("#overdue-list tbody tr td:nth-child(2)").all_inner_texts()
    assert all("鼓楼区" in c for c in cells if c != "没有逾期件")

    # Printable: the print layout drops the navigation and the filters.
    await page.emulate_media(media="print")
    assert not await page.locator("header.bar").is_visible()
    await page.emulate_media(media="screen")
    await page.click("text=退出")

    await _sign_in(page, server, "gulou")
    await page.goto(str(server.make_url("/desk/cockpit")))
    await page.wait_for_selector("#chart-stages")
    assert "鼓楼区" in await page.inner_text("h1")
    assert await page.locator("#district").is_disabled()
    names = await page.locator("#unit-table tbody tr td:first-child").all_inner_texts()
    assert names and all("鼓楼区" in n for n in names)
    await shots.take(page, "district-bureau-gulou")
