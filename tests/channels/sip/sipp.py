"""SIPp as the caller (and as an agent's phone): scenarios written from steps, runs bounded in time.

A scenario is the INVITE with a PCMA/telephone-event offer, then ``steps``:
``Key("1")`` plays the RFC 2833 pcap of a key (SIPp's pcaps carry one
fixed RTP timestamp per digit, so pjmedia hears the same key twice in a row as
one press: scenarios never repeat a key back to back), ``Speak()`` plays SIPp's
g711a speech pcap (``SPEECH_S`` long), ``Pause(ms)``, and the end: we hang up
(``HangUpAfter(ms)``) or the line does (``AwaitBye(ms)``). Every run has
``-m`` calls and a timeout, binds free ports (``-p 0``, ``-mp 0``) on
127.0.0.1 only, and reports what SIPp counted.

On CI (``CI=true``) a missing ``sipp`` fails the test; elsewhere it skips with the reason.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

PCAPS = Path("/usr/share/sip-tester")
SPEECH_S = 7.05
"""Length of SIPp's g711a.pcap (speech): what a recording of it must hold."""


def missing(reason: str) -> NoReturn:
    """A real peer is not installed: fail on CI (``CI=true``), skip with ``reason`` elsewhere."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def sipp_binary() -> str:
    """The sipp binary, or fail (CI) / skip (laptop) saying how to get it."""
    found = shutil.which("sipp")
    if found and (PCAPS / "g711a.pcap").exists():
        return found
    missing("SIPp is missing: apt-get install sip-tester")


@dataclass(frozen=True)
class Key:
    digit: str


@dataclass(frozen=True)
class Speak:
    pass


@dataclass(frozen=True)
class Pause:
    ms: int


@dataclass(frozen=True)
class HangUpAfter:
    ms: int


@dataclass(frozen=True)
class AwaitBye:
    timeout_ms: int


@dataclass(frozen=True)
class AnswerRefer:
    """Take the line's REFER (``Refer-To`` must match ``expect``), accept it with 202 and report
    the agent's answer ``status`` in a final NOTIFY, as a trunk that performs the transfer does."""

    expect: str
    status: int = 200
    timeout_ms: int = 15_000


Step = Key | Speak | Pause | HangUpAfter | AwaitBye | AnswerRefer

