"""SMTP AUTH for fax gateways outside the allow-list, without argon2 on the event loop.

aiosmtpd's ``authenticator`` is called synchronously from its AUTH coroutine, so
an argon2 verification (tens of milliseconds and 64 MiB by default, by design)
stalled every connection, the web server's too, once per attempt. Instead the
handler defines aiosmtpd's ``auth_PLAIN`` / ``auth_LOGIN`` hooks (which replace
the built-in ones): they read the credentials with the server's own helpers and
await ``GatewayAuthenticator.check``, which runs the hash in a small thread pool
of its own. The pool's size bounds both the CPU and the memory that a burst of
attempts can take; argon2-cffi releases the GIL while it hashes.

A peer address gets ``max_failures`` wrong logins per ``window_s``; after that
every AUTH from it is refused without running argon2, until the window ends. At
most ``max_peers`` addresses are remembered (the oldest go first), so a flood of
addresses cannot grow the memory.
"""

from __future__ import annotations

import asyncio
import binascii
import logging
import time
from base64 import b64decode
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiosmtpd.smtp import MISSING, SMTP, AuthResult

log = logging.getLogger(__name__)

VERIFY_THREADS = 2


class GatewayAuthenticator:
    """Checks gateway logins against argon2 hashes in a bounded pool, with a per-peer limit."""

    def __init__(self, users: dict[str, str], *, max_failures: int = 5, window_s: float = 900.0,
                 max_peers: int = 4096, threads: int = VERIFY_THREADS,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        from argon2 import PasswordHasher

        self._users = users
        self._hasher = PasswordHasher()
        self._max_failures, self._window_s, self._max_peers = max_failures, window_s, max_peers
        self._monotonic = monotonic
        self._failures: OrderedDict[str, tuple[int, float]] = OrderedDict()
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="fax-auth")

    def close(self) -> None:
        """Stop the pool (verifications under way finish first)."""
        self._pool.shutdown(wait=True)

    def _blocked(self, peer: str) -> bool:
        count, since = self._failures.get(peer, (0, 0.0))
        if count and self._monotonic() - since > self._window_s:
            del self._failures[peer]
            return False
        return count >= self._max_failures

    def _failed(self, peer: str) -> None:
        count, since = self._failures.pop(peer, (0, self._monotonic()))
        self._failures[peer] = (count + 1, since)
        while len(self._failures) > self._max_peers:
            self._failures.popitem(last=False)

    def _verify(self, login: str, password: bytes) -> bool:
        """In a pool thread: argon2 against the stored hash (False for an unknown login)."""
        from argon2.exceptions import InvalidHashError, VerificationError

        stored = self._users.get(login)
        if stored is None:
            return False
        try:
            return bool(self._hasher.verify(stored, password))
        except (VerificationError, InvalidHashError):
            return False

    async def check(self, peer: str, login: bytes, password: bytes) -> AuthResult:
        """The AUTH outcome for these credentials from ``peer``."""
        if self._blocked(peer):
            log.warning("fax SMTP AUTH refused from %s: too many failures", peer)
            return AuthResult(success=False, handled=False)
        name = login.decode("utf-8", errors="replace")
        loop = asyncio.get_running_loop()
        if not await loop.run_in_executor(self._pool, self._verify, name, password):
            self._failed(peer)
            return AuthResult(success=False, handled=False)
        self._failures.pop(peer, None)
        return AuthResult(success=True, auth_data=name)


class AuthHooks:
    """aiosmtpd's ``auth_<MECHANISM>`` hooks, mixed into the fax handler."""

    _authenticator: GatewayAuthenticator | None

    async def _check(self, server: SMTP, login: bytes, password: bytes) -> AuthResult:
        if self._authenticator is None:  # no gateway logins configured
            return AuthResult(success=False, handled=False)
        peer = str(server.session.peer[0]) if server.session and server.session.peer else "?"
        return await self._authenticator.check(peer, login, password)

    async def auth_PLAIN(self, server: SMTP, args: list[str]) -> AuthResult:
        """RFC 4616: ``authzid NUL login NUL password``, inline or after a 334 challenge."""
        blob: Any = await server.challenge_auth("") if len(args) == 1 else _b64(args[1])
        if blob is MISSING:
            return AuthResult(success=False)
        if blob is None:
            await server.push("501 5.5.2 Can't decode base64")
            return AuthResult(success=False, handled=True)
        fields = bytes(blob).split(b"\x00")
        if len(fields) != 3:
            await server.push("501 5.5.2 Can't split auth value")
            return AuthResult(success=False, handled=True)
        return await self._check(server, fields[1], fields[2])

    async def auth_LOGIN(self, server: SMTP, args: list[str]) -> AuthResult:
        """The LOGIN mechanism: the user name (inline or challenged), then the password."""
        login: Any = (await server.challenge_auth(server.AuthLoginUsernameChallenge)
                      if len(args) == 1 else _b64(args[1]))
        if login is MISSING:
            return AuthResult(success=False)
        if login is None:
            await server.push("501 5.5.2 Can't decode base64")
            return AuthResult(success=False, handled=True)
        password: Any = await server.challenge_auth(server.AuthLoginPasswordChallenge)
        if password is MISSING:
            return AuthResult(success=False)
        return await self._check(server, bytes(login), bytes(password))


def _b64(text: str) -> bytes | None:
    try:
        return b64decode(text.encode(), validate=True)
    except (binascii.Error, ValueError):
        return None
