"""The whole path in Chromium, as issue 4 asks: a citizen submits on the web, the agent sees
the item when the citizen calls again, the bureau dispatches, the unit reads, drafts and its
leader approves, the bureau reviews and publishes, and the citizen finds the answer and rates it.

The desk forms of the bureau and the unit are driven click by click in
``test_desk_cases.py``; here the middle steps go through the same JSON API the
desk forms call, with each role's own signed-in session, so the test follows one
item across every role without repeating those forms.
"""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestServer
from sqlalchemy import select

from desks.access.accounts import seed_demo_accounts
from desks.console import announce_call
from intake import keys
from registrar.models import Rating
from tests.browser.conftest import Shots
from tests.browser.kit import sign_in
from tests.forwarder.api_kit import FAST_HASHER


async def api(page: Any, path: str, body: dict[str, Any] | None = None) -> Any:
    """Call the API from the page with the session cookie and its CSRF token, as desk.js does."""
    result = await page.evaluate(
        """async ([path, body]) => {
            const token = document.querySelector('meta[name="csrf-token"]').content;
            const r = await fetch(path, {method: body === null ? "GET" : "POST",
                credentials: "same-origin",
                headers: {"Content-Type": "application/json", "X-CSRF-Token": token},
                body: body === null ? undefined : JSON.stringify(body)});
            return [r.status, await r.json()];
        }""", [path, body])
    status, payload = result
    assert status == 200, (path, payload)
    return payload


def lead_assignment(case: dict[str, Any], unit: str) -> int:
    return int(next(a["id"] for a in case["assignments"]
                    if a["unit"]["code"] == unit and a["role"] == "lead"))


async def test_R2_1_R9_3_R12_1_one_item_across_every_role(
        server: TestServer, page: Any, shots: Shots) -> None:
    async with server.app[keys.SESSIONMAKER].begin() as session:
        await seed_demo_accounts(session, server.app[keys.CLOCK].now(), hasher=FAST_HASHER)

    # Citizen: the web form.
    await page.goto(str(server.make_url("/")))
    await page.fill("#text", "鼓楼区五四路路灯不亮已经一周，晚上很黑")
    await page.fill("#phone", "13805912345")
    await page.select_option("#district", "鼓楼区")
    await page.check("input[name=public][value=yes]")
    await page.click("button[type=submit]")
    await page.wait_for_selector("#case-number")
    number = await page.inner_text("#case-number")
    code = await page.inner_text("#query-code")
    await shots.take(page, "citizen-receipt")

    # Agent: the citizen calls again; the console pops the number and shows the item.
    await sign_in(server, page, "agent")
    await page.wait_for_selector("#ws-state[data-state=on]")
    assert await announce_call(server.app, "+8613805912345") == 1
    await page.wait_for_selector(f"#history li >> text={number}")
    await shots.take(page, "agent-sees-the-item")

    # City bureau: accept and dispatch; unit: read, draft; leader: approve; unit: submit.
    await sign_in(server, page, "city")
    await api(page, f"/api/cases/{number}/accept", {})
    await api(page, f"/api/cases/{number}/dispatch", {"unit": "city-urban"})
    case = await api(page, f"/api/cases/{number}")
    lead = lead_assignment(case, "city-urban")
    await sign_in(server, page, "urban")
    await api(page, f"/api/assignments/{lead}/read", {})
    await api(page, f"/api/assignments/{lead}/draft", {"text": "已派人维修，五四路路灯已恢复照明。"})
    await sign_in(server, page, "urban-leader")
    await api(page, f"/api/assignments/{lead}/approve", {})
    await sign_in(server, page, "urban")
    await api(page, f"/api/assignments/{lead}/submit", {})
    # City bureau: review and publish (on the desk page it opens).
    await sign_in(server, page, "city")
    await api(page, f"/api/assignments/{lead}/review", {"passed": True})
    await api(page, f"/api/cases/{number}/publication", {"publish": True})
    await page.goto(str(server.make_url(f"/desk/cases/{number}")))
    await shots.take(page, "city-case-closed")

    # Citizen: finds the answer with the query code, rates it, and sees it published.
    await page.context.clear_cookies()
    await page.goto(str(server.make_url("/status")))
    await page.fill("#number", number)
    await page.fill("#secret", code)
    await page.press("#secret", "Enter")
    await page.wait_for_selector("#answer")
    assert "路灯已恢复照明" in await page.inner_text("#answer")
    await page.check("input[name=score][value='5']")
    await page.fill("#comment", "修得很快，谢谢")
    await page.click("text=提交评价")
    await page.wait_for_selector("text=感谢您的评价")
    await shots.take(page, "citizen-rated")
    await page.goto(str(server.make_url("/answers")))
    await page.wait_for_selector(f"text={number}")
    assert "13805912345" not in await page.content()
    await shots.take(page, "public-answers")
    async with server.app[keys.SESSIONMAKER]() as session:
        rating = (await session.execute(select(Rating))).scalar_one()
    assert (rating.score, rating.comment) == (5, "修得很快，谢谢")
