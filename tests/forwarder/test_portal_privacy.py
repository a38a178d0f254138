"""The portal leaks nothing it masks and cannot be enumerated (issue 10, items 1 and 2)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from config.settings import Settings
from contract.clock import FixedClock
from desks.portal.routes import LOOKUPS_PER_ADDRESS, MISSES_PER_CASE, SEARCHES_PER_ADDRESS
from tests.forwarder.test_portal import closed_case, csrf

Client = TestClient[Any, Any]
SECRET_TEXT = "我是张建国，身份证350102199001011234，电话13805912345，楼下噪音"


async def total(client: Client, q: str) -> str:
    page = await client.get("/answers", params={"q": q})
    assert page.status == 200
    html = await page.text()
    return html.split("共 ", 1)[1].split(" 条", 1)[0]


async def test_answers_search_sees_only_the_masked_text_and_no_wildcards(
        client: Client, settings: Settings, clock: FixedClock) -> None:
    await closed_case(settings, clock, text=SECRET_TEXT, answer="已处理。", name="张建国")
    assert await total(client, "噪音") == "1"
    assert await total(client, "138****2345") == "1"  # what the public reads is searchable
    # Neither the raw digits, nor wildcards over them, nor the hidden name confirm anything.
    for probe in ("13805912345", "138_____345", "1380%2345", "138059", "张建国", "3501021990",
                  "%", "_", "\\"):
        assert await total(client, probe) == "0", probe


async def test_answers_search_is_rate_limited_per_address(
        client: Client, settings: Settings, clock: FixedClock) -> None:
    for _ in range(SEARCHES_PER_ADDRESS.free):
        assert (await client.get("/answers", params={"q": "路灯"})).status == 200
    refused = await client.get("/answers", params={"q": "路灯"})
    assert refused.status == 429 and "过于频繁" in await refused.text()
    assert (await client.get("/answers")).status == 200  # reading the list is never limited
    clock.moment += timedelta(seconds=SEARCHES_PER_ADDRESS.max_wait_s + 1)
    assert (await client.get("/answers", params={"q": "路灯"})).status == 200


async def test_status_lookups_are_throttled_per_address(
        client: Client, settings: Settings, clock: FixedClock) -> None:
    token = await csrf(client)
    statuses = [(await client.post("/status", data={
        "csrf": token, "number": f"FZ12345-20261124-{n:06d}", "secret": "AAAAAAAA"})).status
        for n in range(LOOKUPS_PER_ADDRESS.free + 1)]
    assert statuses == [404] * LOOKUPS_PER_ADDRESS.free + [429]


async def test_status_wrong_codes_are_throttled_per_case(
        client: Client, settings: Settings, clock: FixedClock) -> None:
    number, code = await closed_case(settings, clock, text="五四路路灯不亮")
    token = await csrf(client)
    for _ in range(MISSES_PER_CASE.free):
        assert (await client.post("/status", data={"csrf": token, "number": number,
                                                   "secret": "WRONG123"})).status == 404
    blocked = await client.post("/status", data={"csrf": token, "number": number, "secret": code})
    assert blocked.status == 429 and "五四路" not in await blocked.text()
    clock.moment += timedelta(seconds=MISSES_PER_CASE.max_wait_s + 1)
    assert (await client.post("/status", data={"csrf": token, "number": number,
                                               "secret": code})).status == 200


async def test_status_by_phone_number_lists_states_never_text(
        client: Client, settings: Settings, clock: FixedClock) -> None:
    number, _ = await closed_case(settings, clock, text="五四路路灯不亮", answer="已修复。")
    token = await csrf(client)
    for guessed in (number, "", "FZ12345-20261124-999999"):
        page = await client.post("/status", data={"csrf": token, "number": guessed,
                                                  "secret": "139 0591 0001"})
        html = await page.text()
        assert page.status == 200 and number in html and "已办结" in html
        assert "五四路" not in html and "已修复" not in html and "评价" not in html
