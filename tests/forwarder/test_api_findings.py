"""The findings API: the usual order of refusals (401 → 403 → 404 → 409), the office's
decisions with history (R11.2b), a unit's contest in its window and the office's answer
(issue 15.3), hand notices (R11.1), and the list's filters."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from contract.clock import FixedClock
from tests.forwarder.api_kit import Api, make_api


@pytest.fixture
async def api(client: TestClient[Any, Any], tmp_path: Path) -> Api:
    return await make_api(client, tmp_path / "files")


async def test_R11_2b_refusals_in_order_401_403_404_409(api: Api) -> None:
    fid = await api.charge("city-urban")
    path = f"/findings/{fid}/contest"
    assert (await api.post(None, path, {"reason": "停电"}))[0] == 401
    assert (await api.post("efficiency", path, {"reason": "停电"}))[0] == 403  # the office never contests
    assert (await api.post("gulou-urban", path, {"reason": "停电"}))[0] == 404  # not its finding
    assert (await api.post("urban", "/findings/999999/contest", {"reason": "停电"}))[0] == 404
    assert (await api.post("urban", "/findings/abc/contest", {"reason": "停电"}))[0] == 404
    assert (await api.post("urban", path, {"reason": " "}))[0] == 400
    status, body = await api.post("urban", path, {"reason": "当日系统停机"})
    assert (status, body["finding"]["status"], body["finding"]["contestable"]) == (200, "contested", False)
    status, body = await api.post("urban-leader", path, {"reason": "再次申诉"})
    assert (status, body["error"]) == (409, "illegal")
    status, body = await api.post("efficiency", f"/findings/{fid}/decide",
                                  {"decision": "waive", "reason": "停电"})
    assert status == 409 and "请先维持或撤销" in body["message"]


async def test_R11_2b_office_decisions_and_the_contest_keep_their_history(api: Api) -> None:
    fid = await api.charge("city-urban")
    status, body = await api.post("efficiency", f"/findings/{fid}/decide",
                                  {"decision": "confirm", "reason": "经办人未及时处理"})
    assert (status, body["finding"]["status"]) == (200, "confirmed")
    assert (await api.post("efficiency", f"/findings/{fid}/decide",
                           {"decision": "maybe", "reason": "x"}))[0] == 400
    assert (await api.post("urban", f"/findings/{fid}/contest", {"reason": "需住建部门先行处置"}))[0] == 200
    status, body = await api.post("efficiency", f"/findings/{fid}/decide",
                                  {"decision": "withdraw", "reason": "确需其他部门配合，撤销"})
    assert (status, body["finding"]["status"]) == (200, "withdrawn")
    history = body["finding"]["history"]
    assert [h["decision"] for h in history] == ["confirm", "contest", "withdraw"]
    assert history[1]["by"].endswith("@city-urban") and history[0]["by"].endswith("@city-efficiency")
    assert history[2]["reason"] == "确需其他部门配合，撤销"


async def test_R11_2b_contest_window_closes_after_the_configured_working_days(api: Api) -> None:
    fid = await api.charge("city-urban")
    status, body = await api.get("urban", "/findings")
    [listed] = [f for f in body["findings"] if f["id"] == fid]
    assert listed["contestable"] is True
    clock = api.deps.ctx.clock
    assert isinstance(clock, FixedClock)
    clock.advance(timedelta(days=api.deps.ctx.contest_days + 5))  # well past, weekends or not
    status, body = await api.post("urban", f"/findings/{fid}/contest", {"reason": "停电"})
    assert status == 409 and "个工作日" in body["message"]


async def test_R11_1_hand_notice_and_the_lists_filters(api: Api) -> None:
    number, _ = await api.case_at("dispatched", unit="city-urban")
    status, body = await api.post("efficiency", "/findings/notice",
                                  {"unit": "city-urban", "reason": "推诿群众诉求", "case": number})
    assert (status, body["finding"]["kind"], body["finding"]["case"]) == (200, "notice", number)
    assert (await api.post("efficiency", "/findings/notice",
                           {"unit": "no-such-unit", "reason": "x"}))[0] == 404
    await api.charge("gulou-urban")
    _, mine = await api.get("urban", "/findings", unit="gulou-urban")  # a unit sees its own only
    assert {f["unit"] for f in mine["findings"]} == {"city-urban"}
    _, gulou = await api.get("efficiency", "/findings", unit="gulou-urban", status="charged")
    assert [f["unit"] for f in gulou["findings"]] == ["gulou-urban"]
    _, october = await api.get("efficiency", "/findings", month="2026-10")
    assert october["findings"] == []
    assert (await api.get("efficiency", "/findings", month="2026-13"))[0] == 400
    assert (await api.get("efficiency", "/findings", status="lost"))[0] == 400


async def test_R8_1_deadlines_say_whether_they_were_cancelled(api: Api) -> None:
    number, _ = await api.case_at("dispatched", unit="city-urban")
    status, body = await api.get("city", f"/cases/{number}")
    assert status == 200 and body["deadlines"]
    assert all(d["cancelled"] is False for d in body["deadlines"])
