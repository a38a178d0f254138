"""Which channels and jobs run in this process, and how they are plugged together.

``hotline serve`` runs every role; ``--only ROLE`` (repeatable) runs some: ``web``,
``worker`` and each channel's own listener role from the registry
(``channels.ROLES``). Several processes share PostgreSQL. Every channel in the
registry (``channels.CHANNELS``) whose section is enabled gets its routes (where
``web`` runs) and is started in ``app.cleanup_ctx`` with the same ports; what
the channels yield (their deliverers) feeds the outbox. Order of start: the
database, the channels, the outbox worker, the sweeper.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

from aiohttp import web

from channels import CHANNELS, ROLES
from config.settings import Settings
from contract.channel import WEB, WORKER, ChannelPorts, ChannelSpec
from contract.envelope import Envelope, Receipt
from contract.notice import Deliverer
from desks.console import announce_call
from forwarder.outbox import OutboxDispatcher, outbox_worker
from forwarder.sweeper import Sweeper, sweeper_worker
from forwarder.workflow_base import Context
from intake import keys
from intake.sms_commands import RegistrarSmsCommands

log = logging.getLogger(__name__)

ALL_ROLES = frozenset(ROLES)


class _LateCommands:
    """SMS keyword answers, bound to the database once the app has started."""

    def __init__(self, app: web.Application) -> None:
        self._app = app

    def _commands(self) -> RegistrarSmsCommands:
        return RegistrarSmsCommands(self._app[keys.SESSIONMAKER], self._app[keys.CLOCK])

    async def case_status(self, case_number: str, sender_e164: str, *, channel: str,
                          in_reply: bool) -> str | None:
        return await self._commands().case_status(case_number, sender_e164, channel=channel,
                                                  in_reply=in_reply)

    async def unsubscribe(self, sender_e164: str, *, channel: str,
                          in_reply: bool) -> str | None:
        return await self._commands().unsubscribe(sender_e164, channel=channel,
                                                  in_reply=in_reply)


def ports(app: web.Application, settings: Settings, districts: tuple[str, ...]) -> ChannelPorts:
    """The ports every channel is started with; each reaches the app only once it runs."""

    async def sink(envelope: Envelope) -> Receipt:
        return await app[keys.INTAKE](envelope)

    async def announce(caller: str) -> int:
        return await announce_call(app, caller)

    async def record_status(ref: str, status: str, error_code: str | None) -> None:
        await app[keys.OUTBOX].record_delivery_status(ref, status, error_code)

    return ChannelPorts(sink=sink, clock=app[keys.CLOCK], announce=announce,
                        data_dir=settings.data_dir, tz=settings.tz, commands=_LateCommands(app),
                        record_status=record_status, signer=app[keys.SIGNER],
                        csrf=app[keys.CSRF], districts=districts)


def enabled_channels(settings: Settings) -> list[tuple[ChannelSpec[Any], Any]]:
    """The registry's channels whose section is enabled, each with its settings."""
    chosen = []
    for spec in CHANNELS:
        section = settings.channel(spec.name, spec.settings_model)
        if spec.enabled(section):
            chosen.append((spec, section))
    return chosen


def install(app: web.Application, settings: Settings, roles: frozenset[str],
            channel_ports: ChannelPorts) -> None:
    """Add the channels' routes and long-lived parts for ``roles`` to ``app``."""
    channels = enabled_channels(settings)
    if WEB in roles:
        for spec, section in channels:
            if spec.routes is not None:
                spec.routes(app, section, channel_ports, roles)

    async def running(app: web.Application) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            deliverers: dict[str, Deliverer] = {}
            for spec, section in channels:
                started = await stack.enter_async_context(spec.start(section, channel_ports, roles))
                deliverers.update((d.channel, d) for d in started.deliverers)
                app[keys.BOUND_PORTS].update({f"{spec.name}.{k}": v for k, v in started.ports.items()})
                for line in started.listening:
                    log.info("%s: %s", spec.name, line)
            dispatcher = OutboxDispatcher(app[keys.SESSIONMAKER], deliverers, app[keys.CLOCK],
                                          sms_channel=settings.worker.sms_channel)
            app[keys.OUTBOX] = dispatcher
            if WORKER in roles and settings.worker.outbox_enabled:
                await stack.enter_async_context(
                    outbox_worker(dispatcher, interval_s=settings.worker.outbox_interval_s))
                app[keys.INTAKE].on_commit = dispatcher.poke
                log.info("outbox worker running; deliverers: %s", ", ".join(sorted(deliverers)))
            if WORKER in roles and settings.worker.sweeper_enabled:
                sweeper = Sweeper(app[keys.SESSIONMAKER], Context(
                    clock=app[keys.CLOCK], due=app[keys.DUE], sms_channel=settings.worker.sms_channel))
                await stack.enter_async_context(
                    sweeper_worker(sweeper, interval_s=settings.worker.sweeper_interval_s))
            yield

    app.cleanup_ctx.append(running)
