"""Shared peers for the fax tests: recording sinks, our SMTP server, a fax gateway, a sender.

Everything is real and local: our aiosmtpd server in the test's event loop on
port 0, the stdlib ``smtplib`` (in a thread) as the delivering fax gateway, and
a second aiosmtpd server as the email-to-fax gateway that records what we send.
"""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP

from channels.fax_smtp.server import RunningFaxServer, fax_smtp_server
from channels.fax_smtp.settings import FaxSettings
from contract.envelope import Envelope, Receipt, TryLater

FIXTURES = Path(__file__).resolve().parent / "fixtures"
CASE_NUMBER = "FZ12345-20261124-000001"
NOW = datetime(2026, 11, 24, 1, 15, tzinfo=UTC)


def fixture(name: str) -> bytes:
    """A recorded fax mail from ``fixtures/``."""
    return (FIXTURES / name).read_bytes()


@dataclass
class RecordingSink:
    """A sink like intake's: idempotent by external id, optionally down."""

    down: int = 0
    """How many calls raise ``TryLater`` before the store comes back."""
    fail_with: type[Exception] | None = None
    envelopes: list[Envelope] = field(default_factory=list)
    created: dict[str, str] = field(default_factory=dict)
    calls: int = 0

    async def __call__(self, envelope: Envelope) -> Receipt:
        self.calls += 1
        if self.fail_with is not None:
            raise self.fail_with("boom")
        if self.down > 0:
            self.down -= 1
            raise TryLater("database unavailable")
        self.envelopes.append(envelope)
        if envelope.external_id in self.created:
            return Receipt(self.created[envelope.external_id], created=False)
        number = f"FZ12345-20261124-{len(self.created) + 1:06d}"
        self.created[envelope.external_id] = number
        return Receipt(number, created=True)


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


ServerFactory = Callable[..., AbstractAsyncContextManager[RunningFaxServer]]


@pytest.fixture
def fax_server() -> ServerFactory:
    """``async with fax_server(sink, **settings) as running:`` on 127.0.0.1, port 0."""

    @asynccontextmanager
    async def start(sink: Any, **overrides: Any) -> AsyncIterator[RunningFaxServer]:
        settings = FaxSettings(**{"enabled": True, "port": 0, **overrides})
        async with fax_smtp_server(settings, sink, clock=lambda: NOW) as running:
            yield running

    return start


@dataclass(frozen=True)
class SmtpResult:
    """What the delivering gateway heard back: the reply to DATA, or the refusal."""

    code: int
    message: str
    stage: str


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _send_blocking(port: int, raw: bytes, login: tuple[str, str] | None,
                   starttls: bool) -> SmtpResult:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.ehlo("faxgw.test")
        if starttls:
            import ssl

            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            smtp.starttls(context=context)
            smtp.ehlo("faxgw.test")
        if login:
            try:
                smtp.login(*login)
            except smtplib.SMTPAuthenticationError as exc:
                return SmtpResult(exc.smtp_code, _text(exc.smtp_error), "auth")
        code, msg = smtp.mail("fax@faxgw.test")
        if code != 250:
            return SmtpResult(code, msg.decode(), "mail")
        code, msg = smtp.rcpt("intake@hotline.example")
        if code != 250:
            return SmtpResult(code, msg.decode(), "rcpt")
        try:
            code, msg = smtp.data(raw)
        except smtplib.SMTPDataError as exc:
            return SmtpResult(exc.smtp_code, _text(exc.smtp_error), "data")
        return SmtpResult(code, msg.decode(), "data")


async def send_fax(port: int, raw: bytes, *, login: tuple[str, str] | None = None,
                   starttls: bool = False) -> SmtpResult:
    """Deliver one mail as a fax gateway would (stdlib smtplib, off the event loop)."""
    return await asyncio.to_thread(_send_blocking, port, raw, login, starttls)


@dataclass
class GatewayRecorder:
    """The email-to-fax gateway: records each accepted mail; answers ``reply`` to DATA."""

    reply: str = "250 2.0.0 queued as FAXJOB1"
    received: list[tuple[list[str], bytes]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        if self.reply.startswith("250"):
            self.received.append((list(envelope.rcpt_tos), envelope.original_content))
            self.arrived.set()
        return self.reply

    def message(self, index: int = 0) -> EmailMessage:
        import email
        import email.policy

        parsed = email.message_from_bytes(self.received[index][1], policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@pytest.fixture
async def gateway() -> AsyncIterator[tuple[GatewayRecorder, int]]:
    loop = asyncio.get_running_loop()
    recorder = GatewayRecorder()
    server = await loop.create_server(
        lambda: SMTP(recorder, hostname="faxgw.test", loop=loop), "127.0.0.1", 0)
    try:
        yield recorder, int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()
