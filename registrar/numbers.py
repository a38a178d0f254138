"""Human-friendly case numbers: ``FZ12345-20261124-000017``.

The daily sequence lives in one row per local day. Incrementing it takes that
row's lock until the registering transaction ends, so concurrent registrations
on PostgreSQL queue for the next number and a rolled-back registration gives
its number back: numbers for a day are gap-free and never repeat.
"""

from __future__ import annotations

import secrets
from datetime import date
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Insert

from registrar.db import insert_in, prebuilt
from registrar.models import CaseSequence

QUERY_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def format_number(prefix: str, day: date, sequence: int) -> str:
    return f"{prefix}-{day:%Y%m%d}-{sequence:06d}"


async def next_sequence(session: AsyncSession, day: date) -> int:
    """Return the next number for ``day``, locking the day's row until the transaction ends."""
    return await take_sequence(session, day, 1)


async def take_sequence(session: AsyncSession, day: date, count: int) -> int:
    """Reserve ``count`` numbers of ``day`` in one statement; return the last of them.

    The numbers are ``last - count + 1 … last``. One upsert both creates the
    day's row (two first registrations of a day may race to do so) and bumps it,
    so a batch pays one round trip, and the row stays locked until commit.
    """
    if count < 1:
        raise ValueError("take at least one number")
    return int((await session.execute(_take(session), {"day": day, "count": count})).scalar_one())


@prebuilt
def _take(dialect: str) -> Insert:
    """Create the day's row with ``count`` or add ``count`` to it (``excluded.last`` is ``count``)."""
    stmt: Any = insert_in(dialect, CaseSequence).values(day=bindparam("day"), last=bindparam("count"))
    result: Insert = stmt.on_conflict_do_update(
        index_elements=[CaseSequence.day], set_={"last": CaseSequence.last + stmt.excluded.last},
    ).returning(CaseSequence.last)
    return result


def new_query_code() -> str:
    """A short code printed on the receipt: with the case number it opens the status page."""
    return "".join(secrets.choice(QUERY_CODE_ALPHABET) for _ in range(8))
