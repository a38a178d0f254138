"""Real-socket helpers for the slow-client tests (web and SMTP): serve on a free port, trickle."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from aiohttp import web

from config.settings import WebSettings
from intake.serving import runner_for


@asynccontextmanager
async def served(app: web.Application, settings: WebSettings) -> AsyncIterator[int]:
    """``app`` as ``hotline serve`` runs it (``intake.serving``), on a free port of 127.0.0.1."""
    runner = runner_for(app, settings)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()


async def trickle(writer: asyncio.StreamWriter, data: bytes, *, every_s: float = 0.05,
                  piece: int = 1) -> None:
    """Send ``data`` ``piece`` bytes every ``every_s`` until it runs out or the peer hangs up."""
    with suppress(ConnectionError):
        for at in range(0, len(data), piece):
            writer.write(data[at:at + piece])
            await writer.drain()
            await asyncio.sleep(every_s)
