"""SMS through Twilio as a registered channel: webhooks where the web role runs
(plus reconciliation when the worker runs there too), sends where the worker runs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from channels.sms_twilio.deliver import TwilioDeliverer
from channels.sms_twilio.settings import TwilioSettings
from channels.sms_twilio.webhook import add_twilio_routes, twilio_http
from contract.channel import WORKER, ChannelPorts, ChannelSpec, Started


def _routes(app: web.Application, settings: TwilioSettings, ports: ChannelPorts,
            roles: frozenset[str]) -> None:
    add_twilio_routes(app, settings=settings, sink=ports.sink, commands=ports.commands,
                      status_recorder=ports.record_status, clock=ports.clock.now,
                      data_dir=ports.data_dir, reconcile=WORKER in roles)


@asynccontextmanager
async def _start(settings: TwilioSettings, ports: ChannelPorts,
                 roles: frozenset[str]) -> AsyncIterator[Started]:
    if WORKER not in roles:
        yield Started()
        return
    async with twilio_http(settings) as http:
        yield Started(deliverers=(TwilioDeliverer(settings, http),))


SPEC = ChannelSpec(name="twilio", title="SMS through Twilio (webhook, reconciliation, sends)",
                   settings_model=TwilioSettings, start=_start, routes=_routes)
