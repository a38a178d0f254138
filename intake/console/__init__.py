"""The agent console: call-centre agents log calls and transcribe faxes (R5.1).

It lives on the intake side because it is a channel: what an agent types
becomes an ``Envelope`` on the intake service, like an SMS or a web form. It
uses the desk's sign-in (``forwarder.desk``) and its pages extend the desk's
base template; the forwarder never imports it.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from config.organisation import load_organisation
from intake import keys
from intake.console.attachments import add_attachment_routes
from intake.console.hub import HUB, ConsoleHub, announce_call
from intake.console.routes import DISTRICTS, add_console_routes
from intake.console.transcription import add_transcription_routes

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"


def setup_console(app: web.Application) -> None:
    """Mount the console on ``app`` (after ``setup_desk``, whose sign-in guards these pages)."""
    hub = ConsoleHub()
    app[HUB] = hub
    app[DISTRICTS] = load_organisation(app[keys.SETTINGS].organisation_path).districts

    async def on_shutdown(app: web.Application) -> None:
        # Open websockets would hold the server's shutdown until their timeout.
        await hub.close_all()

    app.on_shutdown.append(on_shutdown)
    add_console_routes(app)
    add_transcription_routes(app)
    add_attachment_routes(app)
    app.router.add_static("/static/console", STATIC)


__all__ = ["HUB", "TEMPLATES", "ConsoleHub", "announce_call", "setup_console"]
