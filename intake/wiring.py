"""Which channels and jobs run in this process, and how they are plugged together.

``hotline serve`` runs every role; ``--only ROLE`` (repeatable) runs some: ``web``,
``worker`` and each channel's own listener role from the registry
(``channels.ROLES``). Several processes share PostgreSQL. Every channel in the
registry (``channels.CHANNELS``) whose section is enabled gets its routes (where
``web`` runs) and is started in ``app.cleanup_ctx`` with the same ports; what
the channels yield (their deliverers) feeds the outbox. Order of start: the
database, the channels, the outbox worker, the sweeper, the transcription pool
(only where ``[transcription] model_dir`` names a model).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import time, timedelta
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels import CHANNELS, ROLES
from config.settings import Settings
from contract.agents import AgentStatus
from contract.channel import WEB, WORKER, ChannelPorts, ChannelSpec
from contract.envelope import Envelope, Receipt
from contract.notice import Deliverer
from contract.sms_keywords import RatingTaken
from desks.console import announce_call
from desks.console.hub import to_consoles
from desks.console.presence import status_message
from forwarder.bulletin_render import renderer as bulletin_renderer
from forwarder.bulletins import bulletin_worker
from forwarder.due import CalendarDuePolicy
from forwarder.outbox import OutboxDispatcher, outbox_worker
from forwarder.outbox_rules import CallPolicy, RetryPolicy
from forwarder.sweeper import Sweeper, sweeper_worker
from forwarder.workflow_base import Context
from intake import keys
from intake.public_cases import RegistrarApiKeys, RegistrarPublicCases
from intake.sms_commands import RegistrarSmsCommands
from intake.transcribe import engine_factory, transcription_worker
from registrar.agents import AgentPresence

log = logging.getLogger(__name__)

ALL_ROLES = frozenset(ROLES)


class _LateCommands:
    """SMS keyword answers, bound to the database once the app has started."""

    def __init__(self, app: web.Application) -> None:
        self._app = app

    def _commands(self) -> RegistrarSmsCommands:
        window = self._app[keys.SETTINGS].supervision.callback_window_days
        return RegistrarSmsCommands(self._app[keys.SESSIONMAKER], self._app[keys.CLOCK], window)

    async def case_status(self, case_number: str, sender_e164: str, *, channel: str,
                          in_reply: bool) -> str | None:
        return await self._commands().case_status(case_number, sender_e164, channel=channel,
                                                  in_reply=in_reply)

    async def query_help(self, sender_e164: str, *, channel: str,
                         in_reply: bool) -> str | None:
        return await self._commands().query_help(sender_e164, channel=channel,
                                                 in_reply=in_reply)

    async def unsubscribe(self, sender_e164: str, *, channel: str,
                          in_reply: bool) -> str | None:
        return await self._commands().unsubscribe(sender_e164, channel=channel,
                                                  in_reply=in_reply)

    async def rate(self, choice: int, sender_e164: str, *, channel: str,
                   in_reply: bool) -> RatingTaken:
        return await self._commands().rate(choice, sender_e164, channel=channel,
                                           in_reply=in_reply)


def ports(app: web.Application, settings: Settings, districts: tuple[str, ...]) -> ChannelPorts:
    """The ports every channel is started with; each reaches the app only once it runs."""

    async def sink(envelope: Envelope) -> Receipt:
        return await app[keys.INTAKE](envelope)

    async def announce(caller: str, *, agent: str | None = None, call: str = "") -> int:
        return await announce_call(app, caller, agent=agent, call=call)

    async def agent_changed(username: str, status: AgentStatus) -> None:
        await to_consoles(app, status_message(status), agent=username)

    async def record_status(ref: str, status: str, error_code: str | None) -> None:
        await app[keys.OUTBOX].record_delivery_status(ref, status, error_code)

    def sessions() -> async_sessionmaker[AsyncSession]:
        return app[keys.SESSIONMAKER]

    app[keys.AGENTS] = AgentPresence(sessions, app[keys.CLOCK], on_change=agent_changed)
    return ChannelPorts(sink=sink, clock=app[keys.CLOCK], announce=announce, agents=app[keys.AGENTS],
                        data_dir=settings.data_dir, tz=settings.tz, commands=_LateCommands(app),
                        record_status=record_status, signer=app[keys.SIGNER],
                        csrf=app[keys.CSRF], districts=districts,
                        public_cases=RegistrarPublicCases(sessions),
                        api_keys=RegistrarApiKeys(sessions, app[keys.CLOCK]), calls=app[keys.CALLS],
                        calls_out=bool(settings.worker.voice_channel))


def call_policy(settings: Settings, due: CalendarDuePolicy) -> CallPolicy:
    """Outbound calls ring on the deadlines' working days within ``worker.call_hours``."""
    opens, closes = (time.fromisoformat(t) for t in settings.worker.call_hours)
    return CallPolicy(attempts=settings.worker.call_attempts, opens=opens, closes=closes,
                      working_day=due.calendar.is_working_day, tz=settings.tz,
                      status_timeout=timedelta(seconds=settings.worker.call_status_timeout_s))


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
            worker = settings.worker
            policy = RetryPolicy(max_attempts=worker.outbox_max_attempts,
                                 base_delay=timedelta(seconds=worker.outbox_retry_base_s),
                                 lease=timedelta(seconds=worker.outbox_lease_s))
            dispatcher = OutboxDispatcher(app[keys.SESSIONMAKER], deliverers, app[keys.CLOCK],
                                          policy=policy, sms_channel=worker.sms_channel,
                                          callback_window_days=settings.supervision
                                          .callback_window_days,
                                          calls=call_policy(settings, app[keys.DUE]),
                                          voice_channel=worker.voice_channel)
            app[keys.OUTBOX] = dispatcher
            if WORKER in roles and settings.worker.outbox_enabled:
                await stack.enter_async_context(
                    outbox_worker(dispatcher, interval_s=settings.worker.outbox_interval_s))
                app[keys.INTAKE].on_commit = dispatcher.poke
                log.info("outbox worker running; deliverers: %s", ", ".join(sorted(deliverers)))
                if worker.voice_channel and worker.voice_channel not in deliverers:
                    log.warning("worker.voice_channel = %r, but that channel places no calls here "
                                "(sip: outbound_uri and the sip role; twilio_voice: outbound_from)"
                                ": notices to landlines fall back to the next contact",
                                worker.voice_channel)
            if WORKER in roles and settings.worker.sweeper_enabled:
                sweeper = Sweeper(app[keys.SESSIONMAKER], Context(
                    clock=app[keys.CLOCK], due=app[keys.DUE], sms_channel=settings.worker.sms_channel,
                    voice_channel=settings.worker.voice_channel,
                    revisions=app[keys.REGULATION]))
                await stack.enter_async_context(
                    sweeper_worker(sweeper, interval_s=settings.worker.sweeper_interval_s))
                # The R11.1 bulletins of the last week and month, once each, on schedule.
                await stack.enter_async_context(bulletin_worker(
                    app[keys.SESSIONMAKER], app[keys.CLOCK].now, zone=settings.tz,
                    render=bulletin_renderer()))
            factory = engine_factory(settings.transcription)
            if WORKER in roles and factory is not None:
                await stack.enter_async_context(transcription_worker(
                    app[keys.SESSIONMAKER], app[keys.INTAKE].store, app[keys.CLOCK],
                    settings.transcription, factory=factory))
                log.info("transcription: %d worker(s), model %s", settings.transcription.workers,
                         settings.transcription.model_dir)
            yield

    app.cleanup_ctx.append(running)
