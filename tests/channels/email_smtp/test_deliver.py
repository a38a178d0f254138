"""EmailDeliverer against a real local relay: what arrives, and how each refusal is typed."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import pytest
from pydantic import ValidationError

from channels.email_smtp import EmailDeliverer, email_deliverer
from channels.email_smtp.settings import EmailSettings
from contract.envelope import Channel
from contract.notice import Deliverer, Notice, SendError

from .conftest import Relay

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
CASE = "FZ12345-20261124-000001"
TEXT = "【12345】您的诉求已登记，编号FZ12345-20261124-000001，查询码AB12CD34。"


def notice(address: str = "citizen@example.cn", **overrides: Any) -> Notice:
    values: dict[str, Any] = {"notice_id": 41, "channel": Channel.EMAIL, "address": address,
                              "text": TEXT, "case_number": CASE}
    values.update(overrides)
    return Notice(**values)


def deliverer(port: int, **overrides: Any) -> EmailDeliverer:
    settings = EmailSettings(enabled=True, smtp_port=port, **overrides)
    return EmailDeliverer(settings, clock=lambda: NOW)


def received(relay: Relay) -> EmailMessage:
    [envelope] = relay.envelopes
    raw = envelope.original_content or envelope.content
    assert isinstance(raw, bytes)
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


async def test_notice_arrives_as_plain_utf8_mail_and_returns_message_id(relay: Relay) -> None:
    out: Deliverer = deliverer(relay.port)
    ref = await out.deliver(notice())
    message = received(relay)
    assert relay.envelopes[0].mail_from == "12345@hotline.example"
    assert relay.envelopes[0].rcpt_tos == ["citizen@example.cn"]
    assert ref == message["Message-ID"] and "notice41" in ref
    assert message["Subject"] == f"【12345】案件 {CASE}"
    assert message["To"] == "citizen@example.cn"
    assert message["From"].addresses[0].addr_spec == "12345@hotline.example"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["X-Hotline-Case"] == CASE
    assert message.get_content_type() == "text/plain"
    assert message.get_content_charset() == "utf-8"
    assert message.get_content().strip() == TEXT


async def test_subject_line_breaks_cannot_inject_headers(relay: Relay) -> None:
    await deliverer(relay.port).deliver(
        notice(subject="答复\r\nBcc: spy@evil.example\r\n\r\nforged body"))
    message = received(relay)
    assert message["Bcc"] is None
    assert message["Subject"] == "答复 Bcc: spy@evil.example forged body"
    assert relay.envelopes[0].rcpt_tos == ["citizen@example.cn"]
    assert message.get_content().strip() == TEXT


@pytest.mark.parametrize("address", [
    "citizen@example.cn\r\nBcc: spy@evil.example",
    "citizen@example.cn, spy@evil.example",
    "Citizen <citizen@example.cn>",
    "no-at-sign.example.cn",
    "",
])
async def test_unusable_address_is_refused_for_good_without_sending(relay: Relay,
                                                                      address: str) -> None:
    with pytest.raises(SendError) as caught:
        await deliverer(relay.port).deliver(notice(address))
    assert (caught.value.retryable, caught.value.code) == (False, "bad_address")
    assert relay.envelopes == []


@pytest.mark.parametrize(("where", "reply", "retryable"), [
    ("data", "451 4.3.0 try again later", True),
    ("rcpt", "452 4.2.2 mailbox full", True),
    ("rcpt", "550 5.1.1 unknown user", False),
    ("data", "554 5.7.1 rejected as spam", False),
])
async def test_relay_refusal_is_typed_by_reply_code(relay: Relay, where: str, reply: str,
                                                    retryable: bool) -> None:
    if where == "rcpt":
        relay.rcpt_reply = reply
    else:
        relay.data_reply = reply
    with pytest.raises(SendError) as caught:
        await deliverer(relay.port).deliver(notice())
    assert caught.value.retryable is retryable
    assert caught.value.code == f"smtp_{reply[:3]}"
    assert reply[:3] in str(caught.value)
    assert relay.envelopes == []


async def test_connection_refused_is_retryable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(SendError) as caught:
        await deliverer(port).deliver(notice())
    assert (caught.value.retryable, caught.value.code) == (True, "connect")


@pytest.fixture
async def silent_port() -> AsyncIterator[int]:
    """A server that accepts the connection and never greets."""

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


async def test_relay_that_never_answers_times_out_retryable(silent_port: int) -> None:
    with pytest.raises(SendError) as caught:
        await deliverer(silent_port, timeout_s=0.3).deliver(notice())
    assert (caught.value.retryable, caught.value.code) == (True, "connect")


async def test_context_yields_no_deliverer_when_disabled() -> None:
    async with email_deliverer(EmailSettings()) as off:
        assert off is None
    async with email_deliverer(EmailSettings(enabled=True)) as on:
        assert isinstance(on, EmailDeliverer) and on.channel is Channel.EMAIL


@pytest.mark.parametrize("bad", [
    {"from_address": "12345@hotline.example\r\nBcc: x@y.example"},
    {"from_address": "hotline"},
    {"username": "relay-user"},
    {"smtp_port": 0},
    {"unknown": 1},
])
def test_settings_refuse_bad_values(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        EmailSettings(**bad)
