"""The desks: server-rendered workspaces for staff, signed in by cookie sessions.

Pages render state on the server; their action forms post JSON to ``/api/``
(``static/desk.js``) with the session's CSRF token, so every permission and
workflow rule is enforced in one place, the API.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

from aiohttp import web

from desks.staff.answer_photos import add_answer_photo_routes
from desks.staff.auth_pages import add_auth_routes, signed_in
from desks.staff.deps import DESK, DeskDeps
from desks.staff.pages_admin import add_admin_pages
from desks.staff.pages_bulletins import add_bulletin_pages
from desks.staff.pages_cases import add_case_pages
from desks.staff.pages_cockpit import add_cockpit_pages
from desks.staff.pages_findings import add_findings_pages
from desks.staff.pages_knowledge import add_knowledge_pages
from desks.staff.pages_supervision import add_supervision_pages

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"


def setup_desk(app: web.Application, deps_factory: Callable[[], DeskDeps]) -> None:
    """Mount the desk pages on ``app``; ``deps_factory`` runs once the database is up."""

    async def deps(app: web.Application) -> AsyncIterator[None]:
        app[DESK] = deps_factory()
        yield

    app.cleanup_ctx.append(deps)
    app.middlewares.append(signed_in)
    add_auth_routes(app)
    add_admin_pages(app)
    add_case_pages(app)
    add_supervision_pages(app)
    add_findings_pages(app)
    add_cockpit_pages(app)
    add_bulletin_pages(app)
    add_knowledge_pages(app)
    add_answer_photo_routes(app)
    app.router.add_static("/desk/static", STATIC)


__all__ = ["DESK", "TEMPLATES", "DeskDeps", "setup_desk"]
