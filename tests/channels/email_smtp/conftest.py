"""A real local SMTP relay (aiosmtpd in the test's loop, port 0) that records or refuses mail."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass
class Relay:
    """What the relay received, and how it answers RCPT and DATA."""

    port: int = 0
    rcpt_reply: str = ""
    data_reply: str = "250 2.0.0 queued as 4F2A"
    envelopes: list[Envelope] = field(default_factory=list)

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_reply.startswith("250"):
            self.envelopes.append(envelope)
        return self.data_reply


@pytest.fixture
async def relay() -> AsyncIterator[Relay]:
    handler = Relay()
    loop = asyncio.get_running_loop()

    def factory() -> Any:
        return SMTP(handler, hostname="relay.test", enable_SMTPUTF8=True)

    server = await loop.create_server(factory, "127.0.0.1", 0)
    handler.port = server.sockets[0].getsockname()[1]
    try:
        yield handler
    finally:
        server.close()
        await server.wait_closed()
