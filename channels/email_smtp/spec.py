"""Email replies as a registered channel: a deliverer where the worker runs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from channels.email_smtp.deliver import EmailDeliverer
from channels.email_smtp.settings import EmailSettings
from contract.channel import WORKER, ChannelPorts, ChannelSpec, Started


@asynccontextmanager
async def _start(settings: EmailSettings, ports: ChannelPorts,
                 roles: frozenset[str]) -> AsyncIterator[Started]:
    # It holds no connection between sends: one SMTP session per notice.
    yield Started(deliverers=(EmailDeliverer(settings),) if WORKER in roles else ())


SPEC = ChannelSpec(name="email", title="email replies through an SMTP relay",
                   settings_model=EmailSettings, start=_start)
