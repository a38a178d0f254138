"""Which channels and jobs run in this process, and how they are plugged together.

``hotline serve`` runs every role; ``--only web|smtp|gammu|worker`` runs one
(several processes share PostgreSQL). Each running part is one async context
manager entered in ``app.cleanup_ctx`` after the database, in this order:
outbound deliverers, the outbox worker, the inbound listeners, the sweeper.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from enum import StrEnum

from aiohttp import web

from channels.email_smtp import email_deliverer
from channels.fax_smtp import FaxDeliverer, fax_smtp_server
from channels.fax_smtp.render import FontNotFound
from channels.sms_gammu import gammu_sms_channel
from channels.sms_twilio import TwilioDeliverer, add_twilio_routes, twilio_http
from config.settings import Settings
from contract.envelope import Channel, Envelope, Receipt
from contract.notice import Deliverer
from forwarder.outbox import OutboxDispatcher, outbox_worker
from forwarder.sweeper import Sweeper, sweeper_worker
from forwarder.workflow_base import Context
from intake import keys
from intake.sms_commands import RegistrarSmsCommands

log = logging.getLogger(__name__)


class Role(StrEnum):
    """A part of the service a process can run."""

    WEB = "web"
    SMTP = "smtp"
    GAMMU = "gammu"
    WORKER = "worker"


ALL_ROLES = frozenset(Role)


class _LateCommands:
    """SMS keyword answers, bound to the database once the app has started."""

    def __init__(self, app: web.Application) -> None:
        self._app = app

    async def case_status(self, case_number: str, sender_e164: str) -> str:
        return await RegistrarSmsCommands(self._app[keys.SESSIONMAKER]).case_status(
            case_number, sender_e164)

    async def unsubscribe(self, sender_e164: str) -> str:
        return await RegistrarSmsCommands(self._app[keys.SESSIONMAKER]).unsubscribe(sender_e164)


def install(app: web.Application, settings: Settings, roles: frozenset[Role]) -> None:
    """Add the channels' routes and long-lived parts for ``roles`` to ``app``."""

    async def sink(envelope: Envelope) -> Receipt:
        return await app[keys.INTAKE](envelope)

    commands = _LateCommands(app)
    if Role.WEB in roles and settings.twilio.enabled:

        async def status_recorder(ref: str, status: str, error_code: str | None) -> None:
            await app[keys.OUTBOX].record_delivery_status(ref, status, error_code)

        add_twilio_routes(app, settings=settings.twilio, sink=sink, commands=commands,
                          status_recorder=status_recorder, data_dir=settings.data_dir,
                          reconcile=Role.WORKER in roles)

    async def running(app: web.Application) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            deliverers: dict[str, Deliverer] = {}
            gammu = None
            if Role.GAMMU in roles and settings.gammu.enabled:
                gammu = await stack.enter_async_context(
                    gammu_sms_channel(settings.gammu, sink, commands))
                deliverers[Channel.SMS_MODEM] = gammu.deliverer
            if Role.WORKER in roles:
                mail = await stack.enter_async_context(email_deliverer(settings.email))
                if mail is not None:
                    deliverers[Channel.EMAIL] = mail
                if settings.fax.enabled:
                    try:
                        deliverers[Channel.FAX] = FaxDeliverer(settings.fax, tz=settings.tz)
                    except FontNotFound as exc:
                        # Fax in still works; fax replies fail visibly in the outbox.
                        log.error("fax replies disabled: %s", exc)
                if settings.twilio.enabled:
                    http = await stack.enter_async_context(twilio_http(settings.twilio))
                    deliverers[Channel.SMS_TWILIO] = TwilioDeliverer(settings.twilio, http)
            dispatcher = OutboxDispatcher(app[keys.SESSIONMAKER], deliverers, app[keys.CLOCK],
                                          sms_channel=settings.worker.sms_channel)
            app[keys.OUTBOX] = dispatcher
            if Role.WORKER in roles and settings.worker.outbox_enabled:
                await stack.enter_async_context(
                    outbox_worker(dispatcher, interval_s=settings.worker.outbox_interval_s))
                app[keys.INTAKE].on_commit = dispatcher.poke
                log.info("outbox worker running; deliverers: %s", ", ".join(sorted(deliverers)))
            if Role.WORKER in roles and settings.worker.sweeper_enabled:
                sweeper = Sweeper(app[keys.SESSIONMAKER], Context(
                    clock=app[keys.CLOCK], due=app[keys.DUE], sms_channel=settings.worker.sms_channel))
                await stack.enter_async_context(
                    sweeper_worker(sweeper, interval_s=settings.worker.sweeper_interval_s))
            if Role.SMTP in roles and settings.fax.enabled:
                fax = await stack.enter_async_context(
                    fax_smtp_server(settings.fax, sink))
                app[keys.FAX_PORT] = fax.port
            yield

    app.cleanup_ctx.append(running)
