"""Issue 13 item 12: on a phone (390 px) the citizen pages show one field per row, a compact
header, and 110/119/120/122 as tap-to-call links near the top."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestServer

from tests.browser.conftest import Shots
from tests.browser.kit import PHONE_VIEWPORT, phone_page

FIELDS = ("#text", "#name", "#phone", "#email", "#district", "#location", "#attachments")


async def test_citizen_form_on_a_phone_one_field_per_row_and_emergency_numbers_on_top(
        server: TestServer, browser: Any, shots: Shots) -> None:
    page = await phone_page(browser)
    await page.goto(str(server.make_url("/")))
    await shots.take(page, "form-on-a-phone")
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE_VIEWPORT["width"]
    header = await page.locator("header.top").bounding_box()
    assert header is not None and header["height"] <= 90
    for number in ("110", "119", "120", "122"):
        link = page.locator(f"#sos a[href='tel:{number}']")
        box = await link.bounding_box()
        assert box is not None and box["y"] + box["height"] <= 200, number  # seen without scrolling
    tops = []
    for selector in FIELDS:
        box = await page.locator(selector).bounding_box()
        assert box is not None and box["width"] >= 300, selector  # the row's whole width
        tops.append(box["y"])
    assert tops == sorted(tops) and len(set(tops)) == len(tops)  # each below the one before
    yes = await page.locator("input[name=public][value=yes]").bounding_box()
    no = await page.locator("input[name=public][value=no]").bounding_box()
    assert yes is not None and no is not None and no["y"] > yes["y"]
    await page.context.close()


async def test_status_and_answers_pages_fit_a_phone(
        server: TestServer, browser: Any, shots: Shots) -> None:
    page = await phone_page(browser)
    for path in ("/status", "/answers"):
        await page.goto(str(server.make_url(path)))
        assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE_VIEWPORT["width"]
        assert await page.is_visible("#sos a[href='tel:120']")
        await shots.take(page, path.strip("/"))
    await page.context.close()
