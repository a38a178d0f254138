"""Staff sign-in for the desks: signed cookie sessions, CSRF tokens, login throttling.

The cookie holds ``account id . issued-at . nonce . signature``; the signature
also covers the tail of the account's password hash, so changing the password
ends every other session. The CSRF token is derived from the nonce: forms carry
it in a hidden field, the desk's scripts in an ``X-CSRF-Token`` header when they
call ``/api/``. Failed sign-ins are throttled per account and address.
"""

from __future__ import annotations

import secrets
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from contract.signing import Signer
from desks.access.auth import principal_of
from desks.access.principal import Principal
from registrar.models import Account

COOKIE = "hotline_desk"
SESSION_PURPOSE = "desk-session"
CSRF_PURPOSE = "desk-csrf"
MAX_AGE_S = 12 * 3600
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(slots=True)
class LoginThrottle:
    """At most ``per_pair`` failures per (account, address) and ``per_account`` per account
    in ``window_s``; beyond that, sign-in is refused until old failures age out."""

    per_pair: int = 5
    per_account: int = 20
    window_s: float = 900.0
    monotonic: Callable[[], float] = time.monotonic
    _failures: dict[tuple[str, str], deque[float]] = field(default_factory=lambda: defaultdict(deque))
    _by_account: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))

    def _trim(self, q: deque[float]) -> deque[float]:
        limit = self.monotonic() - self.window_s
        while q and q[0] < limit:
            q.popleft()
        return q

    def blocked(self, username: str, address: str) -> bool:
        user = username.strip().lower()
        return (len(self._trim(self._failures[(user, address)])) >= self.per_pair
                or len(self._trim(self._by_account[user])) >= self.per_account)

    def failed(self, username: str, address: str) -> None:
        user = username.strip().lower()
        now = self.monotonic()
        self._failures[(user, address)].append(now)
        self._by_account[user].append(now)

    def succeeded(self, username: str, address: str) -> None:
        self._failures.pop((username.strip().lower(), address), None)


@dataclass(frozen=True, slots=True)
class DeskSession:
    """A signed-in member of staff."""

    principal: Principal
    csrf: str


class DeskSessions:
    """Issues and checks the desk cookie."""

    def __init__(self, signer: Signer, *, secure: bool = False,
                 clock: Callable[[], float] = time.time) -> None:
        self.signer = signer
        self.secure = secure
        self.clock = clock

    def _material(self, account: Account, issued: int, nonce: str) -> str:
        return f"{account.id}.{issued}.{nonce}.{account.password_hash[-16:]}"

    def issue(self, response: web.StreamResponse, account: Account) -> str:
        """Set the session cookie; returns the CSRF token of the new session."""
        issued = int(self.clock())
        nonce = secrets.token_urlsafe(16)
        signature = self.signer.sign(SESSION_PURPOSE, self._material(account, issued, nonce))
        response.set_cookie(COOKIE, f"{account.id}.{issued}.{nonce}.{signature}", httponly=True,
                            samesite="Strict", secure=self.secure, path="/", max_age=MAX_AGE_S)
        return self.signer.sign(CSRF_PURPOSE, nonce)

    @staticmethod
    def clear(response: web.StreamResponse) -> None:
        response.del_cookie(COOKIE, path="/")

    async def current(self, request: web.Request, session: AsyncSession) -> DeskSession | None:
        """The signed-in staff member, or None (bad, expired or stale cookie)."""
        raw = request.cookies.get(COOKIE, "")
        parts = raw.split(".")
        if len(parts) != 4 or not parts[0].isdigit() or not parts[1].isdigit():
            return None
        account_id, issued, nonce, signature = int(parts[0]), int(parts[1]), parts[2], parts[3]
        if not 0 <= self.clock() - issued <= MAX_AGE_S:
            return None
        account = await session.get(Account, account_id)
        if account is None or not account.active:
            return None
        if not self.signer.verify(SESSION_PURPOSE, self._material(account, issued, nonce), signature):
            return None
        principal = await principal_of(session, account, via="desk")
        return DeskSession(principal, self.signer.sign(CSRF_PURPOSE, nonce))

    async def api_source(self, request: web.Request, session: AsyncSession) -> Principal | None:
        """The API's second credential source: the desk cookie, with the CSRF header on writes."""
        desk = await self.current(request, session)
        if desk is None:
            return None
        if request.method not in SAFE_METHODS and not secrets.compare_digest(
                request.headers.get("X-CSRF-Token", ""), desk.csrf):
            return None
        return desk.principal
