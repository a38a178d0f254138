"""The citizen web form as a registered channel: routes only, no listener of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp import web

from channels.web.form import FormLimits
from channels.web.routes import CitizenWeb
from channels.web.settings import WebFormSettings
from contract.channel import ChannelPorts, ChannelSpec, Started

HERE = Path(__file__).resolve().parent


def _routes(app: web.Application, settings: WebFormSettings, ports: ChannelPorts,
            roles: frozenset[str]) -> None:
    citizen = CitizenWeb(
        sink=ports.sink,
        limits=FormLimits(
            max_attachments=settings.max_attachments,
            max_attachment_bytes=settings.max_attachment_bytes,
            allowed_types=frozenset(settings.allowed_attachment_types),
            districts=ports.districts,
        ),
        signer=ports.signer,
        now=ports.clock.now,
        csrf=ports.csrf,
        body_timeout_s=settings.body_timeout_s,
        offer_calls=ports.calls_out,
    )
    citizen.add_routes(app)
    app.router.add_static("/static/web", HERE / "static")


@asynccontextmanager
async def _start(settings: WebFormSettings, ports: ChannelPorts,
                 roles: frozenset[str]) -> AsyncIterator[Started]:
    yield Started()  # the form lives in its routes; nothing runs beside them


SPEC = ChannelSpec(name="web_form", title="citizen web form", settings_model=WebFormSettings,
                   start=_start, routes=_routes, templates=HERE / "templates")
