"""Open311 GeoReport v2 as a registered channel: routes where the web role runs, and the
drain of deferred requests beside them (the spool lives where the routes write it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp import web

from channels.open311.routes import Open311Api
from channels.open311.settings import Open311Settings
from channels.open311.spool import Spool, drain_job
from contract.channel import WEB, ChannelPorts, ChannelSpec, Started


def _spool(settings: Open311Settings, ports: ChannelPorts) -> Spool | None:
    if not settings.defer_when_store_down:
        return None
    return Spool(Path(settings.spool_dir) if settings.spool_dir
                 else ports.data_dir / "open311" / "spool")


def _routes(app: web.Application, settings: Open311Settings, ports: ChannelPorts,
            roles: frozenset[str]) -> None:
    Open311Api(settings, ports, _spool(settings, ports)).add_routes(app)


@asynccontextmanager
async def _start(settings: Open311Settings, ports: ChannelPorts,
                 roles: frozenset[str]) -> AsyncIterator[Started]:
    spool = _spool(settings, ports)
    if WEB not in roles or spool is None:
        yield Started()
        return
    async with drain_job(spool, ports.sink, interval_s=settings.drain_interval_s):
        yield Started(listening=("Open311 GeoReport v2 at /open311/v2/",))


SPEC = ChannelSpec(name="open311", title="Open311 GeoReport v2 (apps and partner systems)",
                   settings_model=Open311Settings, start=_start, routes=_routes)
