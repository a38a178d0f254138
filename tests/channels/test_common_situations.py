"""One table of situations every inbound channel meets, run through each registered channel.

Each channel is started the way the service starts it (its ``SPEC`` from the
registry, with ``ChannelPorts``), with a recording sink in place of the
registrar, and each situation is delivered the channel's own way (a browser
post, a fax gateway's SMTP session, a text in the modem, Twilio's signed
webhook). The outcome must be the same everywhere: acknowledged only what the
sink took, redeliveries carry the same external id, ``TryLater`` leaves the
item with its sender, oversized or badly encoded input is refused and reaches
nobody. A channel that cannot meet a situation (a modem cannot deliver a
100 MB text) says so in ``NOT_APPLICABLE`` with the reason.
"""

from __future__ import annotations

import asyncio
import logging
import re
import smtplib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import aiohttp
import aiohttp_jinja2
import jinja2
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from channels import CHANNELS
from channels.fax_smtp.settings import FaxSettings
from channels.open311.settings import Open311Settings
from channels.sip.settings import SipSettings
from channels.sip.spool import key_for
from channels.sms_gammu import write_incoming_sms
from channels.sms_gammu.settings import GammuSettings
from channels.sms_twilio.settings import TwilioSettings
from channels.twilio_voice.webhook import SIGN_PURPOSE as VOICE_SIGN
from channels.web.settings import WebFormSettings
from contract.channel import WEB, ChannelPorts, ChannelSpec
from contract.clock import FixedClock
from contract.envelope import Envelope, Receipt, TryLater
from contract.public_cases import Admission
from contract.signing import CitizenCsrf, Signer
from contract.sms_keywords import QUERY_HELP_TEXT, RatingTaken
from tests.channels.sip import sipp
from tests.channels.sms_twilio.conftest import ACCOUNT_SID, AUTH_TOKEN, OUR_NUMBER, PUBLIC, sign
from tests.channels.twilio_voice import conftest as voice

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 2, 10, 0, tzinfo=TZ)
FAX_MAIL = (Path(__file__).parent / "fax_smtp" / "fixtures" / "hylafax_faxrcvd_two_pages_tiff.eml")
TEXT = "仓山区金山大道有一处井盖缺失，夜间很危险"
SPECS = {spec.name: spec for spec in CHANNELS}


@dataclass
class Recorder:
    """The sink (and SMS commands): records envelopes; ``down`` makes it raise ``TryLater``."""

    envelopes: list[Envelope] = field(default_factory=list)
    down: bool = False

    async def __call__(self, envelope: Envelope) -> Receipt:
        if self.down:
            raise TryLater("store down")
        self.envelopes.append(envelope)
        return Receipt(f"FZ12345-20261202-{len(self.envelopes):06d}", created=True)

    async def case_status(self, case_number: str, sender_e164: str, *, channel: str,
                          in_reply: bool) -> str | None:
        return "办理中"

    async def query_help(self, sender_e164: str, *, channel: str,
                         in_reply: bool) -> str | None:
        return QUERY_HELP_TEXT

    async def unsubscribe(self, sender_e164: str, *, channel: str,
                          in_reply: bool) -> str | None:
        return "已退订"

    async def rate(self, choice: int, sender_e164: str, *, channel: str,
                   in_reply: bool) -> RatingTaken:
        """No rating request is ever open here: a bare "1" stays an item."""
        return RatingTaken(taken=False)


Send = Callable[[str], Awaitable[bool]]
"""Deliver one item with this identity the channel's way; True when the sender was acknowledged."""


@dataclass
class Driver:
    send: Send
    oversized: Callable[[], Awaitable[bool]] | None = None
    bad_encoding: Callable[[], Awaitable[bool]] | None = None


ANSWERED_AS_IGNORED = {
    "twilio_voice": "Twilio never retries a recording callback: a refused one is answered 204, logged",
}

NOT_APPLICABLE = {
    ("gammu", "oversized"): "a modem hands over at most 255 parts of 153 characters",
    ("gammu", "bad encoding"): "gammu decodes the PDU itself; there are no raw bytes to get wrong",
}


