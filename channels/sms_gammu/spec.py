"""SMS over a GSM modem as a registered channel (role ``gammu``).

Inbound and outbound share the one modem thread, so the modem's deliverer
lives in the process that owns the modem: run ``--only gammu`` beside a worker.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from channels.sms_gammu.adapter import gammu_sms_channel
from channels.sms_gammu.settings import GammuSettings
from contract.channel import ChannelPorts, ChannelSpec, Started

ROLE = "gammu"


@asynccontextmanager
async def _start(settings: GammuSettings, ports: ChannelPorts,
                 roles: frozenset[str]) -> AsyncIterator[Started]:
    if ROLE not in roles:
        yield Started()
        return
    async with gammu_sms_channel(settings, ports.sink, ports.commands, now=ports.clock.now) as modem:
        yield Started(deliverers=(modem.deliverer,), listening=(
            f"SMS modem {settings.model or 'auto'} at {settings.device}",))


SPEC = ChannelSpec(name="gammu", title="SMS through a GSM modem (python-gammu)",
                   settings_model=GammuSettings, start=_start, role=ROLE)
