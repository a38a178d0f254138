"""The console's screen pop across web processes sharing one PostgreSQL database.

Two apps built by the factory on one database stand for two web processes
behind a balancer: each has its own hub and its own listening connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from config.settings import Settings
from contract.clock import FixedClock
from desks.console import announce_call
from desks.console.hub import HUB, POP_RELAY
from desks.console.shared_pop import ResilientPop, SharedPop
from intake.app import create_app
from tests.intake.test_console import CALLER_E164, sign_in, staff

Client = TestClient[Any, Any]


@asynccontextmanager
async def app_instance(settings: Settings, clock: FixedClock) -> AsyncIterator[Client]:
    async with TestClient(TestServer(create_app(settings, clock=clock))) as client:
        yield client


@asynccontextmanager
async def two_processes(backend: str, settings: Settings,
                        clock: FixedClock) -> AsyncIterator[tuple[Client, Client]]:
    """Two apps on one PostgreSQL database, the agent signed in on the second (skips on SQLite)."""
    if backend != "postgresql":
        pytest.skip("SQLite runs as one process: the hub is in-process (see the next test)")
    async with app_instance(settings, clock) as a, app_instance(settings, clock) as b:
        await staff(b)
        await sign_in(b, "agent")
        yield a, b


async def test_announce_call_on_app_a_reaches_an_agent_connected_to_app_b(
        backend: str, settings: Settings, clock: FixedClock) -> None:
    async with two_processes(backend, settings, clock) as (a, b):
        async with b.ws_connect("/desk/console/ws") as ws:
            assert (await ws.receive_json(timeout=5)) == {"type": "hello", "agent": "agent"}
            assert a.app[HUB].count() == 0 and b.app[HUB].agents() == ["agent"]
            assert await announce_call(a.app, CALLER_E164) == 1
            assert (await ws.receive_json(timeout=5)) == {"type": "call", "caller": CALLER_E164}
            assert await announce_call(a.app, CALLER_E164, agent="agent") == 1
            assert (await ws.receive_json(timeout=5)) == {"type": "call", "caller": CALLER_E164}
            assert await announce_call(a.app, CALLER_E164, agent="someone-else") == 0
            assert await announce_call(b.app, "+8613905910001") == 1
            assert (await ws.receive_json(timeout=5)) == {"type": "call",
                                                          "caller": "+8613905910001"}
        # A message that is not ours on the channel is ignored, and pops still flow.
        resilient = a.app[POP_RELAY]
        assert isinstance(resilient, ResilientPop)
        relay = resilient.current
        assert isinstance(relay, SharedPop)
        relay.on_message("not json")
        relay.on_message('{"kind": "ack", "id": "unknown", "reached": 3}')
        assert await announce_call(a.app, CALLER_E164) == 0


async def test_on_sqlite_the_hub_stays_in_process(backend: str, settings: Settings,
                                                 clock: FixedClock) -> None:
    if backend != "sqlite":
        pytest.skip("on PostgreSQL the pop is shared (see the test above)")
    async with app_instance(settings, clock) as a:
        assert POP_RELAY not in a.app
