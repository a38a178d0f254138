"""Shared fixtures for the Twilio SMS channel: settings, a recording sink, fake commands,
the fake Twilio REST API on port 0, and a webhook client that signs like Twilio does."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, unquote_to_bytes

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from multidict import MultiDict
from twilio.request_validator import RequestValidator

from channels.sms_twilio import add_twilio_routes, twilio_http
from channels.sms_twilio.settings import TwilioSettings
from contract.envelope import Envelope, Receipt, TryLater
from contract.sms_keywords import QUERY_HELP_TEXT, RatingTaken

from .fake_twilio import FakeTwilio

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "test-auth-token-0123456789"
OUR_NUMBER = "+8659112345000"
PUBLIC = "https://hotline.example.gov.cn/hotline"
FIXTURES = Path(__file__).parent / "fixtures"
NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)


@dataclass
class RecordingSink:
    """An idempotent in-memory store standing in for intake: one case per MessageSid."""

    cases: dict[str, tuple[str, Envelope]] = field(default_factory=dict)
    calls: list[Envelope] = field(default_factory=list)
    down: bool = False
    down_for: set[str] = field(default_factory=set)
    """External ids the store fails on (an outage in the middle of a run)."""
    called: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, envelope: Envelope) -> Receipt:
        self.calls.append(envelope)
        self.called.set()
        if self.down or envelope.external_id in self.down_for:
            raise TryLater("database unavailable")
        if envelope.external_id in self.cases:
            return Receipt(self.cases[envelope.external_id][0], created=False)
        number = f"FZ12345-20261124-{len(self.cases) + 1:06d}"
        self.cases[envelope.external_id] = (number, envelope)
        return Receipt(number, created=True)


@dataclass
class FakeCommands:
    """Records keyword calls; answers with recognisable text."""

    calls: list[tuple[str, ...]] = field(default_factory=list)
    down: bool = False

    async def case_status(self, case_number: str, sender_e164: str, *, channel: str,
                          in_reply: bool) -> str | None:
        self.calls.append(("case_status", case_number, sender_e164))
        if self.down:
            raise TryLater("database unavailable")
        return f"【12345】{case_number} 办理中"

    async def query_help(self, sender_e164: str, *, channel: str,
                         in_reply: bool) -> str | None:
        self.calls.append(("query_help", sender_e164))
        if self.down:
            raise TryLater("database unavailable")
        return QUERY_HELP_TEXT

    async def unsubscribe(self, sender_e164: str, *, channel: str,
                          in_reply: bool) -> str | None:
        self.calls.append(("unsubscribe", sender_e164))
        if self.down:
            raise TryLater("database unavailable")
        return "【12345】已退订"

    async def rate(self, choice: int, sender_e164: str, *, channel: str,
                   in_reply: bool) -> RatingTaken:
        """No rating request is ever open here: a bare "1" stays an item."""
        return RatingTaken(taken=False)


@dataclass
class StatusLog:
    """The lead's status recorder, as a list."""

    calls: list[tuple[str, str, str | None]] = field(default_factory=list)
    down: bool = False

    async def __call__(self, ref: str, status: str, error_code: str | None) -> None:
        if self.down:
            raise TryLater("database unavailable")
        self.calls.append((ref, status, error_code))


def closed_port_url() -> str:
    """A local URL where nothing listens: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def read_fixture(name: str, *, api: str = "") -> bytes:
    """A recorded form body; ``__API__`` stands for the fake API's URL (percent-encoded)."""
    raw = (FIXTURES / name).read_text(encoding="ascii").strip()
    return raw.replace("__API__", api.replace(":", "%3A").replace("/", "%2F")).encode()


def sign(url: str, body: bytes, token: str = AUTH_TOKEN) -> str:
    """Twilio's signature for a form body, computed by Twilio's own RequestValidator.

    A body whose values are not UTF-8 (broken UCS-2) cannot go through the
    validator; it is signed the documented way, HMAC-SHA1 of the URL followed by
    each sorted name and value, over the bytes as sent.
    """
    try:
        pairs = parse_qsl(body.decode("ascii"), keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        raw = sorted(parse_qsl_bytes(body))
        data = url.encode() + b"".join(name + value for name, value in raw)
        return base64.b64encode(hmac.new(token.encode(), data, hashlib.sha1).digest()).decode()
    return str(RequestValidator(token).compute_signature(url, MultiDict(pairs)))


def parse_qsl_bytes(body: bytes) -> list[tuple[bytes, bytes]]:
    """Split and percent-decode a form body without decoding text."""
    out = []
    for part in body.split(b"&"):
        name, _, value = part.partition(b"=")
        out.append((unquote_to_bytes(name.replace(b"+", b" ")),
                    unquote_to_bytes(value.replace(b"+", b" "))))
    return out


@pytest.fixture
def fake() -> FakeTwilio:
    return FakeTwilio(ACCOUNT_SID, AUTH_TOKEN)


@pytest.fixture
async def fake_api(fake: FakeTwilio) -> AsyncIterator[str]:
    """The fake REST API listening on port 0; yields its base URL."""
    server = TestServer(fake.app(), host="127.0.0.1", port=0)
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


@pytest.fixture
def settings(fake_api: str, tmp_path: Path) -> TwilioSettings:
    return TwilioSettings(enabled=True, account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN,
                          phone_number=OUR_NUMBER, public_base_url=PUBLIC,
                          api_base_url=fake_api, state_dir=str(tmp_path / "state"),
                          media_max_bytes=1000, media_budget_s=2.0)


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
def commands() -> FakeCommands:
    return FakeCommands()


@pytest.fixture
def status_log() -> StatusLog:
    return StatusLog()


@pytest.fixture
async def http(settings: TwilioSettings) -> AsyncIterator[aiohttp.ClientSession]:
    async with twilio_http(settings) as session:
        yield session


WebhookClient = TestClient[web.Request, web.Application]


@pytest.fixture
def make_client(settings: TwilioSettings, sink: RecordingSink, commands: FakeCommands,
                status_log: StatusLog
                ) -> Callable[..., AsyncIterator[WebhookClient]]:
    """Factory for a client of an app with the Twilio routes (reconciliation off by default)."""

    async def factory(*, reconcile: bool = False,
                      app_settings: TwilioSettings | None = None
                      ) -> AsyncIterator[WebhookClient]:
        app = web.Application()
        add_twilio_routes(app, settings=app_settings or settings, sink=sink,
                          commands=commands, status_recorder=status_log,
                          clock=lambda: NOW, reconcile=reconcile)
        client = TestClient(TestServer(app, host="127.0.0.1", port=0))
        await client.start_server()
        try:
            yield client
        finally:
            await client.close()

    return factory


@pytest.fixture
async def client(make_client: Callable[..., AsyncIterator[WebhookClient]]
                 ) -> AsyncIterator[WebhookClient]:
    async for c in make_client():
        yield c


async def post_signed(client: WebhookClient, path: str, body: bytes, *,
                      signature: str | None = None) -> aiohttp.ClientResponse:
    """POST a form as Twilio would, signed over the public URL unless told otherwise."""
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    headers["X-Twilio-Signature"] = sign(PUBLIC + path, body) if signature is None else signature
    return await client.post(path, data=body, headers=headers)
