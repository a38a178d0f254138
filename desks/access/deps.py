"""What the API needs from the composition root, under the API's own ``web.AppKey``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desks.access.principal import Principal
from forwarder.workflow_base import Context

#: A second way to find the caller (the desk's cookie session): ``None`` when it does not apply.
CredentialSource = Callable[[web.Request, AsyncSession], Awaitable[Principal | None]]


@dataclass(slots=True)
class ApiDeps:
    """The database and the workflow context the API's handlers use."""

    sessionmaker: async_sessionmaker[AsyncSession]
    ctx: Context
    extra_sources: tuple[CredentialSource, ...] = field(default=())
    """Tried after the bearer token; a principal they return has ``via != "token"`` and its
    POSTs need a CSRF header (the desk adds its cookie session here)."""


API = web.AppKey("api", ApiDeps)
