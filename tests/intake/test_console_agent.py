"""The agent's phone and status on the console, through the whole app (issue 11 item 4)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from config.settings import Settings
from contract.agents import AgentStatus, OfferedAgent
from contract.clock import FixedClock
from desks.console.hub import HUB, POP_RELAY
from intake import keys
from tests.intake.test_console import Client, field, sign_in, staff
from tests.intake.test_screen_pop_shared import two_processes

PHONE = "sip:agent1@10.0.0.21:5060"


async def _csrf(client: Client) -> dict[str, str]:
    page = await (await client.get("/desk/console")).text()
    assert 'id="agent-panel"' in page and "/static/console/agent.js" in page
    return {"X-CSRF-Token": field(page, "csrf-token")}


async def _post(client: Client, headers: dict[str, str], body: Any) -> tuple[int, dict[str, Any]]:
    response = await client.post("/desk/console/agent", json=body, headers=headers)
    return response.status, await response.json()


@pytest.fixture
async def agent(client: Client) -> Client:
    await staff(client)
    await sign_in(client, "agent")
    return client


async def test_an_agent_gives_a_phone_and_toggles_available_and_away(agent: Client) -> None:
    headers = await _csrf(agent)
    assert (await (await agent.get("/desk/console/agent")).json())["status"] == ""
    assert await _post(agent, headers, {"status": "toggle"}) == (
        409, {"error": "请先填写并保存您话机的 SIP 地址"})
    status, body = await _post(agent, headers, {"sip_uri": f"  {PHONE} "})
    assert status == 200 and body["sip_uri"] == PHONE and body["status"] == "available"
    assert body["text"] == "空闲（可接来电）"

    async with agent.ws_connect("/desk/console/ws") as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "hello"
        status, body = await _post(agent, headers, {"status": "toggle"})
        assert (status, body["status"]) == (200, "away")
        assert await ws.receive_json(timeout=5) == {"type": "agent_status", "status": "away",
                                                    "text": "离开（暂不接来电）"}
        status, body = await _post(agent, headers, {"status": "available"})
        assert body["status"] == "available"
        assert (await ws.receive_json(timeout=5))["status"] == "available"
        # The line claims the agent (the console was seen when the socket opened): popped there.
        line = agent.app[keys.AGENTS]
        offered = await line.claim("call1", skip=(), console_grace=timedelta(seconds=30),
                                   lease=timedelta(seconds=60))
        assert offered == OfferedAgent("agent", PHONE)
        assert (await ws.receive_json(timeout=5))["status"] == "on_call"
        assert (await (await agent.get("/desk/console/agent")).json())["text"] == "通话中"
        await line.release("agent", "call1")
        assert (await ws.receive_json(timeout=5))["status"] == AgentStatus.AVAILABLE.value


@pytest.mark.parametrize("body", [
    {"sip_uri": "sip:<script>alert(1)</script>@x"}, {"sip_uri": "javascript:alert(1)"},
    {"sip_uri": 5}, {"sip_uri": ""}, {"status": "on_call"}, {"status": None}, [1, 2], "text",
])
async def test_bad_input_gets_a_400_in_chinese(agent: Client, body: Any) -> None:
    headers = await _csrf(agent)
    status, answer = await _post(agent, headers, body)
    assert status == 400 and answer["error"]
    assert (await (await agent.get("/desk/console/agent")).json())["sip_uri"] == ""


async def test_not_json_no_csrf_or_not_an_agent_is_refused(agent: Client) -> None:
    headers = await _csrf(agent)
    response = await agent.post("/desk/console/agent", data=b"\xff{", headers={
        **headers, "Content-Type": "application/json"})
    assert response.status == 400
    response = await agent.post("/desk/console/agent", json={"sip_uri": PHONE})
    assert response.status == 403  # no CSRF token
    await sign_in(agent, "city")
    assert (await agent.get("/desk/console/agent")).status == 403


async def test_a_closed_console_gets_no_calls_after_the_grace_period(agent: Client) -> None:
    headers = await _csrf(agent)
    await _post(agent, headers, {"sip_uri": PHONE})
    async with agent.ws_connect("/desk/console/ws") as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "hello"
    for _ in range(50):  # the server notices the close (and marks the console seen then)
        if not agent.app[HUB].count():
            break
        await asyncio.sleep(0.05)
    line, grace = agent.app[keys.AGENTS], timedelta(seconds=30)
    agent.app[keys.CLOCK].advance(grace + timedelta(seconds=1))  # type: ignore[attr-defined]
    assert await line.claim("c1", skip=(), console_grace=grace, lease=grace) is None
    async with agent.ws_connect("/desk/console/ws") as ws:  # back: offered calls again
        assert (await ws.receive_json(timeout=5))["type"] == "hello"
        assert await line.claim("c1", skip=(), console_grace=grace, lease=grace) is not None


async def test_a_line_in_another_process_sees_the_agent_and_updates_their_console(
        backend: str, settings: Settings, clock: FixedClock) -> None:
    """Two apps on one PostgreSQL database: the console in one, the phone line's claim in the other."""
    async with two_processes(backend, settings, clock) as (line_side, web):
        await _post(web, await _csrf(web), {"sip_uri": PHONE})
        for _ in range(100):  # the line's process listens for pops once its connection is up
            if getattr(line_side.app[POP_RELAY], "current", None) is not None:
                break
            await asyncio.sleep(0.05)
        async with web.ws_connect("/desk/console/ws") as ws:
            assert (await ws.receive_json(timeout=5))["type"] == "hello"
            grace = timedelta(seconds=30)
            offered = await line_side.app[keys.AGENTS].claim("c1", skip=(), console_grace=grace,
                                                              lease=grace)
            assert offered == OfferedAgent("agent", PHONE)
            assert (await ws.receive_json(timeout=5))["status"] == "on_call"
            await line_side.app[keys.AGENTS].release("agent", "c1")
            assert (await ws.receive_json(timeout=5))["status"] == "available"