_PCAP_NAME = {"#": "pound", "*": "star"}
_HEAD = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="hotline caller">
  <send retrans="500"><![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: {from_} <sip:{user}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: sip:{user}@[local_ip]:[local_port]
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP {payloads} 101
{rtpmap}a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
{busy_recv}  <recv response="200" rtd="true" rrs="true"/>
  <send><![CDATA[
ACK [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
[routes]
From: {from_} <sip:{user}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Contact: sip:{user}@[local_ip]:[local_port]
Max-Forwards: 70
Content-Length: 0
]]></send>
"""

_BYE = """  <send retrans="500"><![CDATA[
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
[routes]
From: {from_} <sip:{user}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: {bye_cseq} BYE
Contact: sip:{user}@[local_ip]:[local_port]
Max-Forwards: 70
Content-Length: 0
]]></send>
  <recv response="200" crlf="true"/>
"""

AWAIT_BYE = """  <recv request="BYE" timeout="{timeout}"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
]]></send>
"""


def answer_sdp(event_pt: int | None = None) -> str:
    """The SDP a SIPp phone answers with: PCMA, and telephone-events on ``event_pt`` (the
    offerer's payload type) when it will send keys."""
    events = (f" {event_pt}", f"a=rtpmap:{event_pt} telephone-event/8000\n"
              f"a=fmtp:{event_pt} 0-15\n") if event_pt else ("", "")
    return ("Content-Type: application/sdp\nContent-Length: [len]\n\nv=0\n"
            "o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]\ns=-\n"
            "c=IN IP[media_ip_type] [media_ip]\nt=0 0\n"
            f"m=audio [media_port] RTP/AVP 8{events[0]}\na=rtpmap:8 PCMA/8000\n{events[1]}")


# A busy line (486, from a full worker or from Kamailio once every worker refused; 503 with
# Retry-After from a worker's set-up gate or Kamailio's INVITE rate cap): the caller
# acknowledges it and the call ends as a success; ``Result.busy`` and ``.refused`` count them.
_BUSY_RECV = ('  <recv response="486" optional="true" next="busy"/>\n'
              '  <recv response="503" optional="true" next="busy"/>\n')
_BUSY_END = """  <nop next="end"/>
  <label id="busy"/>
  <send><![CDATA[
ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
[last_Via:]
From: {from_} <sip:{user}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0
]]></send>
  <label id="end"/>
"""


_REFER = """  <recv request="REFER" timeout="{timeout}">
    <action>
      <ereg regexp="{expect}" search_in="hdr" header="Refer-To:" check_it="true" assign_to="to{n}"/>
      <ereg regexp="[0-9]+" search_in="hdr" header="CSeq:" assign_to="cseq{n}"/>
    </action>
  </recv>
  <send><![CDATA[
SIP/2.0 202 Accepted
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Contact: sip:{user}@[local_ip]:[local_port]
Content-Length: 0
]]></send>
  <send retrans="500"><![CDATA[
NOTIFY [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
[routes]
From: {from_} <sip:{user}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: {cseq} NOTIFY
Contact: sip:{user}@[local_ip]:[local_port]
Event: refer;id=[$cseq{n}]
Subscription-State: terminated;reason=noresource
X-Refer-To: [$to{n}]
Max-Forwards: 70
Content-Type: message/sipfrag;version=2.0
Content-Length: [len]

SIP/2.0 {status} {reason}
]]></send>
  <recv response="200"/>
"""


def scenario(steps: list[Step], *, user: str = "13805912345", display: str = '"Zhang San"',
             payloads: str = "8", busy_ok: bool = False) -> str:
    """The XML of a caller that dials, then follows ``steps``; it must end with a hang-up step.

    ``user`` may be ``[field0]``: each call's number from ``run(numbers=…)``.
    ``busy_ok``: a 486 answer is acknowledged and counts as a success (capacity tests).
    """
    rtpmap = "".join(f"a=rtpmap:{p} {dict(zip('08', ('PCMU', 'PCMA'), strict=True)).get(p, 'X')}/8000\n"
                     for p in payloads.split() if p in "08")
    fields = {"from_": display, "user": user, "payloads": payloads, "rtpmap": rtpmap,
              "busy_recv": _BUSY_RECV if busy_ok else ""}
    body = [_HEAD.format(**fields)]
    refers = 0
    for index, step in enumerate(steps):
        if isinstance(step, Key):
            name = _PCAP_NAME.get(step.digit, step.digit)
            body.append(f'  <nop><action><exec play_pcap_audio="{PCAPS}/dtmf_2833_{name}.pcap"/>'
                        "</action></nop>\n")
            # SIPp cannot take a request while pausing: a REFER may follow the key at once.
            following = steps[index + 1] if index + 1 < len(steps) else None
            if not isinstance(following, AnswerRefer):
                body.append('  <pause milliseconds="250"/>\n')
        elif isinstance(step, Speak):
            body.append(f'  <nop><action><exec play_pcap_audio="{PCAPS}/g711a.pcap"/></action></nop>\n'
                        f'  <pause milliseconds="{int(SPEECH_S * 1000) + 200}"/>\n')
        elif isinstance(step, Pause):
            body.append(f'  <pause milliseconds="{step.ms}"/>\n')
        elif isinstance(step, HangUpAfter):
            # After our NOTIFYs (CSeq 11, 12 …) the BYE must count on from them.
            body.append(f'  <pause milliseconds="{step.ms}"/>\n'
                        + _BYE.format(**fields, bye_cseq=11 + refers if refers else 2))
        elif isinstance(step, AwaitBye):
            body.append(AWAIT_BYE.format(timeout=step.timeout_ms))
        elif isinstance(step, AnswerRefer):
            refers += 1
            body.append(_REFER.format(**fields, timeout=step.timeout_ms, expect=step.expect, n=refers,
                                      cseq=10 + refers, status=step.status,
                                      reason="OK" if step.status < 300 else "Busy Here"))
    if busy_ok:
        body.append(_BUSY_END.format(**fields))
    body.append("</scenario>\n")
    return "".join(body)


@dataclass(frozen=True)
class Result:
    returncode: int
    successful: int
    failed: int
    output: str
    busy: int = 0
    """Calls answered 486 (``scenario(busy_ok=True)``): included in ``successful``."""
    refused: int = 0
    """Calls answered 503 (a set-up rate limit; ``busy_ok=True``): included in ``successful``."""


async def run(target: str, xml: str | None, workdir: Path, *, calls: int = 1, rate: float = 10,
              limit: int | None = None, timeout_s: float = 90, extra: tuple[str, ...] = (),
              builtin: str | None = None, local_ip: str = "127.0.0.1",
              numbers: list[str] | None = None) -> Result:
    """Run SIPp against ``target`` (``127.0.0.1:PORT``) and wait for it, at most ``timeout_s``.

    ``local_ip``: the caller's address (another loopback address is another source for
    pike). ``numbers``: one caller number per call, as ``[field0]`` in the scenario.
    """
    binary = sipp_binary()
    args = [binary, "-i", local_ip, "-mi", local_ip, "-mp", "0",
            "-m", str(calls), "-r", str(rate), "-l", str(limit or calls), "-s", "12345",
            "-timeout", f"{int(timeout_s)}s", "-timeout_error", "-nostdin",
            "-trace_err", "-error_file", str(workdir / "errors.log"), "-trace_stat",
            "-stf", str(workdir / "stats.csv"), "-trace_counts",
            *(extra if "-p" in extra else ("-p", "0", *extra))]
    scenario_file = _write(workdir, xml)
    args += ["-sn", builtin] if builtin else ["-sf", scenario_file]
    if numbers:
        (workdir / "numbers.csv").write_text("SEQUENTIAL\n" + "".join(f"{n};\n" for n in numbers))
        args += ["-inf", str(workdir / "numbers.csv")]
    if target:
        args.append(target)
    process = await asyncio.create_subprocess_exec(
        *args, cwd=workdir, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        async with asyncio.timeout(timeout_s + 15):
            out, _ = await process.communicate()
    except TimeoutError:
        process.kill()
        out, _ = await process.communicate()
    text = out.decode("utf-8", "replace")
    stats = _read(workdir / "stats.csv")
    return Result(process.returncode or 0, _count(stats, "SuccessfulCall(C)"),
                  _count(stats, "FailedCall(C)"), text + stats[-2000:], busy=_busy(workdir),
                  refused=_busy(workdir, 503))


def _write(workdir: Path, xml: str | None) -> str:
    workdir.mkdir(parents=True, exist_ok=True)
    if xml is None:
        return ""
    # The XML says ISO-8859-1: each character is one byte on the wire (odd bytes included).
    (workdir / "scenario.xml").write_bytes(xml.encode("latin-1"))
    return str(workdir / "scenario.xml")


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def _count(stats: str, column: str) -> int:
    """A cumulative counter from the last row of SIPp's ``-trace_stat`` CSV."""
    rows = [row.split(";") for row in stats.strip().splitlines()]
    if len(rows) < 2 or column not in rows[0]:
        return 0
    value = rows[-1][rows[0].index(column)]
    return int(value) if re.fullmatch(r"\d+", value) else 0


def _busy(workdir: Path, code: int = 486) -> int:
    """``code`` (486) responses received, from SIPp's ``-trace_counts`` CSV (one column per scenario step)."""
    total = 0
    for counts in workdir.glob("*_counts.csv"):
        rows = [row.split(";") for row in counts.read_text().strip().splitlines()]
        if len(rows) < 2:
            continue
        for index, name in enumerate(rows[0]):
            if name.endswith(f"_{code}_Recv") and index < len(rows[-1]) and rows[-1][index].isdigit():
                total += int(rows[-1][index])
    return total


_UAS_HEADERS = """[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>"""


def answering_line(media_port: int) -> str:
    """A phone (the 120 line) that rings, answers with its audio sent to ``media_port`` on
    127.0.0.1 (a socket the test reads: what the caller says must arrive there), then
    waits for the BYE. SIPp's own ``uas`` has no way to show what media it got."""
    return f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="answering line">
  <recv request="INVITE" crlf="true"/>
  <send><![CDATA[
SIP/2.0 180 Ringing
{_UAS_HEADERS}
Content-Length: 0
]]></send>
  <send retrans="500"><![CDATA[
SIP/2.0 200 OK
{_UAS_HEADERS}
Content-Type: application/sdp
Content-Length: [len]

v=0
o=line 1 1 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio {media_port} RTP/AVP 8
a=rtpmap:8 PCMA/8000
]]></send>
  <recv request="ACK" crlf="true"/>
{AWAIT_BYE.format(timeout=120_000)}</scenario>
"""


def refusing_line(status: int = 486) -> str:
    """A phone that answers every INVITE with ``status`` (486: the 120 line busy)."""
    return f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="refusing line">
  <recv request="INVITE" crlf="true"/>
  <send><![CDATA[
SIP/2.0 {status} Busy Here
{_UAS_HEADERS}
Content-Length: 0
]]></send>
  <recv request="ACK"/>
</scenario>
"""
