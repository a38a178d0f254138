"""The line's service side with agents' presence: whom it rings, whose console pops, release.

No SIP here: worker messages go straight to ``LineService.handle``; the roster
is a recording fake of ``contract.agents.AgentLine`` (the database side is
tests/registrar/test_agent_presence.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import signal
from collections.abc import AsyncIterator, Collection, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from channels.sip.service import LineService
from channels.sip.spec import SPEC
from channels.sip.spool import Spool
from contract.agents import OfferedAgent
from contract.channel import Started
from tests.channels.sip import sipp
from tests.channels.sip.conftest import Service, line_settings, make_ports
from tests.channels.sip.sipp import HangUpAfter, Key, Pause
from tests.channels.sip.test_agents import _free_udp_port

CALLER = "+8613805912345"


@dataclass
class Roster:
    """Free agents in order of idleness; what the line claimed, released and renewed."""

    free: list[OfferedAgent] = field(default_factory=list)
    held: dict[str, str] = field(default_factory=dict)
    released: list[tuple[str, str]] = field(default_factory=list)
    renewed: list[dict[str, str]] = field(default_factory=list)

    async def claim(self, call: str, *, skip: Collection[str], console_grace: timedelta,
                    lease: timedelta) -> OfferedAgent | None:
        for agent in self.free:
            if agent.username not in skip:
                self.free.remove(agent)
                self.held[call] = agent.username
                return agent
        return None

    async def release(self, username: str, call: str) -> None:
        self.released.append((username, call))

    async def renew(self, holds: Mapping[str, str], lease: timedelta) -> None:
        self.renewed.append(dict(holds))


A1 = OfferedAgent("a1", "sip:a1@10.0.0.21:5060")
A2 = OfferedAgent("a2", "sip:a2@10.0.0.22:5060")
PBX = "sip:801@10.0.0.5"


def _line(tmp_path: Path, service: Service, roster: Roster | None, **settings: object) -> LineService:
    ports = dataclasses.replace(make_ports(service, tmp_path), agents=roster)
    return LineService(line_settings(**settings), ports, Spool(tmp_path / "spool"), tmp_path / "tts")


async def _ask(line: LineService, op: str, call: str = "k1", worker: int = 0) -> object:
    answer = await line.handle(worker, {"op": op, "id": 7, "call": call, "caller": CALLER})
    assert answer is not None
    return answer.get("agents"), answer.get("more")


async def test_the_free_agent_rings_and_only_their_console_pops(tmp_path: Path) -> None:
    service, roster = Service(), Roster(free=[A1, A2])
    line = _line(tmp_path, service, roster, agents=(PBX,))
    assert await _ask(line, "agents") == ([A1.sip_uri], True)
    assert (service.pops, service.popped_to) == ([CALLER], ["a1"])
    # a1 did not answer: the worker is done with a1 and asks for the next agent.
    await line.handle(0, {"op": "agent_busy", "agent": A1.sip_uri, "busy": False, "call": "k1"})
    assert roster.released == [("a1", "k1")]
    assert await _ask(line, "agent_next") == ([A2.sip_uri], True)
    assert service.popped_to == ["a1", "a2"]
    # a2 answered and the call runs: its lease is renewed; when the worker dies, a2 is let go.
    await line.handle(0, {"op": "agent_busy", "agent": A2.sip_uri, "busy": True, "call": "k1"})
    await line.renew_holds()
    assert roster.renewed == [{"k1": "a2"}]
    await line.worker_gone(1)  # another worker: nothing of ours
    assert roster.released == [("a1", "k1")]
    await line.worker_gone(0)
    assert roster.released == [("a1", "k1"), ("a2", "k1")]
    await line.renew_holds()
    assert len(roster.renewed) == 1  # nothing held any more


async def test_the_fixed_list_only_when_no_console_agent_is_free(tmp_path: Path) -> None:
    service, roster = Service(), Roster(free=[A1])
    line = _line(tmp_path, service, roster, agents=(PBX,))
    assert await _ask(line, "agents", call="k1") == ([A1.sip_uri], True)
    assert await _ask(line, "agents", call="k2") == ([PBX], None)  # a1 is on k1
    assert service.popped_to == ["a1", None]  # a PBX extension is nobody's console: all pop
    # k1's agent never answered: after the console agents the fixed list, then nothing more.
    assert await _ask(line, "agent_next", call="k1") == ([PBX], None)


async def test_no_agent_at_all_means_a_message(tmp_path: Path) -> None:
    service = Service()
    assert await _ask(_line(tmp_path, service, Roster()), "agents") == ([], None)
    assert await _ask(_line(tmp_path / "b", service, None), "agents") == ([], None)
    assert service.pops == []


async def test_outside_hours_no_agent_is_held(tmp_path: Path) -> None:
    roster = Roster(free=[A1])
    line = _line(tmp_path, Service(), roster, agent_hours=("14:00", "18:00"))
    assert await _ask(line, "agents") == ([], None)
    assert roster.held == {}


async def test_a_release_for_another_agent_or_call_does_not_free_the_held_one(tmp_path: Path) -> None:
    roster = Roster(free=[A1])
    line = _line(tmp_path, Service(), roster)
    await _ask(line, "agents")
    await line.handle(0, {"op": "agent_busy", "agent": PBX, "busy": False, "call": "k1"})
    await line.handle(0, {"op": "agent_busy", "agent": A1.sip_uri, "busy": False, "call": "k2"})
    assert roster.released == []


# With real workers: SIPp calls and presses 0, a SIPp uas answers as the agent's phone. ---------


@asynccontextmanager
async def _line_with(roster: Roster, service: Service, data: Path) -> AsyncIterator[Started]:
    ports = dataclasses.replace(make_ports(service, data), agents=roster)
    async with SPEC.start(line_settings(agent_lease_s=6.0), ports, frozenset({"sip"})) as started:
        yield started


async def _call_agent(tmp_path: Path, roster: Roster, service: Service, *,
                      kill_worker: bool) -> tuple[sipp.Result, sipp.Result]:
    port = _free_udp_port()
    roster.free = [OfferedAgent("a1", f"sip:a1@127.0.0.1:{port}")]
    phone = asyncio.create_task(sipp.run("", None, tmp_path / "phone", builtin="uas", timeout_s=30,
                                         extra=("-p", str(port))))
    async with _line_with(roster, service, tmp_path / "data") as started:
        xml = sipp.scenario([Pause(300), Key("0"), HangUpAfter(6000)])
        caller = asyncio.create_task(sipp.run(f"127.0.0.1:{started.ports['sip']}", xml,
                                              tmp_path / "caller", timeout_s=30))
        await service.wait_for(lambda: bool(service.pops), timeout_s=20)
        await asyncio.sleep(2)  # the agent's phone answered: the call is bridged
        assert roster.released == []
        if kill_worker:
            pid = int(re.search(r"pid (\d+)", started.listening[1]).group(1))  # type: ignore[union-attr]
            os.kill(pid, signal.SIGKILL)
        await service.wait_for(lambda: bool(roster.released), timeout_s=20)
        return await caller, await phone


async def test_the_agent_is_held_while_bridged_and_free_at_the_hang_up(tmp_path: Path) -> None:
    service, roster = Service(), Roster()
    caller, phone = await _call_agent(tmp_path, roster, service, kill_worker=False)
    assert (caller.successful, phone.successful) == (1, 1), caller.output + phone.output
    [(call, username)] = roster.held.items()
    assert roster.released == [(username, call)] and username == "a1"
    assert service.popped_to == ["a1"]


async def test_kill_9_of_the_worker_mid_call_frees_its_agent_at_once(tmp_path: Path) -> None:
    service, roster = Service(), Roster()
    await _call_agent(tmp_path, roster, service, kill_worker=True)
    assert roster.released == [("a1", next(iter(roster.held)))]


async def test_R3_8_emergency_key_only_for_the_agent_the_call_rang(tmp_path: Path) -> None:
    """A console agent's call moves only by their key; a fixed-list call by any agent's."""
    roster = Roster(free=[A1, A2])
    line = _line(tmp_path, Service(), roster, agents=(PBX,), emergency={"120": "sip:120@127.0.0.1:5998"})
    assert await _ask(line, "agents", call="k1") == (["sip:a1@10.0.0.21:5060"], True)

    def key(agent: str, call: str = "k1") -> dict[str, object]:
        return {"op": "emergency", "call": call, "service": "120", "agent": agent}

    for other in ("a2", "", "A1"):
        refused = await line.control(key(other))
        assert refused is not None and refused["reason"] == "not_your_call", other
    mine = await line.control(key("a1"))  # passes the check; no worker link in this test
    assert mine is not None and mine["reason"] == "line_down"
    # a1 does not answer: a2 rings and the key is theirs now, not a1's
    await line.handle(0, {"op": "agent_busy", "agent": A1.sip_uri, "busy": False, "call": "k1"})
    assert await _ask(line, "agent_next", call="k1") == (["sip:a2@10.0.0.22:5060"], True)
    assert (await line.control(key("a1")) or {}).get("reason") == "not_your_call"
    assert (await line.control(key("a2")) or {}).get("reason") == "line_down"
    # no console agent left: the fixed list, popped on every console — any agent may press
    await line.handle(0, {"op": "agent_busy", "agent": A2.sip_uri, "busy": False, "call": "k1"})
    assert await _ask(line, "agent_next", call="k1") == ([PBX], None)
    assert (await line.control(key("a1")) or {}).get("reason") == "line_down"
    await line.handle(0, {"op": "call_ended", "call": "k1"})
    assert await line.control(key("a2")) is None and line.popped == {}
