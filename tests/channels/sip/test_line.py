"""The line end to end: SIPp calls real worker processes; the case, its audio and what was played.

What the caller heard is read from the worker's own log ("call K plays …"),
which the supervisor forwards into the service's log; the recording is the
attachment of the envelope the sink received.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from channels.sip import audio
from channels.sip.spool import VOICEMAIL_NOTE, WITHHELD_NOTE
from contract.envelope import Channel
from tests.channels.sip import sipp
from tests.channels.sip.conftest import Service
from tests.channels.sip.sipp import AwaitBye, HangUpAfter, Key, Pause, Speak

DIGITS = "零一二三四五六七八九"


def played(log: pytest.LogCaptureFixture) -> list[str]:
    """Every prompt list the workers played, in order."""
    return [m.group(1) for r in log.records if (m := re.search(r"plays (.*)$", r.getMessage()))]


def spoken_number(case_number: str) -> str:
    digits = "".join(c for c in case_number if c.isdigit())[-14:]
    return " ".join(f"digit_{d}" for d in digits[:8]) + " pause " + " ".join(
        f"digit_{d}" for d in digits[8:])


async def test_key_1_records_until_pound_registers_a_voicemail_and_reads_its_number_back(
        start_line: Any, service: Service, worker_log: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    async with start_line() as started:
        xml = sipp.scenario([Pause(300), Key("1"), Key("#"), Speak(), Key("#"), AwaitBye(30_000)])
        result = await sipp.run(f"127.0.0.1:{started.ports['sip']}", xml, tmp_path / "sipp")
    assert (result.successful, result.failed) == (1, 0), result.output
    [envelope] = service.envelopes
    assert envelope.channel is Channel.PHONE and envelope.external_id.startswith("sip:")
    assert (envelope.sender, envelope.reply_address) == ("+8613805912345", "+8613805912345")
    assert envelope.display_name == "Zhang San" and VOICEMAIL_NOTE in envelope.notes
    [wav] = envelope.attachments
    assert wav.content_type == "audio/wav"
    info = audio.info(wav.data)
    # SIPp's speech lasts 7.05 s; the recording runs from the intro's "#" to the closing "#".
    assert info.rate == 16000 and sipp.SPEECH_S <= info.seconds <= sipp.SPEECH_S + 1.5
    assert audio.peak(wav.data) > 3000  # speech, not silence
    assert f"registered {spoken_number('FZ12345-20261202-000001')} reply_by_sms goodbye" in played(
        worker_log)
    assert not any((tmp_path / "data" / "sip" / "spool").iterdir())  # the spool let go of it


async def test_key_2_reads_the_status_of_a_case_to_the_number_that_filed_it(
        start_line: Any, service: Service, worker_log: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    keys = [Key(d) for d in "20261201030405"]  # 14 digits end the entry by themselves
    async with start_line() as started:
        # "*" restarts the entry: it keeps the menu's "2" and the year's "2" two presses.
        xml = sipp.scenario([Pause(300), Key("2"), Key("*"), *keys, AwaitBye(30_000)])
        result = await sipp.run(f"127.0.0.1:{started.ports['sip']}", xml, tmp_path / "sipp")
    assert (result.successful, result.failed) == (1, 0), result.output
    assert service.queries == [("FZ12345-20261201-030405", "+8613805912345")]
    assert "say:【12345】您的诉求FZ12345-20261201-030405：办理中。 goodbye" in played(worker_log)
    assert service.envelopes == []


async def test_key_2_with_a_short_number_and_pound_pads_the_sequence(
        start_line: Any, service: Service, tmp_path: Path) -> None:
    keys = [Key(d) for d in "202612017#"]
    async with start_line() as started:
        xml = sipp.scenario([Pause(300), Key("2"), Key("*"), *keys, HangUpAfter(1500)])
        await sipp.run(f"127.0.0.1:{started.ports['sip']}", xml, tmp_path / "sipp")
        await service.wait_for(lambda: bool(service.queries), timeout_s=10)
    assert service.queries == [("FZ12345-20261201-000007", "+8613805912345")]


async def test_withheld_number_gets_a_case_without_reply_address_and_is_told_to_call_back(
        start_line: Any, service: Service, worker_log: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    async with start_line() as started:
        xml = sipp.scenario([Pause(300), Key("1"), Key("#"), Speak(), Key("#"), HangUpAfter(1500)],
                            user="anonymous", display='"Anonymous"')
        await sipp.run(f"127.0.0.1:{started.ports['sip']}", xml, tmp_path / "sipp")
        await service.wait_for(lambda: bool(service.envelopes), timeout_s=10)
    [envelope] = service.envelopes
    assert (envelope.sender, envelope.reply_address, envelope.display_name) == (None, None, None)
    assert WITHHELD_NOTE in envelope.notes and "再次来电" in envelope.text
    [readback] = [p for p in played(worker_log) if p.startswith("registered")]
    assert readback.endswith("anonymous_call_back goodbye")
