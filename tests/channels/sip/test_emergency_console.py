"""R3.8 end to end: the console pops the call, the agent presses the emergency key over HTTP, the
SIP worker bridges the caller to the 120 line, and the case shows the transfer.

The whole service in one app (web, worker and the ``sip`` role, as ``hotline serve``
runs it) on SQLite and on PostgreSQL — there the key's request crosses LISTEN/NOTIFY
to the phone line's handler. SIPp is the caller, the agent's phone and the 120 line.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from contract.clock import FixedClock
from intake import keys
from registrar.models import Case, Event
from tests.channels.sip import sipp
from tests.channels.sip.sipp import HangUpAfter, Key, Pause, Speak
from tests.channels.sip.test_agents import _free_udp_port
from tests.channels.sip.test_emergency import Ear
from tests.conftest import make_settings
from tests.intake.test_console import field, sign_in, staff

Client = TestClient[Any, Any]


@pytest.fixture
def phones() -> dict[str, int]:
    return {"agent": _free_udp_port(), "120": _free_udp_port()}


@pytest.fixture
async def hotline(db_url: str, tmp_path: Path, clock: FixedClock,
                  phones: dict[str, int]) -> AsyncIterator[Client]:
    from intake.app import create_app

    sipp.sipp_binary()  # skip on a laptop without SIPp, fail on CI
    settings = make_settings(db_url, tmp_path / "data", sip={
        "enabled": True, "port": 0, "rtp_port_start": 0, "choice_timeout_s": 2.0,
        "digit_timeout_s": 2.0, "readback_times": 1, "restart_delay_s": 0.2,
        "agents": [f"sip:agent1@127.0.0.1:{phones['agent']}"],
        "emergency": {"120": f"sip:120@127.0.0.1:{phones['120']}"}})
    async with TestClient(TestServer(create_app(settings, clock=clock))) as client:
        yield client


async def test_R3_8_agent_presses_120_in_the_console_and_the_case_shows_the_transfer(
        hotline: Client, phones: dict[str, int], tmp_path: Path) -> None:
    client, ear = hotline, Ear()
    await staff(client)
    await sign_in(client, "agent")
    token = field(await (await client.get("/desk/console")).text(), "csrf")
    agent = asyncio.create_task(sipp.run("", None, tmp_path / "agent", builtin="uas", timeout_s=40,
                                         extra=("-p", str(phones["agent"]))))
    line = asyncio.create_task(sipp.run("", sipp.answering_line(ear.port), tmp_path / "line",
                                        timeout_s=40, extra=("-p", str(phones["120"]))))
    port = client.app[keys.BOUND_PORTS]["sip.sip"]
    async with client.ws_connect("/desk/console/ws") as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "hello"
        xml = sipp.scenario([Pause(300), Key("0"), Pause(3000), Speak(), HangUpAfter(500)])
        caller = asyncio.create_task(sipp.run(f"127.0.0.1:{port}", xml, tmp_path / "caller",
                                              timeout_s=40))
        pop = await ws.receive_json(timeout=20)
    assert pop["type"] == "call" and pop["caller"] == "+8613805912345" and len(pop["call"]) == 32
    await asyncio.sleep(1.0)  # the agent's phone answers and is bridged
    response = await client.post("/desk/console/emergency", json={"call": pop["call"], "service": "120"},
                                 headers={"X-CSRF-Token": token})
    answer = await response.json()
    assert response.status == 200 and answer["ok"] is True, answer
    assert answer["message"] == "已转接120（急救），坐席通话已结束"
    assert (await asyncio.wait_for(agent, 10)).successful == 1  # the agent's leg got our BYE
    await ear.listen(4.0)
    assert (await caller).successful == 1 and (await line).successful == 1
    assert ear.loud >= 50, (ear.packets, ear.loud)  # the caller's speech reached 120
    async with client.app[keys.SESSIONMAKER]() as session:
        case = (await session.execute(select(Case).where(Case.number == answer["case"]))).scalar_one()
        [event] = (await session.execute(select(Event).where(
            Event.case_id == case.id, Event.action == "emergency_transfer"))).scalars()
    assert case.sender == "+8613805912345" and case.display_name == "Zhang San"
    assert (event.data["service"], event.data["outcome"], event.data["code"]) == ("120", "connected", 200)
    await sign_in(client, "city")
    page = await (await client.get(f"/desk/cases/{case.number}")).text()
    assert "紧急转接" in page and "已转接120（急救）" in page
    # The call is over: the key now says so, and nothing more is logged.
    await sign_in(client, "agent")
    token = field(await (await client.get("/desk/console")).text(), "csrf")
    gone = await client.post("/desk/console/emergency", json={"call": pop["call"], "service": "120"},
                             headers={"X-CSRF-Token": token})
    assert gone.status == 404