async def test_an_agent_gives_their_phone_at_sign_in_and_is_not_asked_again(client: Client) -> None:
    """The sign-in form's optional field stores the address like the console's (same check)."""
    from desks.access.accounts import demo_password

    await staff(client)
    login = await (await client.get("/desk/login")).text()
    assert 'name="sip_uri"' in login and "坐席选填" in login

    async def sign_in_with(user: str, sip_uri: str, password: str = "") -> tuple[int, str]:
        client.session.cookie_jar.clear()
        response = await client.post("/desk/login", allow_redirects=False, data={
            "username": user, "password": password or demo_password(user), "sip_uri": sip_uri})
        return response.status, await response.text()

    status, page = await sign_in_with("agent", "sip:<script>@x")  # the console's words, no session
    assert status == 400 and "话机 SIP 地址：不是有效的 SIP 地址" in page and "&lt;script&gt;" in page
    assert await client.app[keys.AGENTS].get("agent") is None
    status, page = await sign_in_with("agent", PHONE, password="wrong password")
    assert status == 401 and await client.app[keys.AGENTS].get("agent") is None
    assert (await sign_in_with("agent", f" {PHONE} "))[0] == 303
    stored = await client.app[keys.AGENTS].get("agent")
    assert stored is not None and (stored.sip_uri, stored.status) == (PHONE, AgentStatus.AVAILABLE)
    assert (await (await client.get("/desk/console/agent")).json())["sip_uri"] == PHONE
    assert (await sign_in_with("agent", ""))[0] == 303  # left empty: the stored one stays
    assert (await client.app[keys.AGENTS].get("agent") or stored).sip_uri == PHONE
    assert (await sign_in_with("city", "sip:boss@10.0.0.9"))[0] == 303  # takes no calls: ignored
    assert await client.app[keys.AGENTS].get("city") is None