def _ports(recorder: Recorder, tmp_path: Path) -> ChannelPorts:
    signer = Signer(b"harness-secret-0123456789abcdef")

    async def announce(caller: str, *, agent: str | None = None) -> int:
        return 0

    async def record_status(ref: str, status: str, error_code: str | None) -> None:
        return None

    return ChannelPorts(sink=recorder, clock=FixedClock(NOW), announce=announce,
        data_dir=tmp_path, tz=TZ, commands=recorder, record_status=record_status, signer=signer,
        csrf=CitizenCsrf(signer), districts=("鼓楼区", "仓山区"))


async def _web_app(spec: ChannelSpec[Any], section: Any, ports: ChannelPorts,
                   stack: AsyncExitStack) -> TestClient[Any, Any]:
    app = web.Application()
    assert spec.templates is not None
    aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(str(spec.templates)),
                         autoescape=jinja2.select_autoescape(default=True))
    if spec.routes is not None:
        spec.routes(app, section, ports, frozenset({WEB}))
    return await stack.enter_async_context(TestClient(TestServer(app, host="127.0.0.1", port=0)))


async def _web_form(stack: AsyncExitStack, ports: ChannelPorts, tmp_path: Path) -> Driver:
    spec = SPECS["web_form"]
    client = await _web_app(spec, WebFormSettings(max_attachment_bytes=2000), ports, stack)

    async def post(identity: str, text: bytes, extra: bytes = b"") -> bool:
        page = await (await client.get("/")).text()
        csrf = re.search(r'name="csrf" value="([^"]*)"', page).group(1)  # type: ignore[union-attr]
        submission = f"{identity[:8]:0>8}-0000-4000-8000-000000000000"
        writer = aiohttp.MultipartWriter("form-data")
        for name, value in (("csrf", csrf.encode()), ("submission", submission.encode()),
                            ("text", text), ("phone", b"13805912345"), ("public", b"yes")):
            writer.append(value).set_content_disposition("form-data", name=name)
        if extra:
            writer.append(extra, {"Content-Type": "image/png"}).set_content_disposition(
                "form-data", name="attachments", filename="big.png")
        response = await client.post("/submit", data=writer, allow_redirects=False)
        assert response.status < 500 or response.status == 503, await response.text()
        return response.status == 303  # to the receipt page, only after the sink returned

    async def send(identity: str) -> bool:
        return await post(identity, TEXT.encode())

    async def oversized() -> bool:
        return await post("big", TEXT.encode(), b"\x89PNG\r\n\x1a\n" + b"\x00" * 50_000)

    async def bad_encoding() -> bool:
        return await post("badbytes", b"\xff\xfe\xed\xa0\x80 \xe4\xbd")

    return Driver(send, oversized, bad_encoding)


def _smtp(port: int, raw: bytes) -> bool:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.ehlo("faxgw.test")
        smtp.mail("fax@faxgw.test")
        smtp.rcpt("12345@hotline.example")
        try:
            code, _ = smtp.data(raw)
        except smtplib.SMTPDataError:
            return False
        return code == 250


async def _fax(stack: AsyncExitStack, ports: ChannelPorts, tmp_path: Path) -> Driver:
    spec = SPECS["fax"]
    started = await stack.enter_async_context(spec.start(
        FaxSettings(enabled=True, port=0, max_message_bytes=400_000), ports, frozenset({"smtp"})))
    port = started.ports["smtp"]
    mail = FAX_MAIL.read_bytes()

    async def send(identity: str) -> bool:
        raw = mail.replace(b"<hylafax.000000123@", f"<hylafax.{identity}@".encode())
        return await asyncio.to_thread(_smtp, port, raw)

    async def oversized() -> bool:
        return await asyncio.to_thread(_smtp, port, mail + b"X" * 500_000 + b"\r\n")

    async def bad_encoding() -> bool:
        raw = mail.replace(b"Subject:", b"Subject: \xff\xfe =?utf-8?b?!!!?= ", 1)
        raw = raw.replace(b"Content-Type: image/tiff", b"Content-Type: text/plain; charset=nonesuch", 1)
        return await asyncio.to_thread(_smtp, port, raw)

    return Driver(send, oversized, bad_encoding)


