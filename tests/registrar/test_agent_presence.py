"""Agents' presence for the phone line, on SQLite and PostgreSQL (``registrar.agents``)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from contract.agents import AgentStatus, OfferedAgent, sip_uri_problem
from contract.clock import FixedClock
from registrar.agents import AgentPresence
from registrar.db import make_sessionmaker
from registrar.models import Account, Role
from tests.conftest import SEED_TIME

GRACE = timedelta(seconds=30)
LEASE = timedelta(seconds=60)


@pytest.fixture
async def presence(engine: AsyncEngine) -> tuple[AgentPresence, FixedClock, list[tuple[str, str]]]:
    sessions = make_sessionmaker(engine)
    async with sessions.begin() as session:
        for name in ("a1", "a2", "a3"):
            session.add(Account(username=name, display_name=name, password_hash="x",
                                role=Role.AGENT, created_at=SEED_TIME))
    clock = FixedClock(SEED_TIME)
    told: list[tuple[str, str]] = []

    async def on_change(username: str, status: AgentStatus) -> None:
        told.append((username, status.value))

    return AgentPresence(lambda: sessions, clock, on_change), clock, told


async def _claim(presence: AgentPresence, call: str, *, skip: tuple[str, ...] = ()) -> OfferedAgent | None:
    return await presence.claim(call, skip=skip, console_grace=GRACE, lease=LEASE)


async def test_the_agent_idle_longest_is_offered_first_and_held_for_one_call_only(
        presence: tuple[AgentPresence, FixedClock, list[tuple[str, str]]]) -> None:
    agents, clock, told = presence
    await agents.set_address("a2", "sip:a2@10.0.0.22")
    clock.advance(timedelta(seconds=5))
    await agents.set_address("a1", "sip:a1@10.0.0.21:5060")
    assert await _claim(agents, "c2") == OfferedAgent("a2", "sip:a2@10.0.0.22")  # idle longest
    assert await _claim(agents, "c1") == OfferedAgent("a1", "sip:a1@10.0.0.21:5060")
    assert await _claim(agents, "c3") is None  # both on a call
    assert ("a1", "on_call") in told
    got = await agents.get("a1")
    assert got is not None and got.status is AgentStatus.ON_CALL

    await agents.release("a1", "c9")  # not the call that holds a1: nothing changes
    assert (await agents.get("a1")).status is AgentStatus.ON_CALL  # type: ignore[union-attr]
    clock.advance(timedelta(seconds=5))
    await agents.release("a2", "c2")
    assert told[-1] == ("a2", "available")
    clock.advance(timedelta(seconds=5))
    await agents.release("a1", "c1")
    # a2 has been free since before a1: a2 first again, and a1 for a call that tried a2.
    await agents.seen(["a1", "a2"])
    assert await _claim(agents, "c5", skip=("a2",)) == OfferedAgent("a1", "sip:a1@10.0.0.21:5060")
    assert await _claim(agents, "c4") == OfferedAgent("a2", "sip:a2@10.0.0.22")


async def test_two_lines_claiming_at_once_never_hold_one_agent_for_two_calls(
        presence: tuple[AgentPresence, FixedClock, list[tuple[str, str]]]) -> None:
    agents, _, _ = presence
    await agents.set_address("a1", "sip:a1@10.0.0.21")
    got = await asyncio.gather(*(_claim(agents, f"c{i}") for i in range(6)))
    assert sum(g is not None for g in got) == 1


async def test_away_agents_and_closed_consoles_get_no_calls(
        presence: tuple[AgentPresence, FixedClock, list[tuple[str, str]]]) -> None:
    agents, clock, _ = presence
    await agents.set_address("a1", "sip:a1@10.0.0.21")
    await agents.set_address("a2", "sip:a2@10.0.0.22")
    assert await agents.set_status("a3", AgentStatus.AWAY) is None  # no address yet: no row
    await agents.set_status("a1", AgentStatus.AWAY)
    clock.advance(GRACE + timedelta(seconds=1))  # nobody's console seen for longer than the grace
    assert await _claim(agents, "c1") is None
    await agents.seen(["a1", "a2"])
    assert await _claim(agents, "c1") == OfferedAgent("a2", "sip:a2@10.0.0.22")
    with pytest.raises(ValueError):
        await agents.set_status("a1", AgentStatus.ON_CALL)


async def test_a_crashed_line_leaves_no_agent_on_a_call_forever(
        presence: tuple[AgentPresence, FixedClock, list[tuple[str, str]]]) -> None:
    agents, clock, _ = presence
    await agents.set_address("a1", "sip:a1@10.0.0.21")
    assert await _claim(agents, "c1") is not None
    clock.advance(LEASE / 2)
    await agents.renew({"c1": "a1"}, LEASE)  # the line is alive and renews
    await agents.seen(["a1"])
    clock.advance(LEASE / 2 + timedelta(seconds=1))
    assert (await agents.get("a1")).status is AgentStatus.ON_CALL  # type: ignore[union-attr]
    assert await _claim(agents, "c2") is None
    clock.advance(LEASE)  # the line died: no renewal; the lease runs out
    await agents.seen(["a1"])
    assert (await agents.get("a1")).status is AgentStatus.AVAILABLE  # type: ignore[union-attr]
    assert await _claim(agents, "c2") == OfferedAgent("a1", "sip:a1@10.0.0.21")
    await agents.release("a1", "c1")  # the dead line's late release does not free the new call
    assert (await agents.get("a1")).status is AgentStatus.ON_CALL  # type: ignore[union-attr]


async def test_going_away_during_a_call_stays_away_after_it(
        presence: tuple[AgentPresence, FixedClock, list[tuple[str, str]]]) -> None:
    agents, _, _ = presence
    await agents.set_address("a1", "sip:a1@10.0.0.21")
    assert await _claim(agents, "c1") is not None
    back = await agents.set_status("a1", AgentStatus.AVAILABLE)  # no effect while held
    assert back is not None and back.status is AgentStatus.ON_CALL
    await agents.set_status("a1", AgentStatus.AWAY)
    await agents.release("a1", "c1")
    assert (await agents.get("a1")).status is AgentStatus.AWAY  # type: ignore[union-attr]
    changed = await agents.set_address("a1", "sip:a1@10.0.0.99")  # a new phone keeps the status
    assert changed.status is AgentStatus.AWAY and changed.sip_uri == "sip:a1@10.0.0.99"


@pytest.mark.parametrize("text", ["sip:agent1@10.0.0.21:5060", "sips:agent1@pbx.example.com",
                                  "sip:801@10.0.0.5;transport=udp"])
def test_sip_addresses_agents_may_give(text: str) -> None:
    assert sip_uri_problem(text) is None


@pytest.mark.parametrize("text", ["", "agent1@10.0.0.21", "http://x", "sip:<script>@x",
                                  "sip:a@b c", 'sip:a"@x', "sip:a@x:5060;<b>", "sip:" + "a" * 300 + "@x",
                                  "sip:a@x\n", "tel:+8613800000000"])
def test_what_is_no_sip_address(text: str) -> None:
    assert sip_uri_problem(text)
