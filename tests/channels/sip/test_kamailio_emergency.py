"""R3.8 through Kamailio: the emergency key reaches the worker of a pool that holds the call.

Issue 11: SIPp callers → Kamailio → one of 2 workers → the agent's phone (``sipp -sn
uas``); the key pressed for each call (``ports.calls``, as the console's route asks)
must reach the worker holding that call over its own link, and that worker bridges
the caller to the emergency line (a SIPp scenario whose audio lands on a socket the
test reads). Two callers, one per worker (Kamailio's round robin), each handed to a
different line (120 and 110), so a key that reached the wrong worker, or a worker
that dialled for another's call, shows as a refusal or as speech on the wrong ear.
Across web and SIP processes the same request crosses PostgreSQL's NOTIFY
(``tests/channels/sip/test_emergency_console.py``). Needs SIPp and Kamailio.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.channels.sip import sipp
from tests.channels.sip.conftest import Service
from tests.channels.sip.sipp import HangUpAfter, Key, Pause, Speak
from tests.channels.sip.test_agents import _free_udp_port
from tests.channels.sip.test_emergency import Ear
from tests.channels.sip.test_pool import answered_by_worker, numbers, restarts


async def _press(service: Service, call: str, key: str) -> dict[str, Any]:
    """The emergency key on ``call`` once its agent answered (a moment after the pop)."""
    answer: dict[str, Any] | None = None
    for _ in range(40):
        got = await service.control.ask({"op": "emergency", "call": call, "service": key}, timeout_s=40)
        assert got is not None, f"no worker holds call {call}"
        answer = dict(got)
        if answer["reason"] != "not_with_agent":
            return answer
        await asyncio.sleep(0.25)
    raise AssertionError(f"call {call} never reached the agent: {answer}")


async def test_R3_8_emergency_key_through_kamailio_reaches_the_worker_holding_each_call(
        start_pool: Any, service: Service, worker_log: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    agent_port, ears = _free_udp_port(), {"120": Ear(), "110": Ear()}
    lines = {key: _free_udp_port() for key in ears}
    # One phone plays both agents (two extensions at one address): it answers both calls.
    agent = asyncio.create_task(sipp.run("", None, tmp_path / "agent", builtin="uas", calls=2,
                                         timeout_s=60, extra=("-p", str(agent_port))))
    answering = {key: asyncio.create_task(sipp.run(
        "", sipp.answering_line(ears[key].port), tmp_path / f"line{key}", timeout_s=60,
        extra=("-p", str(port)))) for key, port in lines.items()}
    settings = {"agents": (f"sip:agent1@127.0.0.1:{agent_port}", f"sip:agent2@127.0.0.1:{agent_port}"),
                "emergency": {key: f"sip:{key}@127.0.0.1:{port}" for key, port in lines.items()}}
    async with start_pool(workers=2, **settings) as pool:
        # Each caller keys 0, talks with the agent, then (transferred by now) speaks.
        xml = sipp.scenario([Pause(300), Key("0"), Pause(6000), Speak(), HangUpAfter(500)],
                            user="[field0]")
        callers = asyncio.create_task(sipp.run(pool.target, xml, tmp_path / "callers", calls=2,
                                               rate=2, timeout_s=60, numbers=numbers(2)))
        await service.wait_for(lambda: len(service.calls) == 2, timeout_s=30)
        first, second = service.calls
        assert first != second and all(c.isalnum() and len(c) == 32 for c in service.calls)
        pressed = await asyncio.gather(_press(service, first, "120"), _press(service, second, "110"))
        for key, answer in zip(("120", "110"), pressed, strict=True):
            assert (answer["ok"], answer["code"]) == (True, 200), answer
            assert answer["uri"] == f"sip:{key}@127.0.0.1:{lines[key]}", answer
        assert sorted(a["caller"] for a in pressed) == ["+86" + n for n in numbers(2)]
        answered = await asyncio.wait_for(agent, 15)  # both agents' legs ended by our BYEs …
        assert not callers.done()  # … while the callers are still on, now with 120 and 110
        listening = [asyncio.create_task(ear.listen(6.0)) for ear in ears.values()]
        done = await callers
        await asyncio.gather(*listening)
        ended = {key: await task for key, task in answering.items()}
        assert pool.kamailio.alive
    assert answered_by_worker(worker_log) == {0: 1, 1: 1}  # one call on each worker
    assert restarts(worker_log) == []
    assert answered.successful == 2, answered.output
    assert (done.successful, done.failed) == (2, 0), done.output
    for key, result in ended.items():
        assert result.successful == 1, (key, result.output)  # answered, then the caller's BYE
    print({key: (ear.packets, ear.loud) for key, ear in ears.items()})
    assert all(ear.loud >= 50 for ear in ears.values())  # each caller's speech reached its line
