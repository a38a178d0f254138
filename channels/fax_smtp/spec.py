"""Fax as a registered channel: the fax-to-email SMTP listener (role ``smtp``) and
fax replies through an email-to-fax gateway where the worker runs."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from channels.fax_smtp.deliver import FaxDeliverer
from channels.fax_smtp.render import FontNotFound
from channels.fax_smtp.server import fax_smtp_server
from channels.fax_smtp.settings import FaxSettings
from contract.channel import WORKER, ChannelPorts, ChannelSpec, Started
from contract.notice import Deliverer

log = logging.getLogger(__name__)
ROLE = "smtp"


@asynccontextmanager
async def _start(settings: FaxSettings, ports: ChannelPorts,
                 roles: frozenset[str]) -> AsyncIterator[Started]:
    deliverers: tuple[Deliverer, ...] = ()
    if WORKER in roles:
        try:
            deliverers = (FaxDeliverer(settings, clock=ports.clock.now, tz=ports.tz),)
        except FontNotFound as exc:
            # Fax in still works; fax replies fail visibly in the outbox.
            log.error("fax replies disabled: %s", exc)
    if ROLE not in roles:
        yield Started(deliverers=deliverers)
        return
    async with fax_smtp_server(settings, ports.sink, clock=ports.clock.now) as server:
        yield Started(deliverers=deliverers, ports={ROLE: server.port},
                      listening=(f"fax-to-email SMTP on {server.host}:{server.port}",))


SPEC = ChannelSpec(name="fax", title="fax in by fax-to-email (SMTP), replies by email-to-fax",
                   settings_model=FaxSettings, start=_start, role=ROLE)
