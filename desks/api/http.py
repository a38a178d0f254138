"""Plumbing every API handler shares: JSON errors, the body, one transaction per request.

``transaction`` authenticates inside the request's transaction, so a token
revoked a moment ago cannot act, and what the action writes commits together
or not at all (DESIGN.md invariant 3). A ``WorkflowError`` leaving the block
rolls it back and is answered by ``json_errors`` with the mapped status.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from desks.access.auth import AuthError, authenticate
from desks.access.deps import API
from desks.access.errors import ApiError
from desks.access.principal import Principal
from forwarder.workflow_base import WorkflowError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Json = dict[str, Any]
CSRF_HEADER = "X-CSRF-Token"


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every refusal under /api/ is JSON, including aiohttp's own 404 and 405."""
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.response()
    except WorkflowError as exc:
        return ApiError.from_workflow(exc).response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(exc.status, "http")
        return ApiError(exc.status, code, exc.reason).response()


@asynccontextmanager
async def transaction(request: web.Request, *, write: bool) -> AsyncIterator[tuple[AsyncSession,
                                                                                   Principal]]:
    """One transaction with the authenticated caller; 401 when there is none."""
    async with request.config_dict[API].sessionmaker.begin() as session:
        try:
            principal = await authenticate(request, session)
        except AuthError as exc:
            raise ApiError(401, "unauthorized", str(exc)) from None
        if write and principal.via != "token" and not request.headers.get(CSRF_HEADER):
            # A browser adds cookies by itself, never this header: refuse cross-site posts.
            raise ApiError.forbidden(f"a session-authenticated POST needs the {CSRF_HEADER} header")
        yield session, principal


async def read_body(request: web.Request) -> str | None:
    """The body as sent (bounded by the app's ``client_max_size``), read before any
    transaction so a slow client holds no connection; parsed by ``parse_body`` only once
    the caller is authenticated (a stranger's deeply nested JSON costs nothing)."""
    if not request.body_exists:
        return None
    try:
        return await request.text()
    except UnicodeDecodeError:
        raise ApiError.invalid("the body is not JSON (UTF-8)") from None


def parse_body(raw: str | None) -> Json:
    """The JSON object in the body (no body: ``{}``); 400 for anything else."""
    if raw is None:
        return {}
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ApiError.invalid("the body is not JSON (UTF-8)") from None
    except RecursionError:
        raise ApiError.invalid("the body is nested too deeply") from None
    if not isinstance(data, dict):
        raise ApiError.invalid("the body must be a JSON object")
    return data


def text(body: Json, key: str, *, required: bool = True) -> str:
    value = body.get(key)
    if value is None:
        if required:
            raise ApiError.invalid(f"{key!r} is required")
        return ""
    if not isinstance(value, str):
        raise ApiError.invalid(f"{key!r} must be a string")
    if required and not value.strip():
        raise ApiError.invalid(f"{key!r} must not be empty")
    return value


def optional_text(body: Json, key: str) -> str | None:
    return text(body, key, required=False).strip() or None


def flag(body: Json, key: str, *, default: bool | None = False) -> bool:
    value = body.get(key, default)
    if not isinstance(value, bool):
        raise ApiError.invalid(f"{key!r} must be true or false" + (" and is required"
                                                                   if default is None else ""))
    return value


def texts(body: Json, key: str) -> list[str]:
    value = body.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiError.invalid(f"{key!r} must be a list of strings")
    return value
