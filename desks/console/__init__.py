"""The agent console: call-centre agents log calls and transcribe faxes (R5.1).

What an agent types becomes an ``Envelope`` on the intake sink, like an SMS
or a web form; the console reaches the sink only through ``ConsoleDeps``. It
uses the desk's sign-in (``desks.staff``) and its pages extend the desk's
base template; the forwarder never imports it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

from aiohttp import web

from desks.console.attachments import add_attachment_routes
from desks.console.consult import add_consult_routes
from desks.console.deps import CONSOLE, ConsoleDeps
from desks.console.emergency import add_emergency_routes
from desks.console.hub import HUB, ConsoleHub, announce_call
from desks.console.presence import add_presence_routes
from desks.console.routes import add_console_routes
from desks.console.transcription import add_transcription_routes
from desks.staff.deps import AGENT_PHONES

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"


def setup_console(app: web.Application, deps_factory: Callable[[], ConsoleDeps]) -> None:
    """Mount the console on ``app`` (after ``setup_desk``, whose sign-in guards these pages).

    ``deps_factory`` runs once the database is up.
    """
    hub = ConsoleHub()
    app[HUB] = hub

    async def deps(app: web.Application) -> AsyncIterator[None]:
        console = app[CONSOLE] = deps_factory()
        if console.presence is not None:  # the sign-in form takes an agent's phone too
            app[AGENT_PHONES] = console.presence
        yield

    app.cleanup_ctx.append(deps)

    async def on_shutdown(app: web.Application) -> None:
        # Open websockets would hold the server's shutdown until their timeout.
        await hub.close_all()

    app.on_shutdown.append(on_shutdown)
    add_console_routes(app)
    add_transcription_routes(app)
    add_attachment_routes(app)
    add_consult_routes(app)
    add_presence_routes(app)
    add_emergency_routes(app)
    app.router.add_static("/static/console", STATIC)


__all__ = ["CONSOLE", "HUB", "TEMPLATES", "ConsoleDeps", "ConsoleHub", "announce_call", "setup_console"]
