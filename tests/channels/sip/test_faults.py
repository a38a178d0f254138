"""Faults on the line: the store down, a worker killed mid-message, hostile SIP, calls with no audio."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
from pathlib import Path
from typing import Any

import pytest

from channels.sip import audio
from tests.channels.sip import sipp
from tests.channels.sip.conftest import Service
from tests.channels.sip.sipp import HangUpAfter, Key, Pause, Speak
from tests.channels.sip.test_line import played

MESSAGE = [Pause(300), Key("1"), Key("#"), Speak(), Key("#"), HangUpAfter(2000)]


def _pid(started: Any) -> int:
    return int(re.search(r"pid (\d+)", started.listening[1]).group(1))  # type: ignore[union-attr]


async def _until(condition: Any, timeout_s: float = 20) -> None:
    """Poll a condition on files or logs other processes write (nothing to await), at most ``timeout_s``."""
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110 (written by the worker process: no event here)
            await asyncio.sleep(0.05)


async def test_store_down_keeps_the_message_tells_the_caller_and_registers_it_when_back(
        start_line: Any, service: Service, worker_log: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    service.down = True
    async with start_line() as started:
        await sipp.run(f"127.0.0.1:{started.ports['sip']}", sipp.scenario(MESSAGE), tmp_path / "sipp")
        assert service.envelopes == []
        assert "message_kept goodbye" in played(worker_log)
        spool = tmp_path / "data" / "sip" / "spool"
        assert len(list(spool.glob("*.wav"))) == 1 and len(list(spool.glob("*.json"))) == 1
        service.down = False  # the sweep (every 0.5 s here) offers it again
        await service.wait_for(lambda: len(service.envelopes) == 1, timeout_s=10)
    [wav] = service.envelopes[0].attachments
    assert audio.info(wav.data).seconds >= sipp.SPEECH_S and audio.peak(wav.data) > 3000
    assert not any(spool.iterdir())


async def test_kill_9_of_a_worker_mid_message_registers_what_was_said_and_restarts_it(
        start_line: Any, service: Service, worker_log: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    async with start_line() as started:
        pid = _pid(started)
        spool = tmp_path / "data" / "sip" / "spool"
        caller = asyncio.create_task(sipp.run(
            f"127.0.0.1:{started.ports['sip']}", sipp.scenario(MESSAGE), tmp_path / "sipp", timeout_s=20))
        await _until(lambda: any(spool.glob("*.json")))
        await asyncio.sleep(3)  # three seconds of speech on disk
        os.kill(pid, signal.SIGKILL)
        await service.wait_for(lambda: len(service.envelopes) == 1, timeout_s=20)
        restarted = [r.getMessage() for r in worker_log.records if "sip worker 0 (pid" in r.getMessage()]
        await _until(lambda: len([r for r in worker_log.records
                                  if "sip worker 0 (pid" in r.getMessage()]) == 2)
        await caller
    [wav] = service.envelopes[0].attachments
    seconds = audio.info(wav.data).seconds
    assert 2.0 <= seconds <= 4.5 and audio.peak(wav.data) > 3000  # the header repaired, audio kept
    assert restarted and str(pid) in restarted[0]


async def test_a_call_with_no_audio_goes_to_voicemail_and_leaves_no_case(
        start_line: Any, service: Service, worker_log: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    async with start_line(silence_s=1.0, choice_timeout_s=0.5) as started:
        xml = sipp.scenario([sipp.AwaitBye(40_000)])
        result = await sipp.run(f"127.0.0.1:{started.ports['sip']}", xml, tmp_path / "sipp")
    assert (result.successful, result.failed) == (1, 0), result.output
    assert service.envelopes == []
    assert played(worker_log)[-1] == "no_message goodbye"


def _invite(port: int, *, sdp: str, extra: str = "", call_id: str = "hostile") -> bytes:
    return (f"INVITE sip:12345@127.0.0.1:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{{local}};branch=z9hG4bK-{call_id}\r\n"
            f"From: <sip:13805912345@127.0.0.1>;tag=h1\r\nTo: <sip:12345@127.0.0.1>\r\n"
            f"Call-ID: {call_id}@127.0.0.1\r\nCSeq: 1 INVITE\r\nContact: <sip:13805912345@127.0.0.1>\r\n"
            f"Max-Forwards: 70\r\n{extra}Content-Type: application/sdp\r\n"
            f"Content-Length: {len(sdp)}\r\n\r\n{sdp}").encode()


def _exchange(port: int, datagram: bytes, wait_s: float = 1.0) -> list[bytes]:
    """Send one datagram from a fresh port; every answer within ``wait_s``."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        local = sock.getsockname()[1]
        sock.sendto(datagram.replace(b"{local}", str(local).encode()), ("127.0.0.1", port))
        sock.settimeout(wait_s)
        answers = []
        try:
            while True:
                answers.append(sock.recv(65_535))
        except TimeoutError:
            return answers


PCMA_ONLY_G729 = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                  "m=audio 4000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n")
HOSTILE = {
    "missing headers": b"INVITE sip:12345@127.0.0.1 SIP/2.0\r\nContent-Length: 0\r\n\r\n",
    "bad content-length": _invite(0, sdp="v=0\r\n").replace(b"Content-Length: 5", b"Content-Length: 99999"),
    "nul bytes": _invite(0, sdp="v=0\r\n\x00\x00\x00", call_id="nul\x00id"),
    "60 kB header": _invite(0, sdp="", extra="X-Big: " + "A" * 60_000 + "\r\n"),
    "unknown method": b"FROBNICATE sip:12345@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{local};"
                      b"branch=z9hG4bK-f\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:12345@127.0.0.1>\r\n"
                      b"Call-ID: frob@x\r\nCSeq: 1 FROBNICATE\r\nMax-Forwards: 70\r\n"
                      b"Content-Length: 0\r\n\r\n",
    "broken sdp": _invite(0, sdp="v=0\r\nm=audio banana RTP/AVP\r\nc=IN IP9 ?\r\n", call_id="brokensdp"),
    "stray response": b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK-stray\r\n"
                      b"From: <sip:a@b>;tag=1\r\nTo: <sip:12345@127.0.0.1>;tag=2\r\nCall-ID: stray@x\r\n"
                      b"CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
    "garbage": os.urandom(512),
}


async def test_hostile_sip_is_refused_or_dropped_and_creates_no_call_or_case(
        start_line: Any, service: Service, worker_log: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    async with start_line() as started:
        port, pid = started.ports["sip"], _pid(started)
        for label, datagram in HOSTILE.items():
            datagram = datagram.replace(b":0 SIP", f":{port} SIP".encode())
            answers = await asyncio.to_thread(_exchange, port, datagram)
            finals = [a.split(b" ", 2)[1] for a in answers if a.startswith(b"SIP/2.0 ")]
            assert all(code >= b"400" for code in finals if code != b"100"), (label, answers)
        # SDP without a codec we speak: 488, no call in the menu.
        g729 = _invite(port, sdp=PCMA_ONLY_G729, call_id="g729")
        answers = await asyncio.to_thread(_exchange, port, g729)
        assert any(a.startswith(b"SIP/2.0 488") for a in answers), answers
        # The same worker still answers a real caller.
        result = await sipp.run(f"127.0.0.1:{port}", sipp.scenario(MESSAGE), tmp_path / "sipp")
        assert result.successful == 1, result.output
        assert _pid(started) == pid
    assert len(service.envelopes) == 1
    assert [p for p in played(worker_log) if p.startswith("welcome")] == ["welcome menu"]
