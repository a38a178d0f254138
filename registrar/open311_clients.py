"""Open311 API clients: issue, list, revoke and check keys; count each call (rate limit).

A key is shown once, when issued; only its SHA-256 is stored, and a check
hashes what the caller sent and looks the hash up (a unique index), so the
comparison never depends on how much of a key was right. Calls are counted in
the shared throttle table (``registrar/throttle.py``) per client, so every web
process enforces one limit.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from registrar import throttle
from registrar.models_open311 import Open311Client

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_KEY_CHARS = 200


class ClientError(Exception):
    """The client cannot be added or revoked as asked (bad or taken name, unknown client)."""


@dataclass(frozen=True, slots=True)
class ClientRow:
    """One client as the admin desk and ``hotline open311 key list`` show it (no key)."""

    name: str
    created_at: datetime
    revoked_at: datetime | None


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()


async def add_client(session: AsyncSession, name: str, *, now: datetime) -> str:
    """Register ``name`` and return its new key (shown once; only the hash is kept)."""
    name = name.strip()
    if not NAME.match(name):
        raise ClientError("a client name is 1-64 letters, digits, '.', '_' or '-'")
    key = "o311_" + secrets.token_urlsafe(32)
    try:
        async with session.begin_nested():
            session.add(Open311Client(name=name, key_sha256=key_hash(key), created_at=now,
                                      revoked_at=None))
    except IntegrityError:
        raise ClientError(f"a client named {name!r} exists already (revoke it, add another)") from None
    return key


async def revoke_client(session: AsyncSession, name: str, *, now: datetime) -> None:
    """Stop ``name``'s key working at once; the row stays for the record."""
    row = (await session.execute(select(Open311Client).where(
        Open311Client.name == name.strip()))).scalar_one_or_none()
    if row is None:
        raise ClientError(f"no client named {name!r}")
    if row.revoked_at is None:
        row.revoked_at = now


async def list_clients(session: AsyncSession) -> list[ClientRow]:
    rows = (await session.execute(select(Open311Client).order_by(Open311Client.name))).scalars()
    return [ClientRow(r.name, r.created_at, r.revoked_at) for r in rows]


async def client_for_key(session: AsyncSession, key: str) -> str | None:
    """The name of the live client whose key this is, or None."""
    if not key or len(key) > MAX_KEY_CHARS:
        return None
    return (await session.execute(select(Open311Client.name).where(
        Open311Client.key_sha256 == key_hash(key), Open311Client.revoked_at.is_(None)))
    ).scalar_one_or_none()


async def admit(session: AsyncSession, key: str, limit: throttle.Limit, *,
                now: datetime) -> tuple[str | None, float]:
    """``(client, wait_s)``: whose key, and how long it must still wait (0: this call counts
    and goes ahead). A client already waiting is refused without being counted again."""
    client = await client_for_key(session, key)
    if client is None:
        return None, 0.0
    row_key = throttle.key("open311-client", client)
    waiting = await throttle.wait_s(session, [row_key], now=now)
    if waiting > 0:
        return client, waiting
    await throttle.hit(session, row_key, limit, now=now)
    return client, 0.0
