"""What every part of the bench shares: the load generator as a child process, and serving an app."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from aiohttp import web

from intake.serving import settle_heap


async def load(*argv: str) -> dict[str, Any]:
    """Run the load generator in its own process; its JSON report."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.load", *argv, stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed ({proc.returncode}): {argv}")
    report: dict[str, Any] = json.loads(out)
    if report["errors"]:
        print(f"  ! {report['errors']} refused, e.g. {report['first_errors']}")
    return report


async def serve(app: web.Application) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    settle_heap()  # as ``hotline serve`` does once started
    server = site._server
    assert server is not None and server.sockets  # type: ignore[attr-defined]
    return runner, int(server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]


def hello_world() -> web.Application:
    async def hello(_request: web.Request) -> web.Response:
        return web.Response(text="Hello, world")

    app = web.Application()
    app.router.add_get("/", hello)
    return app
