"""Staff sign-in for the desks: server-side sessions behind a cookie, and CSRF tokens.

The cookie holds a random secret; the database holds its SHA-256 in a
``desk_session`` row, so a session ends for every copy of the cookie when the
row is revoked: on logout, on a password change or reset, on deactivation.
The CSRF token is an HMAC of the secret: forms carry it in a hidden field, the
desk's scripts in an ``X-CSRF-Token`` header when they call ``/api/``.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiohttp import web
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from contract.signing import Signer
from desks.access.auth import principal_of
from desks.access.principal import Principal
from registrar.models import Account, DeskSessionRecord

COOKIE = "hotline_desk"
CSRF_PURPOSE = "desk-csrf"
MAX_AGE = timedelta(hours=12)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class DeskSession:
    """A signed-in member of staff."""

    principal: Principal
    csrf: str
    session_id: int = 0


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "replace")).hexdigest()


def csrf_matches(submitted: str, expected: str) -> bool:
    """Constant-time comparison that also takes what a client may send (any text)."""
    return secrets.compare_digest(submitted.encode("utf-8", "replace"), expected.encode())


async def end_sessions(session: AsyncSession, account_id: int, *, now: datetime,
                       keep: int | None = None) -> None:
    """Revoke every live desk session of the account (but ``keep``, the caller's own)."""
    query = update(DeskSessionRecord).where(DeskSessionRecord.account_id == account_id,
                                            DeskSessionRecord.revoked_at.is_(None))
    if keep is not None:
        query = query.where(DeskSessionRecord.id != keep)
    await session.execute(query.values(revoked_at=now))


class DeskSessions:
    """Issues, checks and ends desk sessions."""

    def __init__(self, signer: Signer, *, secure: bool = False,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.signer = signer
        self.secure = secure
        self.now = now

    async def issue(self, session: AsyncSession, response: web.StreamResponse,
                    account: Account) -> DeskSessionRecord:
        """Store a new session and set its cookie on ``response``."""
        now = self.now()
        # Expired rows go as new ones come, so the table holds only live sessions.
        await session.execute(delete(DeskSessionRecord).where(
            DeskSessionRecord.expires_at < now - timedelta(days=1)))
        secret = secrets.token_urlsafe(32)
        record = DeskSessionRecord(token_sha256=_digest(secret), account_id=account.id,
                                   created_at=now, expires_at=now + MAX_AGE, revoked_at=None)
        session.add(record)
        await session.flush()
        response.set_cookie(COOKIE, secret, httponly=True, samesite="Strict", secure=self.secure,
                            path="/", max_age=int(MAX_AGE.total_seconds()))
        return record

    @staticmethod
    def clear(response: web.StreamResponse) -> None:
        response.del_cookie(COOKIE, path="/")

    async def end(self, session: AsyncSession, session_id: int) -> None:
        """Revoke one session (logout): every copy of its cookie stops working."""
        await session.execute(update(DeskSessionRecord).where(
            DeskSessionRecord.id == session_id, DeskSessionRecord.revoked_at.is_(None))
            .values(revoked_at=self.now()))

    async def current(self, request: web.Request, session: AsyncSession) -> DeskSession | None:
        """The signed-in staff member, or None (unknown, expired, revoked or inactive)."""
        secret = request.cookies.get(COOKIE, "")
        if not secret or len(secret) > 100:
            return None
        record = (await session.execute(select(DeskSessionRecord).where(
            DeskSessionRecord.token_sha256 == _digest(secret),
            DeskSessionRecord.revoked_at.is_(None),
            DeskSessionRecord.expires_at > self.now()))).scalar_one_or_none()
        if record is None:
            return None
        account = await session.get(Account, record.account_id)
        if account is None or not account.active:
            return None
        principal = await principal_of(session, account, via="desk")
        return DeskSession(principal, self.signer.sign(CSRF_PURPOSE, secret), record.id)

    async def api_source(self, request: web.Request, session: AsyncSession) -> Principal | None:
        """The API's second credential source: the desk cookie, with the CSRF header on writes."""
        desk = await self.current(request, session)
        if desk is None:
            return None
        if request.method not in SAFE_METHODS and not csrf_matches(
                request.headers.get("X-CSRF-Token", ""), desk.csrf):
            return None
        return desk.principal
