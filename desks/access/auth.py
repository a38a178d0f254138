"""Passwords (argon2id) and API tokens (only their SHA-256 stored); who is calling.

A token is 32 random bytes, shown once when issued; the database holds its
SHA-256, so a leaked table grants nothing. ``authenticate`` reads the bearer
token first and then any extra credential source (the desk's cookie session),
so the desk plugs in without changing the handlers.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar

from aiohttp import web
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from desks.access.deps import API
from desks.access.principal import Principal
from registrar.models import Account, ApiToken, Unit

#: argon2id with the library's current recommended parameters.
DEFAULT_HASHER = PasswordHasher()
MIN_PASSWORD_CHARS = 10
T = TypeVar("T")


#: argon2 is slow by design; at most this many hashes run at once, each off the event loop.
HASHING_THREADS = 2


@functools.cache
def _hashing_pool() -> ThreadPoolExecutor:
    """Made on first use (threads only start when work is submitted), never at import."""
    return ThreadPoolExecutor(max_workers=HASHING_THREADS, thread_name_prefix="argon2")


async def off_loop(work: Callable[..., T], *args: Any) -> T:
    """Run CPU-heavy hashing in the bounded pool, so the loop keeps answering meanwhile."""
    return await asyncio.get_running_loop().run_in_executor(_hashing_pool(), work, *args)


@functools.cache
def _dummy_hash(hasher: PasswordHasher) -> str:
    """Verified against when the username is unknown, so a miss costs as long as a hit."""
    return hasher.hash("no such account, no such password")


class AuthError(Exception):
    """The caller could not be authenticated (answered 401)."""


def hash_password(password: str, *, hasher: PasswordHasher = DEFAULT_HASHER) -> str:
    if len(password) < MIN_PASSWORD_CHARS:
        raise ValueError(f"密码至少 {MIN_PASSWORD_CHARS} 个字符")
    return hasher.hash(password)


async def verify_password(session: AsyncSession, username: str, password: str, *,
                          hasher: PasswordHasher = DEFAULT_HASHER) -> Account | None:
    """The active account if the password is right (rehashed if the parameters aged), else None."""
    account = (await session.execute(select(Account).where(Account.username == username))
               ).scalar_one_or_none()
    stored = account.password_hash if account else await off_loop(_dummy_hash, hasher)
    try:
        await off_loop(hasher.verify, stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if account is None or not account.active:
        return None
    if hasher.check_needs_rehash(account.password_hash):
        account.password_hash = await off_loop(hasher.hash, password)
    return account


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue_token(session: AsyncSession, account: Account, *, label: str, now: datetime) -> str:
    """A new bearer token for ``account``; the caller shows it once, only its hash is kept."""
    token = secrets.token_urlsafe(32)
    session.add(ApiToken(token_sha256=token_digest(token), account_id=account.id,
                         label=label[:100] or "api", created_at=now, revoked_at=None))
    await session.flush()
    return token


async def revoke_tokens(session: AsyncSession, account: Account, *, now: datetime,
                        label: str | None = None) -> int:
    """Revoke the account's live tokens (those with ``label`` only, if given); how many."""
    query = select(ApiToken).where(ApiToken.account_id == account.id, ApiToken.revoked_at.is_(None))
    if label is not None:
        query = query.where(ApiToken.label == label)
    rows = list((await session.execute(query.with_for_update())).scalars())
    for row in rows:
        row.revoked_at = now
    return len(rows)


async def principal_of(session: AsyncSession, account: Account, *, via: str) -> Principal:
    unit = await session.get(Unit, account.unit_id) if account.unit_id is not None else None
    return Principal(account_id=account.id, username=account.username,
                     display_name=account.display_name, role=account.role,
                     unit_code=unit.code if unit else None, unit_kind=unit.kind if unit else None,
                     unit_district=unit.district if unit else None, via=via,
                     unit_name=unit.name if unit else None)


async def principal_for_token(session: AsyncSession, token: str) -> Principal | None:
    """The principal of a live token of an active account, or None."""
    account = (await session.execute(
        select(Account).join(ApiToken, ApiToken.account_id == Account.id)
        .where(ApiToken.token_sha256 == token_digest(token), ApiToken.revoked_at.is_(None),
               Account.active.is_(True)))).scalar_one_or_none()
    return None if account is None else await principal_of(session, account, via="token")


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


async def authenticate(request: web.Request, session: AsyncSession) -> Principal:
    """The caller of ``request``: bearer token first, then the extra sources; else ``AuthError``."""
    token = bearer_token(request)
    if token is not None:
        principal = await principal_for_token(session, token)
        if principal is None:
            raise AuthError("the token is unknown, revoked, or its account is inactive")
        return principal
    for source in request.config_dict[API].extra_sources:
        found = await source(request, session)
        if found is not None:
            return found
    raise AuthError("send Authorization: Bearer <token>")
