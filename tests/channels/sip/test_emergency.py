"""R3.8: the agent's emergency key hands the live call to 110/119/120/122 (SIPp as every phone).

The caller is SIPp pressing 0; the agent's phone is ``sipp -sn uas``; the 120 line is
SIPp answering with its audio sent to a socket this test reads, so the caller's speech
arriving there shows the caller's media was bridged to it. The key is pressed the
way the console's route does: ``ports.calls.ask({"op": "emergency", …})``.
"""

from __future__ import annotations

import asyncio
import math
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from tests.channels.sip import sipp
from tests.channels.sip.conftest import Service
from tests.channels.sip.sipp import HangUpAfter, Key, Pause, Speak
from tests.channels.sip.test_agents import _free_udp_port


def _alaw(byte: int) -> int:
    """One G.711 A-law sample as linear PCM (ITU-T G.711)."""
    byte ^= 0x55
    exponent, mantissa = (byte >> 4) & 0x07, byte & 0x0F
    value = (mantissa << 4) + 8 if exponent == 0 else ((mantissa << 4) + 0x108) << (exponent - 1)
    return value if byte & 0x80 else -value


def _rms(payload: bytes) -> float:
    return math.sqrt(sum(_alaw(b) ** 2 for b in payload) / len(payload)) if payload else 0.0


