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
from typing import Any, TypeVar

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from desks.access.auth import AuthError, authenticate
from desks.access.deps import API
from desks.access.errors import ApiError, json_reply
from desks.access.permissions import require_role
from desks.access.principal import Principal
from forwarder.workflow_base import Context, WorkflowError

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
        raise ApiError.invalid("请求内容不是 JSON（UTF-8）") from None
    except RecursionError:
        raise ApiError.invalid("请求内容嵌套过深") from None
    if not isinstance(data, dict):
        raise ApiError.invalid("请求内容须为 JSON 对象")
    return data


#: Body fields as the desk's forms label them: a refusal names the field the person filled.
FIELD_WORDS: dict[str, str] = {
    "unit": "主办单位", "text": "答复内容", "reason": "理由", "note": "说明", "parts": "拆分事项",
    "co_units": "协办单位", "comment": "审核意见", "opinion": "协调意见", "proposed_unit": "建议单位",
    "redispatch_to": "改派单位", "passed": "审核结论", "accept": "是否同意", "publish": "是否公开",
    "internal_reason": "内部办理理由", "done": "已办理情况", "problems": "存在问题",
    "measures": "下一步措施"}


def _field(key: str) -> str:
    return FIELD_WORDS.get(key, f"“{key}”")


def text(body: Json, key: str, *, required: bool = True) -> str:
    value = body.get(key)
    if value is None:
        if required:
            raise ApiError.invalid(f"请填写{_field(key)}")
        return ""
    if not isinstance(value, str):
        raise ApiError.invalid(f"{_field(key)}应为文字")
    if required and not value.strip():
        raise ApiError.invalid(f"请填写{_field(key)}")
    return value


def optional_text(body: Json, key: str) -> str | None:
    return text(body, key, required=False).strip() or None


def flag(body: Json, key: str, *, default: bool | None = False) -> bool:
    value = body.get(key, default)
    if not isinstance(value, bool):
        raise ApiError.invalid(f"请选择{_field(key)}（是或否）")
    return value


def texts(body: Json, key: str) -> list[str]:
    value = body.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiError.invalid(f"{_field(key)}应为文字列表")
    return value


T = TypeVar("T")


def target_post(action: str, key: str,
                find: Callable[[AsyncSession, Principal, str], Awaitable[T]],
                call: Callable[[AsyncSession, Context, T, Principal, Json], Awaitable[Json]]) -> Handler:
    """A POST on one thing (a case, an assignment, a finding) in the API's order of checks:
    the body read before the transaction, then 401 → 403 (role) → 400 (body) → 404 (``find``
    by the path's ``key``) → the action itself, all in one transaction."""

    async def handler(request: web.Request) -> web.Response:
        raw = await read_body(request)
        async with transaction(request, write=True) as (session, principal):
            require_role(principal, action)
            body = parse_body(raw)
            target = await find(session, principal, request.match_info[key])
            result = await call(session, request.config_dict[API].ctx, target, principal, body)
            await session.flush()
        return json_reply(result)
    return handler
