"""Key 0: the line rings an agent's phone (SIPp as a UAS), bridges the caller and pops the console."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import pytest

from tests.channels.sip import sipp
from tests.channels.sip.conftest import Service
from tests.channels.sip.sipp import AnswerRefer, AwaitBye, HangUpAfter, Key, Pause
from tests.channels.sip.test_line import played


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_key_0_rings_the_agent_bridges_the_call_and_pops_the_console(
        start_line: Any, service: Service, worker_log: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    agent_port = _free_udp_port()
    agent = asyncio.create_task(sipp.run("", None, tmp_path / "agent", builtin="uas", timeout_s=30,
                                         extra=("-p", str(agent_port))))
    async with start_line(agents=(f"sip:agent1@127.0.0.1:{agent_port}",)) as started:
        xml = sipp.scenario([Pause(300), Key("0"), HangUpAfter(4000)])
        caller = await sipp.run(f"127.0.0.1:{started.ports['sip']}", xml, tmp_path / "caller")
        answered = await agent
    assert caller.successful == 1, caller.output
    assert answered.successful == 1, answered.output  # the agent's phone rang, answered, got our BYE
    assert service.pops == ["+8613805912345"]
    assert service.envelopes == []
    assert not any(p.startswith("agents_busy") for p in played(worker_log))


async def test_outside_agent_hours_the_caller_leaves_a_message_and_no_console_pops(
        start_line: Any, service: Service, worker_log: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    # The tests' clock says 10:00 on a Wednesday; agents here work 14:00-18:00.
    async with start_line(agents=("sip:agent1@127.0.0.1:9",), agent_hours=("14:00", "18:00")) as started:
        xml = sipp.scenario([Pause(300), Key("0"), Pause(500), Key("#"), sipp.Speak(), Key("#"),
                             HangUpAfter(1500)])
        await sipp.run(f"127.0.0.1:{started.ports['sip']}", xml, tmp_path / "caller")
        await service.wait_for(lambda: bool(service.envelopes), timeout_s=10)
    assert service.pops == []
    assert "agents_busy record_intro" in played(worker_log)


async def test_refer_transfer_hands_the_caller_to_the_agent_and_frees_the_worker(
        start_line: Any, service: Service, worker_log: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    # transfer = "refer": the caller's side (here SIPp, as a trunk would) calls the agent; the
    # worker leaves the call at the final NOTIFY instead of holding a second slot for the agent.
    async with start_line(transfer="refer", agents=("sip:agent1@127.0.0.1:5999",)) as started:
        xml = sipp.scenario([Pause(300), Key("0"), AnswerRefer("agent1@127.0.0.1:5999"), AwaitBye(10_000)])
        caller = await sipp.run(f"127.0.0.1:{started.ports['sip']}", xml, tmp_path / "caller")
    assert (caller.successful, caller.failed) == (1, 0), caller.output
    assert service.pops == ["+8613805912345"] and service.envelopes == []
    assert any("transfer to sip:agent1@127.0.0.1:5999: 200 (final)" in r.getMessage()
               for r in worker_log.records)


async def test_refer_to_a_busy_agent_tries_the_next_then_a_message(
        start_line: Any, service: Service, worker_log: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    agents = ("sip:agent1@127.0.0.1:5998", "sip:agent2@127.0.0.1:5999")
    async with start_line(transfer="refer", agents=agents) as started:
        xml = sipp.scenario([Pause(300), Key("0"), AnswerRefer("agent1@", status=486),
                             AnswerRefer("agent2@", status=486), Pause(500), Key("#"), sipp.Speak(),
                             Key("#"), AwaitBye(30_000)])
        caller = await sipp.run(f"127.0.0.1:{started.ports['sip']}", xml, tmp_path / "caller")
    assert (caller.successful, caller.failed) == (1, 0), caller.output
    assert "agents_busy record_intro" in played(worker_log)
    [envelope] = service.envelopes  # nobody answered: the caller left a message, heard its number
    assert envelope.receipt_in_reply