async def _gammu(stack: AsyncExitStack, ports: ChannelPorts, tmp_path: Path) -> Driver:
    spec = SPECS["gammu"]
    phone = tmp_path / "phone"
    settings = GammuSettings(enabled=True, device=str(phone), state_dir=str(tmp_path / "parts"),
                             reconnect_delay_s=0, poll_interval_s=0.05)
    await stack.enter_async_context(spec.start(settings, ports, frozenset({"gammu"})))
    inbox = phone / "sms" / "1"

    async def send(identity: str) -> bool:
        recorder = ports.sink
        assert isinstance(recorder, Recorder)
        before = len(recorder.envelopes)
        write_incoming_sms(phone, "+8613805912345", f"{TEXT}（{identity}）")
        async with asyncio.timeout(10):
            while True:  # the modem polls every 50 ms: wait until it took the text or gave up
                await asyncio.sleep(0.05)
                if not any(inbox.iterdir()):
                    return True
                if recorder.down and len(recorder.envelopes) == before:
                    await asyncio.sleep(0.3)  # several polls: it must still be on the SIM
                    return not any(inbox.iterdir())

    return Driver(send)


async def _twilio(stack: AsyncExitStack, ports: ChannelPorts, tmp_path: Path) -> Driver:
    spec = SPECS["twilio"]
    settings = TwilioSettings(enabled=True, account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN,
                              phone_number=OUR_NUMBER, public_base_url=PUBLIC,
                              api_base_url="http://127.0.0.1:9", state_dir=str(tmp_path / "twilio"))
    client = await _web_app_plain(spec, settings, ports, stack)
    path = "/channels/twilio/sms"

    async def post(body: bytes) -> bool:
        response = await client.post(path, data=body, headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": sign(PUBLIC + path, body)})
        assert response.status < 500 or response.status == 503, await response.text()
        return response.status == 200

    async def send(identity: str) -> bool:
        return await post(urlencode({"MessageSid": f"SM{identity:0>32}", "AccountSid": ACCOUNT_SID,
                                     "From": "+8613805912345", "To": OUR_NUMBER, "Body": TEXT,
                                     "NumMedia": "0"}).encode())

    async def oversized() -> bool:
        return await post(urlencode({"MessageSid": "SM" + "b" * 32, "AccountSid": ACCOUNT_SID,
                                     "From": "+8613805912345", "To": OUR_NUMBER,
                                     "Body": "长" * 2_000_000, "NumMedia": "0"}).encode())

    async def bad_encoding() -> bool:
        return await post(b"MessageSid=SM" + b"c" * 32 + b"&AccountSid=" + ACCOUNT_SID.encode()
                          + b"&From=%2B8613805912345&To=" + OUR_NUMBER.encode()
                          + b"&Body=%ff%fe%ED%A0%80&NumMedia=0")

    return Driver(send, oversized, bad_encoding)


async def _web_app_plain(spec: ChannelSpec[Any], section: Any, ports: ChannelPorts,
                         stack: AsyncExitStack) -> TestClient[Any, Any]:
    app = web.Application()
    assert spec.routes is not None
    spec.routes(app, section, ports, frozenset({WEB}))
    return await stack.enter_async_context(TestClient(TestServer(app, host="127.0.0.1", port=0)))


async def _twilio_voice(stack: AsyncExitStack, ports: ChannelPorts, tmp_path: Path) -> Driver:
    """A caller leaves a voicemail: the call's first webhook, then the signed recording callback,
    the recording fetched from the (local fake) Recordings API."""
    spec = SPECS["twilio_voice"]
    fake = voice.FakeRecordingsApi(recordings={
        voice.RECORDING_SID: voice.wav_bytes(), "RE" + "9" * 32: voice.wav_bytes(seconds=20)})
    api = await stack.enter_async_context(TestServer(fake.app(), host="127.0.0.1", port=0))
    settings = voice.voice_settings(str(api.make_url("")).rstrip("/"), max_recording_bytes=100_000)
    client = await _web_app_plain(spec, settings, ports, stack)
    base = "/channels/twilio/voice"

    async def call(identity: str, recording_sid: str, body: bytes | None = None) -> bool:
        call_sid = f"CA{identity:0>32}"
        form = voice.call_form(CallSid=call_sid)
        assert (await voice.post_signed(client, base, form)).status == 200
        path = f"{base}/recording?call={call_sid}&sig={ports.signer.sign(VOICE_SIGN, call_sid)}"
        if body is None:
            response = await voice.post_signed(client, path, voice.call_form(
                CallSid=call_sid, RecordingSid=recording_sid, RecordingStatus="completed",
                RecordingDuration="9"))
        else:
            response = await client.post(path, data=body, headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": sign(voice.PUBLIC + path, body)})
        assert response.status < 500 or response.status == 503, await response.text()
        return response.status == 204

    async def send(identity: str) -> bool:
        return await call(identity, voice.RECORDING_SID)

    async def oversized() -> bool:  # a recording beyond max_recording_bytes
        return await call("b16", "RE" + "9" * 32)

    async def bad_encoding() -> bool:
        return await call("0dd", voice.RECORDING_SID, body=b"CallSid=CA%ff%fe&RecordingSid=%ED%A0%80")

    return Driver(send, oversized, bad_encoding)


class _HarnessKeys:
    """The Open311 channel's key check: one key, never rate-limited."""

    async def admit(self, scope: str, key: str, *, free: int, window_s: float) -> Admission:
        return Admission("harness-app" if key == "harness-key" else None)


async def _open311(stack: AsyncExitStack, ports: ChannelPorts, tmp_path: Path) -> Driver:
    spec = SPECS["open311"]
    client = await _web_app_plain(spec, Open311Settings(), replace(ports, api_keys=_HarnessKeys()),
                                  stack)

    async def post(body: bytes) -> bool:
        response = await client.post("/open311/v2/requests.json", data=body, headers={
            "Content-Type": "application/x-www-form-urlencoded"})
        assert response.status < 500 or response.status == 503, await response.text()
        # A token (store down, kept in the spool) is no case number: not acknowledged as one.
        return response.status == 200 and "service_request_id" in (await response.json())[0]

    async def send(identity: str) -> bool:
        return await post(urlencode({"api_key": "harness-key", "service_code": "urban",
                                     "address_string": "仓山区金山大道", "description": TEXT,
                                     "attribute[BLOCKING]": "yes", "phone": "13805912345",
                                     "client_request_id": identity}).encode())

    async def oversized() -> bool:
        return await post(urlencode({"api_key": "harness-key", "service_code": "urban",
                                     "address_string": "仓山区", "description": "长" * 2_000_000,
                                     "attribute[BLOCKING]": "yes"}).encode())

    async def bad_encoding() -> bool:
        return await post(b"api_key=harness-key&service_code=urban&attribute%5BBLOCKING%5D=yes"
                          b"&address_string=%E4%BD&description=%ff%fe%ED%A0%80")

    return Driver(send, oversized, bad_encoding)


class _Heard(logging.Handler):
    """What the phone line's callers heard (the workers log every prompt list they play)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _udp(port: int, datagram: bytes) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(2)
        sock.sendto(datagram, ("127.0.0.1", port))
        try:
            return sock.recv(65_535)
        except TimeoutError:
            return b""


async def _sip(stack: AsyncExitStack, ports: ChannelPorts, tmp_path: Path) -> Driver:
    """A caller presses 1, speaks, presses #: acknowledged when it hears its case number."""
    sipp.sipp_binary()
    settings = SipSettings(enabled=True, port=0, rtp_port_start=0, retry_s=3600, silence_s=3,
                           choice_timeout_s=2, readback_times=1)
    started = await stack.enter_async_context(SPECS["sip"].start(settings, ports, frozenset({"sip"})))
    port, heard = started.ports["sip"], _Heard()
    logging.getLogger("channels.sip").addHandler(heard)
    logging.getLogger("channels.sip").setLevel(logging.INFO)
    stack.callback(logging.getLogger("channels.sip").removeHandler, heard)
    steps: list[sipp.Step] = [sipp.Pause(300), sipp.Key("1"), sipp.Key("#"), sipp.Speak(), sipp.Key("#"),
                              sipp.HangUpAfter(1500)]

    async def call(identity: str, display: str) -> bool:
        call_id = f"harness-{identity}@127.0.0.1"  # SIPp's -cid_str: the same identity, the same Call-ID
        await sipp.run(f"127.0.0.1:{port}", sipp.scenario(steps, display=display),
                       tmp_path / f"sipp-{identity}", timeout_s=40, extra=("-cid_str", call_id))
        return any(f"call {key_for(call_id)} plays registered" in line for line in heard.lines)

    async def send(identity: str) -> bool:
        return await call(identity, '"Zhang San"')

    async def oversized() -> bool:  # a 60 kB header in one datagram: refused or dropped
        invite = (f"INVITE sip:12345@127.0.0.1:{port} SIP/2.0\r\n"
                  "Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKx\r\n"
                  "From: <sip:13805912345@127.0.0.1>;tag=1\r\nTo: <sip:12345@127.0.0.1>\r\n"
                  "Call-ID: big@127.0.0.1\r\nCSeq: 1 INVITE\r\nX-Big: " + "A" * 60_000
                  + "\r\nContent-Length: 0\r\n\r\n").encode()
        answer = await asyncio.to_thread(_udp, port, invite)
        return answer.startswith(b"SIP/2.0 2")

    async def bad_encoding() -> bool:  # bytes 0xff 0xfe in the display name: not UTF-8
        return await call("badbytes", '"\xff\xfe\xed\xa0\x80"')

    return Driver(send, oversized, bad_encoding)


DRIVERS = {"web_form": _web_form, "fax": _fax, "gammu": _gammu, "twilio": _twilio,
           "twilio_voice": _twilio_voice, "open311": _open311, "sip": _sip}


def test_every_inbound_channel_in_the_registry_has_a_driver() -> None:
    inbound = {spec.name for spec in CHANNELS if spec.name != "email"}  # email is outbound only
    assert inbound == set(DRIVERS)


@pytest.fixture(params=sorted(DRIVERS))
async def channel(request: pytest.FixtureRequest,
                  tmp_path: Path) -> AsyncIterator[tuple[str, Recorder, Driver]]:
    recorder = Recorder()
    async with AsyncExitStack() as stack:
        driver = await DRIVERS[request.param](stack, _ports(recorder, tmp_path), tmp_path)
        yield request.param, recorder, driver


async def test_an_item_is_acknowledged_after_the_sink_took_it(
        channel: tuple[str, Recorder, Driver]) -> None:
    _, recorder, driver = channel
    assert await driver.send("1001")
    [envelope] = recorder.envelopes
    assert envelope.external_id and envelope.received_at.tzinfo is not None
    assert envelope.received_at == envelope.received_at.astimezone(TZ)


async def test_a_redelivery_carries_the_same_external_id(channel: tuple[str, Recorder, Driver]) -> None:
    name, recorder, driver = channel
    if name == "gammu":
        pytest.skip("a modem re-read is the same SMS file: tested in tests/channels/sms_gammu")
    if name == "twilio_voice":
        pytest.skip("a repeated recording callback finds the case on the call record and never "
                    "reaches the sink: tested in tests/channels/twilio_voice")
    assert await driver.send("2002")
    assert await driver.send("2002")
    first, second = recorder.envelopes
    assert (first.channel, first.external_id) == (second.channel, second.external_id)


async def test_try_later_acknowledges_nothing_and_the_sender_keeps_the_item(
        channel: tuple[str, Recorder, Driver]) -> None:
    name, recorder, driver = channel
    recorder.down = True
    assert not await driver.send("3003")
    assert recorder.envelopes == []
    recorder.down = False
    if name != "gammu":  # the modem's retry is its next poll; the others' is the sender's resend
        assert await driver.send("3003")
        assert len(recorder.envelopes) == 1


@pytest.mark.parametrize("situation", ["oversized", "bad encoding"])
async def test_bad_input_is_refused_and_reaches_nobody(
        channel: tuple[str, Recorder, Driver], situation: str) -> None:
    name, recorder, driver = channel
    if (name, situation) in NOT_APPLICABLE:
        pytest.skip(NOT_APPLICABLE[(name, situation)])
    attempt = driver.oversized if situation == "oversized" else driver.bad_encoding
    assert attempt is not None
    acknowledged = await attempt()
    if situation == "oversized":
        assert recorder.envelopes == []
        assert not acknowledged or name in ANSWERED_AS_IGNORED
    else:  # refused, ignored, or taken with the broken bytes replaced: never raw garbage
        assert len(recorder.envelopes) <= int(acknowledged)
        for envelope in recorder.envelopes:
            envelope.text.encode("utf-8")  # no lone surrogates
