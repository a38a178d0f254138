"""Human-friendly case numbers: ``FZ12345-20261124-000017``.

The daily sequence lives in one row per local day. Incrementing it takes that
row's lock until the registering transaction ends, so concurrent registrations
on PostgreSQL queue for the next number and a rolled-back registration gives
its number back: numbers for a day are gap-free and never repeat.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import Table, bindparam, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Insert

from registrar.db import insert_in, prebuilt
from registrar.models import Case, CaseSequence

CASE: Table = Case.__table__  # type: ignore[assignment]
QUERY_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
QUERY_CODE_LENGTH = 8
_QUERY_CODE_SPACE = len(QUERY_CODE_ALPHABET) ** QUERY_CODE_LENGTH


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
    # One draw below 31⁸, written in base 31: as uniform as eight secrets.choice calls, a
    # single read of the system's randomness instead of eight (it is on every intake's path).
    value = secrets.randbelow(_QUERY_CODE_SPACE)
    code = []
    for _ in range(QUERY_CODE_LENGTH):
        value, digit = divmod(value, len(QUERY_CODE_ALPHABET))
        code.append(QUERY_CODE_ALPHABET[digit])
    return "".join(code)


#: PostgreSQL: take the numbers and write them into the cases in one statement (one round
#: trip fewer per batch); the day's row stays locked until commit as with ``take_sequence``.
#: The text is ``format_number``'s: six digits, more only past 999 999 (never in practice).
_NUMBER_CASES = text("""
WITH seq AS (
  INSERT INTO case_sequence (day, last) VALUES (:day, :count)
  ON CONFLICT (day) DO UPDATE SET last = case_sequence.last + excluded.last
  RETURNING last)
UPDATE "case" SET number = CAST(:head AS text) || CASE WHEN s.n < 1000000
                                   THEN lpad(s.n::text, 6, '0') ELSE s.n::text END
FROM (SELECT v.id, seq.last - CAST(:count AS bigint) + v.ord AS n
      FROM seq, unnest(CAST(:ids AS bigint[])) WITH ORDINALITY AS v(id, ord)) AS s
WHERE "case".id = s.id
RETURNING "case".id, "case".number
""")
_SET_NUMBERS = update(CASE).where(CASE.c.id == bindparam("case_id")).values(number=bindparam("case_number"))


async def number_cases(session: AsyncSession, prefix: str, day: date, ids: Sequence[int]) -> list[str]:
    """Give the cases ``ids`` the day's next numbers, in that order; their numbers.

    The caller writes this last in its transaction, so the day's row is locked only for the
    statements before commit and a rolled-back batch gives its numbers back.
    """
    if session.get_bind().dialect.name == "postgresql":
        head = format_number(prefix, day, 0)[:-6]
        rows = await session.execute(_NUMBER_CASES, {"day": day, "count": len(ids), "head": head,
                                                     "ids": list(ids)})
        numbers = {ident: number for ident, number in rows}
        return [numbers[ident] for ident in ids]
    last = await take_sequence(session, day, len(ids))
    assigned = [format_number(prefix, day, last - len(ids) + 1 + offset) for offset in range(len(ids))]
    await session.execute(_SET_NUMBERS, [{"case_id": ident, "case_number": number}
                                         for ident, number in zip(ids, assigned, strict=True)])
    return assigned
