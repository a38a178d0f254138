"""Outbound calls from the line: answers read to a landline and 回访 keypad menus (issue 14.3/14.4).

The script (``OutScript``) is tested on its own; then real workers place calls
to SIPp acting as the citizen's phone: ``sipp -sn uas`` answers and listens, a
scenario answers and presses 3, one rings until the line gives up, one is
busy (486). Without SIPp these skip on a laptop and fail on CI.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import pytest

from channels.sip.menu import Answered, Digit, HangUp, Hangup, Play, PromptDone, StartTimer, Timeout
from channels.sip.outbound import SipCallDeliverer, dial_uri
from channels.sip.outcall_script import RATING, OutScript, Result, message_items, outcome_for_status
from contract.envelope import Channel
from contract.notice import RATING_REQUEST, Heard, Notice, SendError
from tests.channels.sip import sipp
from tests.channels.sip.sipp import PCAPS
from tests.channels.sip.test_line import played, spoken_number

CASE = "FZ12345-20261202-000017"
LANDLINE = "+8659187654321"
MESSAGE = message_items(CASE, "/tmp/answer.wav")


# The script ---------------------------------------------------------------------------------

def _token(actions: list[Any]) -> int:
    return int(actions[-1].token)


def test_an_answer_plays_intro_number_and_text_then_offers_a_replay_and_counts_as_heard() -> None:
    assert MESSAGE[0] == "outcall_intro" and MESSAGE[-1] == "/tmp/answer.wav"
    assert " ".join(MESSAGE[1:-2]) == spoken_number(CASE)
    script = OutScript(MESSAGE, key_timeout_s=3)
    [play] = script.handle(Answered())
    assert isinstance(play, Play) and play.items == MESSAGE
    [again] = script.handle(PromptDone(play.token))
    assert isinstance(again, Play) and again.items == ("outcall_repeat",)
    [timer] = script.handle(PromptDone(again.token))
    assert isinstance(timer, StartTimer) and timer.seconds == 3
    [replay] = script.handle(Digit("1"))  # "press 1 to hear it again"
    assert isinstance(replay, Play) and replay.items == MESSAGE
    assert script.handle(Hangup()) == [] and script.result is Result.HEARD


def test_hanging_up_early_is_unheard_most_of_it_is_heard_and_silence_ends_politely() -> None:
    early = OutScript(MESSAGE)
    early.handle(Answered())
    early.handle(Hangup(), heard_share=0.3)
    assert early.result is Result.UNHEARD
    most = OutScript(MESSAGE)
    most.handle(Answered())
    most.handle(Hangup(), heard_share=0.9)
    assert most.result is Result.HEARD
    quiet = OutScript(MESSAGE)
    token = _token(quiet.handle(Answered()))
    token = _token(quiet.handle(PromptDone(token)))
    quiet.handle(PromptDone(token))
    assert quiet.handle(Timeout(token - 1)) == []  # a stale timer changes nothing
    [bye] = quiet.handle(Timeout(token))
    assert isinstance(bye, Play) and bye.items == ("goodbye",)
    assert quiet.handle(PromptDone(bye.token)) == [HangUp()] and quiet.result is Result.HEARD


def test_a_rating_call_takes_1_to_3_asks_once_more_then_gives_up_without_a_key() -> None:
    rater = OutScript(MESSAGE, ask=RATING)
    rater.handle(Answered())
    assert rater.handle(Digit("7")) == []
    [thanks] = rater.handle(Digit("3"))  # pressed while the menu is read: taken
    assert isinstance(thanks, Play) and thanks.items == ("rating_thanks",)
    assert rater.handle(PromptDone(thanks.token)) == [HangUp()]
    assert (rater.result, rater.key) == (Result.HEARD, "3")

    silent = OutScript(MESSAGE, ask=RATING, replays=1)
    token = _token(silent.handle(Answered()))
    [timer] = silent.handle(PromptDone(token))
    assert isinstance(timer, StartTimer)
    token = _token(silent.handle(Timeout(timer.token)))  # asked once more
    [timer] = silent.handle(PromptDone(token))
    [bye] = silent.handle(Timeout(timer.token))
    assert isinstance(bye, Play) and bye.items == ("goodbye",)
    assert (silent.result, silent.key) == (Result.NO_KEY, "")
    hung_up = OutScript(MESSAGE, ask=RATING)
    hung_up.handle(Answered())
    hung_up.handle(Hangup(), heard_share=1.0)
    assert hung_up.result is Result.NO_KEY


def test_sip_statuses_before_an_answer_and_the_dialled_uri() -> None:
    assert outcome_for_status(486) is Result.BUSY
    assert outcome_for_status(487) is Result.NO_ANSWER and outcome_for_status(408) is Result.NO_ANSWER
    assert outcome_for_status(404) is Result.FAILED
    assert dial_uri("sip:{national}@10.0.0.1", LANDLINE) == "sip:059187654321@10.0.0.1"
    assert dial_uri("sip:{e164}@trunk", "0591-87654321") == "sip:+8659187654321@trunk"
    with pytest.raises(SendError) as bad:
        dial_uri("sip:{national}@trunk", "12")
    assert not bad.value.retryable


# Real calls to SIPp ---------------------------------------------------------------------------

_RESPONSE = """  <send{retrans}><![CDATA[
SIP/2.0 {status}
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
{cseq}
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
{body}]]></send>
"""
def _reply(status: str, *, sdp: bool = False, cseq: str = "[last_CSeq:]") -> str:
    return _RESPONSE.format(status=status, cseq=cseq, retrans=' retrans="500"' if sdp else "",
                            body=sipp.answer_sdp(EVENT_PT) if sdp else "Content-Length: 0\n")


EVENT_PT = 121
"""pjsua offers telephone-event/8000 as payload type 121 (120 is its 16 kHz one)."""


def dtmf_pcap(digit: str, workdir: Path) -> Path:
    """SIPp's RFC 2833 pcap of ``digit`` with its payload type (101) made ``EVENT_PT``.

    An answerer must send events with the offerer's payload type, and pjsua, the
    offerer here, ignores 101 (the inbound tests work because SIPp offers 101).
    """
    data = bytearray((PCAPS / f"dtmf_2833_{digit}.pcap").read_bytes())
    offset = 24  # the pcap file header; then per packet a 16-byte record header
    while offset + 16 <= len(data):
        length = int.from_bytes(data[offset + 8:offset + 12], "little")
        rtp = offset + 16 + 14 + 20 + 8  # Ethernet, IPv4 (no options), UDP
        data[rtp + 1] = (data[rtp + 1] & 0x80) | EVENT_PT
        data[rtp - 2:rtp] = b"\0\0"  # UDP checksum: none
        offset += 16 + length
    workdir.mkdir(parents=True, exist_ok=True)
    target = workdir / f"dtmf_{digit}.pcap"
    target.write_bytes(bytes(data))
    return target


def phone(kind: str, workdir: Path) -> str:
    """A citizen's phone: ``key3`` answers and presses 3, ``ring`` never answers, ``busy``."""
    # SIPp refuses a scenario with a variable it never uses: only ``ring`` keeps the CSeq.
    keep = ('\n    <action><ereg regexp="[0-9]+" search_in="hdr" header="CSeq:" assign_to="cs"/>'
            '</action>\n  ' if kind == "ring" else "")
    head = ('<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="citizen">\n'
            f'  <recv request="INVITE" crlf="true">{keep}</recv>\n')
    if kind == "busy":
        body = _reply("486 Busy Here") + '  <recv request="ACK"/>\n'
    elif kind == "ring":
        body = (_reply("180 Ringing") + '  <recv request="CANCEL" timeout="60000"/>\n'
                + _reply("200 OK") + _reply("487 Request Terminated", cseq="CSeq: [$cs] INVITE")
                + '  <recv request="ACK"/>\n')
    else:
        body = (_reply("180 Ringing") + _reply("200 OK", sdp=True)
                + '  <recv request="ACK" crlf="true"/>\n  <pause milliseconds="1500"/>\n'
                f'  <nop><action><exec play_pcap_audio="{dtmf_pcap("3", workdir)}"/></action></nop>\n'
                + sipp.AWAIT_BYE.format(timeout=60_000))
    return head + body + "</scenario>\n"


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _call(start_line: Any, tmp_path: Path, scenario: str | None, *, kind: str = "answer",
                **settings: Any) -> tuple[str | Heard | SendError, sipp.Result]:
    """One notice delivered by the line to a SIPp phone; what ``deliver`` gave and SIPp's tally."""
    port = _free_udp_port()
    citizen = asyncio.create_task(sipp.run(
        "", scenario, tmp_path / "citizen", builtin=None if scenario else "uas", timeout_s=60,
        extra=("-p", str(port))))
    await asyncio.sleep(0.5)  # SIPp is listening
    notice = Notice(notice_id=7, channel=Channel.PHONE, address=LANDLINE,
                    text="您的诉求已办结。答复：路灯已修复。", case_number=CASE, kind=kind)
    outcome: str | Heard | SendError
    async with start_line(outbound_uri=f"sip:{{national}}@127.0.0.1:{port}", **settings) as started:
        [deliverer] = started.deliverers
        assert isinstance(deliverer, SipCallDeliverer)
        try:
            outcome = await deliverer.deliver(notice)
        except SendError as exc:
            outcome = exc
    return outcome, await citizen


