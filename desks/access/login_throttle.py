"""Failed sign-ins slow down, per address and per account, in the database.

Counters live in ``registrar.throttle`` rows, so every web process sees the
same counts and a restart forgets nothing; rows expire, so trying a million
usernames costs the server no memory. Waits grow (1 s, 2 s, 4 s …) instead of
locking: per address and per (account, address) they reach 15 minutes, per
account only a minute, so failures from other addresses can slow an account
down but never shut its owner out. Shared by the web sign-in and any other
place that checks a password.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from registrar import throttle
from registrar.throttle import Limit

PER_PAIR = Limit(free=5, window_s=900, max_wait_s=900)
PER_ADDRESS = Limit(free=20, window_s=900, max_wait_s=900)
PER_ACCOUNT = Limit(free=20, window_s=900, max_wait_s=60)


def _keys(username: str, address: str) -> tuple[str, str, str]:
    user = username.strip().lower()[:64]
    return (throttle.key("login-pair", f"{user}@{address}"), throttle.key("login-addr", address),
            throttle.key("login-user", user))


@dataclass(frozen=True, slots=True)
class LoginThrottle:
    """The sign-in throttle of one site; ``now`` is the app's clock."""

    now: Callable[[], datetime]

    async def wait_s(self, session: AsyncSession, username: str, address: str) -> float:
        """Seconds before this username may try again from this address (0: go ahead)."""
        return await throttle.wait_s(session, list(_keys(username, address)), now=self.now())

    async def failed(self, session: AsyncSession, username: str, address: str) -> None:
        now = self.now()
        for row_key, limit in zip(_keys(username, address), (PER_PAIR, PER_ADDRESS, PER_ACCOUNT),
                                  strict=True):
            await throttle.hit(session, row_key, limit, now=now)

    async def succeeded(self, session: AsyncSession, username: str, address: str) -> None:
        """The owner got in from here: this pair starts afresh (the others age out)."""
        await throttle.clear(session, _keys(username, address)[0])