class Ear:
    """A UDP socket standing in for the emergency line's media: counts what it hears."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port: int = self.sock.getsockname()[1]
        self.packets = 0
        self.loud = 0
        """RTP packets whose PCMA audio is speech, not silence."""

    def drain(self) -> None:
        while True:
            try:
                packet = self.sock.recv(2048)
            except BlockingIOError:
                return
            if len(packet) > 12:
                self.packets += 1
                self.loud += _rms(packet[12:]) > 300

    async def listen(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.drain()
            await asyncio.sleep(0.02)


async def _pressed_when_bridged(service: Service, key: str, *, timeout_s: float = 20) -> dict[str, Any]:
    """Wait for the pop (the agent's console has the call id), then press the emergency key."""
    await service.wait_for(lambda: bool(service.calls), timeout_s=timeout_s)
    [call] = service.calls
    assert call.isalnum() and len(call) == 32
    answer = None
    for _ in range(40):  # the agent's phone answers within moments of the pop
        answer = await service.control.ask({"op": "emergency", "call": call, "service": key},
                                           timeout_s=40)
        assert answer is not None
        if answer["reason"] != "not_with_agent":
            return answer
        await asyncio.sleep(0.25)
    raise AssertionError(f"the call never reached the agent: {answer}")


async def test_R3_8_emergency_key_bridges_the_caller_to_120_and_ends_the_agents_leg(
        start_line: Any, service: Service, tmp_path: Path) -> None:
    agent_port, line_port, ear = _free_udp_port(), _free_udp_port(), Ear()
    agent = asyncio.create_task(sipp.run("", None, tmp_path / "agent", builtin="uas", timeout_s=40,
                                         extra=("-p", str(agent_port))))
    line = asyncio.create_task(sipp.run("", sipp.answering_line(ear.port), tmp_path / "line",
                                        timeout_s=40, extra=("-p", str(line_port))))
    settings = {"agents": (f"sip:agent1@127.0.0.1:{agent_port}",),
                "emergency": {"120": f"sip:120@127.0.0.1:{line_port}"}}
    async with start_line(**settings) as started:
        # The caller keys 0, talks with the agent, then (transferred by now) speaks to 120.
        xml = sipp.scenario([Pause(300), Key("0"), Pause(3000), Speak(), HangUpAfter(500)])
        caller = asyncio.create_task(sipp.run(f"127.0.0.1:{started.ports['sip']}", xml,
                                              tmp_path / "caller", timeout_s=40))
        answer = await _pressed_when_bridged(service, "120")
        assert answer["ok"] is True and answer["code"] == 200, answer
        assert answer["caller"] == "+8613805912345" and answer["uri"].startswith("sip:120@")
        answered = await asyncio.wait_for(agent, 10)  # the agent's leg ended by our BYE …
        assert not caller.done()  # … while the caller is still on the line, now with 120
        assert answered.successful == 1, answered.output
        await ear.listen(4.0)
        done = await caller
        ended = await line
    assert done.successful == 1, done.output
    assert ended.successful == 1, ended.output  # 120 answered, then got the BYE when the caller left
    print("120 line heard", ear.packets, "packets,", ear.loud, "with speech")
    assert ear.loud >= 50, (ear.packets, ear.loud)  # the caller's speech reached the 120 line


async def test_R3_8_refused_emergency_line_leaves_the_caller_with_the_agent(
        start_line: Any, service: Service, tmp_path: Path) -> None:
    agent_port, line_port = _free_udp_port(), _free_udp_port()
    agent = asyncio.create_task(sipp.run("", None, tmp_path / "agent", builtin="uas", timeout_s=40,
                                         extra=("-p", str(agent_port))))
    line = asyncio.create_task(sipp.run("", sipp.refusing_line(486), tmp_path / "line",
                                        timeout_s=40, extra=("-p", str(line_port))))
    settings = {"agents": (f"sip:agent1@127.0.0.1:{agent_port}",),
                "emergency": {"120": f"sip:120@127.0.0.1:{line_port}"}}
    async with start_line(**settings) as started:
        xml = sipp.scenario([Pause(300), Key("0"), HangUpAfter(6000)])
        caller = asyncio.create_task(sipp.run(f"127.0.0.1:{started.ports['sip']}", xml,
                                              tmp_path / "caller", timeout_s=40))
        answer = await _pressed_when_bridged(service, "120")
        assert (answer["ok"], answer["code"], answer["reason"]) == (False, 486, "refused"), answer
        await asyncio.sleep(1.0)
        assert not agent.done() and not caller.done()  # still talking to each other
        unknown = await service.control.ask({"op": "emergency", "call": service.calls[0],
                                             "service": "119"}, timeout_s=10)
        assert unknown is not None and unknown["reason"] == "not_configured"
        done, answered, refused = await caller, await agent, await line
    assert done.successful == 1 and answered.successful == 1, (done.output, answered.output)
    assert refused.successful == 1, refused.output
    # Once the call is over, the key finds nothing to transfer.
    assert await service.control.ask({"op": "emergency", "call": service.calls[0], "service": "120"},
                                     timeout_s=5) is None


def test_emergency_numbers_are_checked_and_bare_numbers_go_through_the_trunk() -> None:
    from pydantic import ValidationError

    from channels.sip.settings import SipSettings

    direct = SipSettings(emergency={"120": "sip:120@10.0.0.9:5060"})
    assert (direct.emergency_uri("120"), direct.emergency_uri("110")) == ("sip:120@10.0.0.9:5060", None)
    trunk = SipSettings(emergency={"110": "110"}, registrar="sip:pbx.example.com",
                        username="hotline", password="secret")
    assert trunk.emergency_uri("110") == "sip:110@pbx.example.com"
    for bad in ({"999": "sip:999@10.0.0.9"}, {"110": "not a number"}, {"110": "110"}):
        with pytest.raises(ValidationError):
            SipSettings(emergency=bad)  # unknown service; neither URI nor number; no trunk


@pytest.mark.parametrize("status", [200, 486])
async def test_R3_8_emergency_refer_hands_the_caller_to_120_or_keeps_it_with_the_agent(
        start_line: Any, service: Service, tmp_path: Path, status: int) -> None:
    # emergency_transfer = "refer": the caller's side (SIPp, as a trunk would) calls 120 itself;
    # its final NOTIFY says whether 120 answered. Refused: the caller stays with the agent.
    from tests.channels.sip.sipp import AnswerRefer, AwaitBye

    agent_port = _free_udp_port()
    agent = asyncio.create_task(sipp.run("", None, tmp_path / "agent", builtin="uas", timeout_s=40,
                                         extra=("-p", str(agent_port))))
    settings = {"agents": (f"sip:agent1@127.0.0.1:{agent_port}",), "emergency_transfer": "refer",
                "emergency": {"120": "sip:120@127.0.0.1:5999"}}
    after = [AwaitBye(10_000)] if status == 200 else [HangUpAfter(3000)]
    async with start_line(**settings) as started:
        xml = sipp.scenario([Pause(300), Key("0"), AnswerRefer("120@127.0.0.1:5999", status=status),
                             *after])
        caller = asyncio.create_task(sipp.run(f"127.0.0.1:{started.ports['sip']}", xml,
                                              tmp_path / "caller", timeout_s=40))
        answer = await _pressed_when_bridged(service, "120")
        assert (answer["ok"], answer["code"]) == (status == 200, status), answer
        if status != 200:
            await asyncio.sleep(1.0)
            assert not agent.done() and not caller.done()  # still talking to each other
        done, answered = await caller, await agent
    assert (done.successful, done.failed) == (1, 0), done.output
    assert answered.successful == 1, answered.output


async def test_line_service_routes_the_key_to_the_worker_holding_the_call(tmp_path: Path) -> None:
    from channels.sip.service import LineService
    from channels.sip.spool import Spool
    from tests.channels.sip.conftest import line_settings, make_ports

    service = Service()
    line = LineService(line_settings(agents=("sip:agent1@127.0.0.1:5999",),
                                     emergency={"120": "sip:120@127.0.0.1:5998"}),
                       make_ports(service, tmp_path), Spool(tmp_path / "spool"), tmp_path / "tts")
    call = "f" * 32
    await line.handle(1, {"op": "agents", "id": 1, "caller": "+8613805912345", "call": call})
    assert service.calls == [call] and line.live == {call: 1}
    assert await line.control({"op": "hangup", "call": call}) is None  # not a request it takes
    assert await line.control({"op": "emergency", "call": "0" * 32, "service": "120"}) is None
    unset = await line.control({"op": "emergency", "call": call, "service": "110"})
    assert unset is not None and unset["reason"] == "not_configured"
    down = await line.control({"op": "emergency", "call": call, "service": "120"})
    assert down is not None and down["reason"] == "line_down"
    sent: list[tuple[int, dict[str, Any]]] = []

    def to_worker(index: int, message: dict[str, Any]) -> bool:
        sent.append((index, message))
        return True

    line.to_worker = to_worker
    pressed = asyncio.create_task(line.control({"op": "emergency", "call": call, "service": "120"}))
    await asyncio.sleep(0)  # the request goes out before it waits for the worker's report
    [(worker, message)] = sent
    assert (worker, message["op"], message["uri"]) == (1, "emergency", "sip:120@127.0.0.1:5998")
    await line.handle(1, {"op": "emergency_result", "ref": message["ref"] + 1, "ok": True})  # not ours
    assert not pressed.done()
    await line.handle(1, {"op": "emergency_result", "ref": message["ref"], "ok": False, "code": 486,
                          "reason": "refused", "caller": "+8613805912345"})
    answer = await pressed
    assert answer is not None and (answer["ok"], answer["code"], answer["reason"]) == (False, 486, "refused")
    await line.handle(1, {"op": "call_ended", "call": call})
    assert line.live == {}