async def test_an_answer_is_read_to_a_landline_that_picks_up(
        start_line: Any, worker_log: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    outcome, phone_side = await _call(start_line, tmp_path, None)
    assert outcome == Heard("sip-call:7:200"), outcome
    assert phone_side.successful == 1, phone_side.output  # answered, got our BYE
    [message, *rest] = played(worker_log)
    assert message.startswith("outcall_intro " + spoken_number(CASE))
    assert rest[:1] == ["outcall_repeat"] and rest[-1] == "goodbye"


async def test_a_rating_call_takes_the_key_3_the_citizen_presses(
        start_line: Any, worker_log: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    outcome, phone_side = await _call(start_line, tmp_path, phone("key3", tmp_path), kind=RATING_REQUEST)
    assert isinstance(outcome, Heard) and outcome.key == "3", outcome
    assert phone_side.successful == 1, phone_side.output
    assert played(worker_log)[-1] == "rating_thanks"


async def test_a_phone_nobody_answers_is_given_up_after_ring_s_to_be_tried_again(
        start_line: Any, tmp_path: Path) -> None:
    outcome, phone_side = await _call(start_line, tmp_path, phone("ring", tmp_path), outbound_ring_s=5)
    assert isinstance(outcome, SendError) and outcome.retryable, outcome
    assert outcome.code == Result.NO_ANSWER and "487" in str(outcome)
    assert phone_side.successful == 1, phone_side.output  # it saw our CANCEL


async def test_a_busy_line_is_tried_again_later(start_line: Any, tmp_path: Path) -> None:
    outcome, phone_side = await _call(start_line, tmp_path, phone("busy", tmp_path))
    assert isinstance(outcome, SendError) and outcome.retryable, outcome
    assert outcome.code == Result.BUSY and "486" in str(outcome)
    assert phone_side.successful == 1, phone_side.output
