"""Shared fixtures for the Twilio Voice channel: settings, recording ports, a local fake of
Twilio's Recordings API on port 0, and a client that signs posts the way Twilio does."""

from __future__ import annotations

import base64
import io
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from twilio.request_validator import RequestValidator

from channels.twilio_voice.settings import TwilioVoiceSettings
from channels.twilio_voice.webhook import add_voice_routes
from contract.channel import ChannelPorts
from contract.clock import FixedClock
from contract.envelope import Envelope, Receipt, TryLater
from contract.signing import CitizenCsrf, Signer
from contract.sms_keywords import QUERY_HELP_TEXT, RatingTaken

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "test-voice-token-0123456789"
PUBLIC = "https://hotline.example.gov.cn/hotline"
CALL_SID = "CA" + "1" * 32
RECORDING_SID = "RE" + "2" * 32
CALLER = "+8613805912345"
NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)

Client = TestClient[web.Request, web.Application]


def wav_bytes(seconds: float = 3.0, rate: int = 8000) -> bytes:
    """A silent mono 16-bit WAV, as Twilio's ``.wav`` recordings are."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\0\0" * int(seconds * rate))
    return buffer.getvalue()


CALL_CREATED = "CA" + "7" * 32
"""The CallSid the fake answers ``calls.create`` with."""


def _authorised(request: web.Request) -> bool:
    expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    return request.headers.get("Authorization") == expected


@dataclass
class FakeRecordingsApi:
    """Serves ``/Recordings/{sid}.wav`` behind basic auth and records every request; takes
    ``POST /Calls.json`` (outbound calls), keeping each form in ``calls``."""

    recordings: dict[str, bytes] = field(default_factory=dict)
    requests: list[tuple[str, bool]] = field(default_factory=list)
    fail_with: int | None = None
    calls: list[dict[str, str]] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get(f"/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{{name}}", self._get)
        app.router.add_post(f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json", self._create)
        return app

    async def _create(self, request: web.Request) -> web.Response:
        if not _authorised(request):
            return web.json_response({"code": 20003, "message": "Authenticate"}, status=401)
        if self.fail_with:
            return web.json_response({"code": 21215, "message": "refused"}, status=self.fail_with)
        self.calls.append({k: str(v) for k, v in (await request.post()).items()})
        return web.json_response({"sid": CALL_CREATED, "status": "queued"}, status=201)

    async def _get(self, request: web.Request) -> web.Response:
        authorised = _authorised(request)
        self.requests.append((request.path, authorised))
        if not authorised:
            return web.json_response({"code": 20003}, status=401)
        if self.fail_with:
            return web.json_response({"code": 20500}, status=self.fail_with)
        data = self.recordings.get(request.match_info["name"].removesuffix(".wav"))
        if data is None:
            return web.json_response({"code": 20404}, status=404)
        return web.Response(body=data, content_type="audio/x-wav")


@dataclass
class Ports:
    """What the channel may use of the service, recorded."""

    envelopes: list[Envelope] = field(default_factory=list)
    announced: list[str] = field(default_factory=list)
    lookups: list[tuple[str, str]] = field(default_factory=list)
    store_down: bool = False

    async def sink(self, envelope: Envelope) -> Receipt:
        if self.store_down:
            raise TryLater("database unavailable")
        self.envelopes.append(envelope)
        first = next(i for i, e in enumerate(self.envelopes) if e.external_id == envelope.external_id)
        return Receipt(f"FZ12345-20261124-{first + 1:06d}", created=first == len(self.envelopes) - 1)

    async def announce(self, caller: str, *, agent: str | None = None) -> int:
        self.announced.append(caller)
        return 1

    async def case_status(self, case_number: str, sender_e164: str, *, channel: str,
                          in_reply: bool) -> str:
        self.lookups.append((case_number, sender_e164))
        return f"【12345】您的诉求{case_number}：办理中。"

    async def query_help(self, sender_e164: str, *, channel: str, in_reply: bool) -> str:
        return QUERY_HELP_TEXT

    async def unsubscribe(self, sender_e164: str, *, channel: str,
                          in_reply: bool) -> str:
        return ""

    async def rate(self, choice: int, sender_e164: str, *, channel: str,
                   in_reply: bool) -> RatingTaken:
        """No rating request is ever open here: a bare "1" stays an item."""
        return RatingTaken(taken=False)

    async def record_status(self, ref: str, status: str, error: str | None) -> None:
        return None


@pytest.fixture
def fake() -> FakeRecordingsApi:
    return FakeRecordingsApi(recordings={RECORDING_SID: wav_bytes()})


@pytest.fixture
async def fake_api(fake: FakeRecordingsApi) -> AsyncIterator[str]:
    server = TestServer(fake.app(), host="127.0.0.1", port=0)
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


def voice_settings(api: str, **overrides: Any) -> TwilioVoiceSettings:
    values: dict[str, Any] = {"enabled": True, "account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN,
                              "public_base_url": PUBLIC, "api_base_url": api,
                              "agent": "+8659112345001", "min_recording_s": 2}
    return TwilioVoiceSettings.model_validate(values | overrides)


@pytest.fixture
def ports() -> Ports:
    return Ports()


@pytest.fixture
def signer() -> Signer:
    return Signer(b"test-secret-key-0123456789abcdef")


async def make_client(settings: TwilioVoiceSettings, ports: Ports, signer: Signer,
                      data_dir: Path) -> Client:
    channel_ports = ChannelPorts(
        sink=ports.sink, clock=FixedClock(NOW), announce=ports.announce, data_dir=data_dir,
        tz=ZoneInfo("Asia/Shanghai"), commands=ports, record_status=ports.record_status,
        signer=signer, csrf=CitizenCsrf(signer))
    app = web.Application()
    add_voice_routes(app, settings, channel_ports)
    client = TestClient(TestServer(app, host="127.0.0.1", port=0))
    await client.start_server()
    return client


@pytest.fixture
async def client(fake_api: str, ports: Ports, signer: Signer, tmp_path: Path) -> AsyncIterator[Client]:
    test_client = await make_client(voice_settings(fake_api), ports, signer, tmp_path)
    try:
        yield test_client
    finally:
        await test_client.close()


async def post_signed(client: Client, path_qs: str, form: dict[str, str], *,
                      signature: str | None = None) -> aiohttp.ClientResponse:
    """POST as Twilio does: the form signed over the public URL (path and query included)."""
    full = {"AccountSid": ACCOUNT_SID, **form}
    header = signature if signature is not None else str(
        RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC + path_qs, full))
    return await client.post(path_qs, data=urlencode(full).encode(), headers={
        "Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": header})


def call_form(**extra: str) -> dict[str, str]:
    """The parameters Twilio sends with every voice webhook of our test call."""
    return {"CallSid": CALL_SID, "From": CALLER, "To": "+8659112345000", "CallStatus": "in-progress",
            "Direction": "inbound", "ApiVersion": "2010-04-01", **extra}
