"""Voice calls through Twilio as a registered channel: webhooks where the web role runs.

Nothing runs in the worker role: the voicemail becomes a case inside the
recording callback, and the transcription worker (``intake.transcribe``), not
this channel, turns its speech into machine text.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from channels.twilio_voice.settings import TwilioVoiceSettings
from channels.twilio_voice.webhook import add_voice_routes
from contract.channel import ChannelPorts, ChannelSpec, Started


def _routes(app: web.Application, settings: TwilioVoiceSettings, ports: ChannelPorts,
            roles: frozenset[str]) -> None:
    add_voice_routes(app, settings, ports)


@asynccontextmanager
async def _start(settings: TwilioVoiceSettings, ports: ChannelPorts,
                 roles: frozenset[str]) -> AsyncIterator[Started]:
    yield Started()


SPEC = ChannelSpec(name="twilio_voice", title="Voice calls through Twilio (menu, voicemail)",
                   settings_model=TwilioVoiceSettings, start=_start, routes=_routes)
