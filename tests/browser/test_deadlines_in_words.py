"""Issue 13 item 6: a deadline says how many working days are left beside its date, its
state is shown by a sign and words as well as colour, and the amber text is readable."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestServer

from contract.clock import FixedClock
from desks.staff.deps import DESK
from intake import keys
from tests.browser.conftest import Shots
from tests.browser.kit import seed_accounts, sign_in, sms_case
from tests.forwarder import kit

CONTRAST = """(selector) => {
  const lum = (rgb) => { const c = rgb.match(/\\d+/g).slice(0, 3).map(Number).map(v => v / 255)
    .map(v => v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4));
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]; };
  const e = document.querySelector(selector);
  let bg = e, colour = getComputedStyle(e).color;
  while (bg && getComputedStyle(bg).backgroundColor === 'rgba(0, 0, 0, 0)') bg = bg.parentElement;
  const a = lum(colour), b = lum(bg ? getComputedStyle(bg).backgroundColor : 'rgb(255,255,255)');
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""


async def test_R8_1_deadline_shows_working_days_left_and_its_state_without_colour(
        server: TestServer, page: Any, shots: Shots, clock: FixedClock) -> None:
    await seed_accounts(server)
    receipt = await sms_case(server, "五四路路灯不亮，晚上很黑")
    async with server.app[keys.SESSIONMAKER].begin() as session:
        await kit.dispatched(session, server.app[DESK].ctx, receipt.case_number)
    await sign_in(server, page, "urban")
    await page.wait_for_selector("#section-inbox .due-left")
    # Dispatched Tuesday 24 Nov: read by the end of Thursday 26 Nov (R8.1), two working days.
    assert "剩 2 个工作日" in await page.inner_text("#section-inbox")
    await shots.take(page, "inbox-days-left")

    clock.advance(timedelta(days=1))  # Wednesday: one working day left
    await page.reload()
    assert "剩 1 个工作日" in await page.inner_text("#section-inbox")
    clock.advance(timedelta(days=1))  # Thursday, the last day: the warning is on
    await page.reload()
    soon = page.locator("#section-inbox .due-soon").first
    assert "⚠" in await soon.inner_text()
    assert "今天到期" in await page.inner_text("#section-inbox")
    assert await page.evaluate(CONTRAST, "#section-inbox .due-soon") >= 4.5
    await shots.take(page, "inbox-due-soon")

    clock.advance(timedelta(days=1))  # Friday: read late
    await page.reload()
    assert "✖" in await page.inner_text("#section-inbox .due-late >> nth=0")
    assert "已逾期 1 个工作日" in await page.inner_text("#section-inbox")
    await shots.take(page, "inbox-late")
