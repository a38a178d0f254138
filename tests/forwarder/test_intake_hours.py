"""The cockpit's intake counts (``intake_hour``) equal a direct count of the cases, also when a
later refresh adds cases to hours an earlier one counted (``forwarder.cockpit_summary``)."""

from __future__ import annotations

from collections import Counter
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from forwarder.cockpit_summary import refresh
from registrar.models import Case
from registrar.models_cockpit import IntakeHour
from tests.conftest import TZ
from tests.forwarder.conftest import Maker
from tests.forwarder.test_sweeper import at

Key = tuple[date, int, str, str]


async def _direct(session: AsyncSession) -> Counter[Key]:
    counted: Counter[Key] = Counter()
    for registered, channel, district in await session.execute(
            select(Case.registered_at, Case.channel, Case.district_hint)
            .where(Case.parent_case_id.is_(None))):
        local = registered.astimezone(TZ)
        counted[(local.date(), local.hour, channel, district or "")] += 1
    return counted


async def _summed(session: AsyncSession) -> Counter[Key]:
    return Counter({(r.day, r.hour, r.channel, r.district): r.count
                    for r in (await session.execute(select(IntakeHour))).scalars()})


async def test_refresh_counts_new_cases_into_new_and_already_counted_hours(
        session: AsyncSession, make: Maker) -> None:
    for moment in ("2026-12-01 09:10", "2026-12-01 09:40", "2026-12-02 14:05"):
        await make.case(at=at(moment))
    await refresh(session, zone=TZ)
    assert await _summed(session) == await _direct(session)
    for moment in ("2026-12-01 09:50", "2026-12-02 14:30", "2026-12-03 08:00"):
        await make.case(at=at(moment))
    await refresh(session, zone=TZ)
    summed = await _summed(session)
    assert summed == await _direct(session)
    assert sum(n for (day, hour, _, _), n in summed.items() if (day, hour) == (date(2026, 12, 1), 9)) == 3
