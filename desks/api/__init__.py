"""The JSON API under ``/api/``: bureaus, units and supervisors drive the workflow by HTTP.

The forwarder may not import the intake service, so the API declares its own
``web.AppKey`` and receives what it needs (the sessionmaker, the workflow
``Context``) from the composition root through ``setup_api``::

    setup_api(app, lambda: ApiDeps(sessionmaker=app[keys.SESSIONMAKER], ctx=Context(...)))

The factory runs in a cleanup context appended after the database's, so the
sessionmaker exists when it is called.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from aiohttp import web

from desks.access.deps import API, ApiDeps
from desks.api.routes import api_app


def setup_api(app: web.Application, deps_factory: Callable[[], ApiDeps]) -> None:
    """Mount ``/api/`` on ``app``; ``deps_factory`` is called once the database is up."""

    async def deps(app: web.Application) -> AsyncIterator[None]:
        app[API] = deps_factory()
        yield

    app.cleanup_ctx.append(deps)
    app.add_subapp("/api", api_app())


__all__ = ["API", "ApiDeps", "setup_api"]
