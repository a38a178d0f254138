"""R3.8: the console's emergency key — its route, what it logs on the case, bad input.

The phone line is stood in for by a handler served on the app's call control (the
same object the SIP channel serves on): on PostgreSQL the request really crosses
LISTEN/NOTIFY. ``tests/channels/sip/test_emergency*.py`` run it against SIP workers.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from contract.channel import CallAnswer, CallRequest
from intake import keys
from intake.call_control import SharedCalls
from registrar.models import Case, Event
from tests.intake.test_console import Client, field, sign_in, staff

CALL = "a" * 32
CALLER_E164 = "+8613805912345"


class Line:
    """What the phone line would answer: ``outcomes`` by service, for one live call."""

    def __init__(self, outcomes: dict[str, tuple[bool, int, str]]) -> None:
        self.outcomes = outcomes
        self.asked: list[dict[str, Any]] = []

    async def __call__(self, request: CallRequest) -> CallAnswer | None:
        if request.get("op") != "emergency" or request.get("call") != CALL:
            return None
        self.asked.append(dict(request))
        ok, code, reason = self.outcomes[str(request["service"])]
        return {"ok": ok, "code": code, "reason": reason, "service": request["service"],
                "uri": f"sip:{request['service']}@trunk.example", "caller": CALLER_E164,
                "display_name": "Zhang San"}


@pytest.fixture
async def line(client: Client) -> Line:
    served = Line({"120": (False, 486, "refused"), "110": (True, 200, "")})
    calls = client.app[keys.CALLS]
    calls.serve(served)
    if isinstance(calls, SharedCalls):  # wait for the listener: the request must cross NOTIFY
        async with asyncio.timeout(10):
            await calls.listening.wait()
    return served


async def _token(client: Client) -> str:
    return field(await (await client.get("/desk/console")).text(), "csrf")


async def _press(client: Client, token: str, **body: Any) -> tuple[int, dict[str, Any]]:
    response = await client.post("/desk/console/emergency", json=body,
                                 headers={"X-CSRF-Token": token})
    return response.status, await response.json()


async def test_R3_8_refused_then_connected_transfers_are_logged_on_one_case_for_the_call(
        client: Client, line: Line) -> None:
    await staff(client)
    await sign_in(client, "agent")
    token = await _token(client)
    page = await (await client.get("/desk/console")).text()
    assert 'id="emergency-transfer"' in page and 'data-service="120"' in page
    status, busy = await _press(client, token, call=CALL, service="120")
    assert status == 200 and busy["ok"] is False and busy["code"] == 486
    assert busy["message"] == "转接120（急救）失败：对方线路拒接或忙（SIP 486）；来电仍与您通话"
    status, done = await _press(client, token, call=CALL, service="110")
    assert status == 200 and done["ok"] is True and done["case"] == busy["case"]
    async with client.app[keys.SESSIONMAKER]() as session:
        case = (await session.execute(select(Case).where(Case.number == done["case"]))).scalar_one()
        events = list((await session.execute(select(Event).where(
            Event.case_id == case.id, Event.action == "emergency_transfer").order_by(Event.id))).scalars())
    assert (case.channel, case.sender, case.public_allowed) == ("phone", CALLER_E164, False)
    assert [(e.data["service"], e.data["outcome"], e.data["code"]) for e in events] == [
        ("120", "failed", 486), ("110", "connected", 200)]
    assert {e.actor for e in events} == {"李秀英@service-centre"}
    await sign_in(client, "city")  # internal (the caller was never asked about publication, R6.4)
    shown = await (await client.get(f"/desk/cases/{case.number}")).text()
    assert "紧急转接" in shown and "已转接110（报警），坐席通话已结束" in shown
    assert [r["service"] for r in line.asked] == ["120", "110"]


async def test_R3_8_transfer_is_logged_on_the_case_the_agent_registered_during_the_call(
        client: Client, line: Line) -> None:
    from tests.intake.test_console import call, open_form

    await staff(client)
    await sign_in(client, "agent")
    form = await open_form(client)
    logged = await (await client.post("/desk/console", data=call(form))).text()
    number = logged.split('id="case-number">', 1)[1].split("<", 1)[0]
    status, done = await _press(client, form["csrf"], call=CALL, service="110", case=number)
    assert status == 200 and done["ok"] is True and done["case"] == number
    async with client.app[keys.SESSIONMAKER]() as session:
        cases = list((await session.execute(select(Case.number))).scalars())
        events = list((await session.execute(select(Event.data).where(
            Event.action == "emergency_transfer"))).scalars())
    assert cases == [number] and [e["service"] for e in events] == ["110"]


async def test_emergency_key_refuses_bad_input_and_non_agents_with_clear_errors(
        client: Client, line: Line) -> None:
    await staff(client)
    await sign_in(client, "agent")
    token = await _token(client)
    for body, status in (({"call": CALL, "service": "999"}, 400), ({"call": CALL}, 400),
                         ({"call": "../x", "service": "110"}, 400), ({"call": "", "service": "110"}, 400),
                         ({"call": "b" * 32, "service": "110"}, 404),
                         ({"call": CALL * 3, "service": "110"}, 400)):
        got, answer = await _press(client, token, **body)
        assert got == status and answer["ok"] is False and answer["error"], (body, answer)
    for raw in (b"not json", b"[1, 2]", b"\xff\xfe"):
        response = await client.post("/desk/console/emergency", data=raw, headers={
            "X-CSRF-Token": token, "Content-Type": "application/json"})
        assert response.status == 400, raw
    forged = await client.post("/desk/console/emergency", json={"call": CALL, "service": "110"})
    assert forged.status == 403  # no CSRF token
    await sign_in(client, "urban")
    refused = await client.post("/desk/console/emergency", json={"call": CALL, "service": "110"},
                                headers={"X-CSRF-Token": await _token(client)})
    assert refused.status == 403
    assert line.asked == []


async def test_R3_8_only_the_agent_the_call_rang_may_press_the_key(client: Client) -> None:
    """The line answers ``not_your_call`` to anyone else: 403 in Chinese, nothing dialled or logged."""

    async def rang_someone_else(request: CallRequest) -> CallAnswer | None:
        asked.append(dict(request))
        if request.get("agent") == "agent2":
            return {"ok": True, "code": 200, "reason": "", "service": request["service"]}
        return {"ok": False, "code": 0, "reason": "not_your_call", "service": request["service"]}

    asked: list[dict[str, Any]] = []
    calls = client.app[keys.CALLS]
    calls.serve(rang_someone_else)
    if isinstance(calls, SharedCalls):
        async with asyncio.timeout(10):
            await calls.listening.wait()
    await staff(client)
    await sign_in(client, "agent")
    status, refused = await _press(client, await _token(client), call=CALL, service="120")
    assert status == 403 and refused["ok"] is False
    assert refused["error"] == "该来电未转接给您，只有正在接听该来电的坐席可以紧急转接"
    assert asked == [{"op": "emergency", "call": CALL, "service": "120", "agent": "agent"}]
    async with client.app[keys.SESSIONMAKER]() as session:
        assert list((await session.execute(select(Case.id))).scalars()) == []
        assert list((await session.execute(select(Event.id).where(
            Event.action == "emergency_transfer"))).scalars()) == []
