"""Attempt counters in the database, shared by every web process and kept across restarts.

One row per key (``login-addr:203.0.113.7``, ``status-case:FZ…``): how many attempts
since the window started, and until when the key must wait. The first ``free``
attempts of a window cost nothing; each one after doubles the wait, up to
``max_wait_s``: a backoff, never a lock that an attacker could hold on someone
else's account. Rows whose window and wait are over are deleted as new attempts
come in, so the table holds only recent traffic, however many names are tried.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from registrar.models import ThrottleRecord

#: Rows untouched for this long are deleted (longer than any window or wait below).
KEEP = timedelta(days=1)
MAX_KEY_CHARS = 200


@dataclass(frozen=True, slots=True)
class Limit:
    """``free`` attempts per ``window_s`` go straight through; the attempt after waits 1 s,
    the next 2 s, then 4 s …, capped at ``max_wait_s``."""

    free: int
    window_s: float
    max_wait_s: float

    def wait_after(self, count: int) -> float:
        """Seconds to wait after the ``count``-th attempt of a window."""
        over = count - self.free
        return 0.0 if over < 0 else min(self.max_wait_s, 2.0 ** min(over, 30))


def key(kind: str, value: str) -> str:
    """A bounded row key: the kind, then the (lower-cased, cut) value."""
    return f"{kind}:{value.strip().lower()}"[:MAX_KEY_CHARS]


async def wait_s(session: AsyncSession, keys: list[str], *, now: datetime) -> float:
    """How long the longest-blocked of ``keys`` must still wait (0: go ahead)."""
    rows = (await session.execute(select(ThrottleRecord.blocked_until).where(
        ThrottleRecord.key.in_(keys), ThrottleRecord.blocked_until > now))).scalars().all()
    return max(((until - now).total_seconds() for until in rows if until is not None), default=0.0)


async def hit(session: AsyncSession, row_key: str, limit: Limit, *, now: datetime) -> float:
    """Count one attempt under ``row_key``; returns the wait it earned (0 while free)."""
    await _prune(session, now=now)
    values = {"key": row_key, "count": 0, "window_start": now, "blocked_until": None}
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    await session.execute(insert(ThrottleRecord).values(**values).on_conflict_do_nothing())
    row = (await session.execute(select(ThrottleRecord).where(ThrottleRecord.key == row_key)
                                 .with_for_update().execution_options(populate_existing=True))
           ).scalar_one()
    blocked = row.blocked_until is not None and row.blocked_until > now
    if not blocked and row.window_start <= now - timedelta(seconds=limit.window_s):
        row.count, row.window_start = 0, now
    row.count += 1
    wait = limit.wait_after(row.count)
    if wait:
        row.blocked_until = now + timedelta(seconds=wait)
    await session.flush()
    return wait


async def clear(session: AsyncSession, row_key: str) -> None:
    """Forget the key (a successful sign-in clears its own address's count)."""
    await session.execute(delete(ThrottleRecord).where(ThrottleRecord.key == row_key))


async def _prune(session: AsyncSession, *, now: datetime) -> None:
    old = now - KEEP
    await session.execute(delete(ThrottleRecord).where(
        ThrottleRecord.window_start < old,
        or_(ThrottleRecord.blocked_until.is_(None), and_(ThrottleRecord.blocked_until < now))))
