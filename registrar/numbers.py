"""Human-friendly case numbers: ``FZ12345-20261124-000017``.

The daily sequence lives in one row per local day. Incrementing it takes that
row's lock until the registering transaction ends, so concurrent registrations
on PostgreSQL queue for the next number and a rolled-back registration gives
its number back: numbers for a day are gap-free and never repeat.
"""

from __future__ import annotations

import secrets
from datetime import date

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from registrar.models import CaseSequence

QUERY_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def format_number(prefix: str, day: date, sequence: int) -> str:
    return f"{prefix}-{day:%Y%m%d}-{sequence:06d}"


async def next_sequence(session: AsyncSession, day: date) -> int:
    """Return the next number for ``day``, locking the day's row until the transaction ends."""
    result = await session.execute(
        update(CaseSequence)
        .where(CaseSequence.day == day)
        .values(last=CaseSequence.last + 1)
        .returning(CaseSequence.last)
    )
    value = result.scalar_one_or_none()
    if value is not None:
        return value
    # Two first registrations of a day may race to create the row: upsert.
    upsert_set = {"last": CaseSequence.last + 1}
    if session.get_bind().dialect.name == "postgresql":
        stmt = pg_insert(CaseSequence).values(day=day, last=1).on_conflict_do_update(
            index_elements=[CaseSequence.day], set_=upsert_set).returning(CaseSequence.last)
    else:
        stmt = sqlite_insert(CaseSequence).values(day=day, last=1).on_conflict_do_update(
            index_elements=[CaseSequence.day], set_=upsert_set).returning(CaseSequence.last)
    return int((await session.execute(stmt)).scalar_one())


def new_query_code() -> str:
    """A short code printed on the receipt: with the case number it opens the status page."""
    return "".join(secrets.choice(QUERY_CODE_ALPHABET) for _ in range(8))
