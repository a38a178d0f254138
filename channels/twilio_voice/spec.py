"""Voice calls through Twilio as a registered channel: webhooks where the web role runs.

The voicemail becomes a case inside the recording callback, and the
transcription worker (``intake.transcribe``), not this channel, turns its
speech into machine text. Where the worker role runs and ``outbound_from`` is
set, the channel offers the outbox its calls (``outbound.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from aiohttp import web

from channels.twilio_voice.outbound import TwilioCallDeliverer
from channels.twilio_voice.settings import TwilioVoiceSettings
from channels.twilio_voice.webhook import add_voice_routes
from contract.channel import WORKER, ChannelPorts, ChannelSpec, Started


def _routes(app: web.Application, settings: TwilioVoiceSettings, ports: ChannelPorts,
            roles: frozenset[str]) -> None:
    add_voice_routes(app, settings, ports)


@asynccontextmanager
async def _start(settings: TwilioVoiceSettings, ports: ChannelPorts,
                 roles: frozenset[str]) -> AsyncIterator[Started]:
    if WORKER not in roles or not settings.outbound_from:
        yield Started()
        return
    # Outbound calls for the outbox: answers to landlines, 回访 keypad menus.
    timeout = aiohttp.ClientTimeout(total=settings.request_timeout_s)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        yield Started(deliverers=(TwilioCallDeliverer(settings, http, ports.signer),))


SPEC = ChannelSpec(name="twilio_voice", title="Voice calls through Twilio (menu, voicemail, outbound calls)",
                   settings_model=TwilioVoiceSettings, start=_start, routes=_routes)
