"""Load the configured organisation into the database: units and the roster with history.

Loading is idempotent and keeps history (R10.2): a unit whose leader or
handlers changed gets the old roster entries closed (``valid_to``) and new
ones opened, never overwritten, so lateness can be charged to whoever was on
duty at the time. The roster has three duties: the unit's principal leader
(主要领导, its head, charged under R10.3), its leader in charge (分管领导) and its
handlers (经办人, R10.1).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from config.organisation import Organisation, UnitSpec
from registrar.models import RosterEntry, Unit


@dataclass(frozen=True, slots=True)
class SyncReport:
    units_added: int
    units_updated: int
    roster_opened: int
    roster_closed: int


async def sync_organisation(session: AsyncSession, organisation: Organisation, *,
                            now: datetime, reported_by: str = "config",
                            only_new: bool = False) -> SyncReport:
    """Bring units and roster in the database in line with ``organisation``.

    With ``only_new`` the file only adds units the database lacks: after the first
    load the database (edited on the admin desk) is the source of truth, and a
    repeated ``hotline demo seed`` must not undo those edits.
    """
    existing = {u.code: u for u in (await session.execute(select(Unit))).scalars()}
    added = updated = opened = closed = 0
    for spec in organisation.units:
        unit = existing.get(spec.code)
        if unit is None:
            unit = Unit(code=spec.code, name=spec.name, kind=spec.kind, district=spec.district,
                        parent_code=spec.parent, keywords=list(spec.keywords), active=True)
            session.add(unit)
            await session.flush()
            added += 1
        elif only_new:
            continue
        elif (unit.name, unit.kind, unit.district, unit.parent_code, unit.keywords, unit.active) != (
            spec.name, spec.kind, spec.district, spec.parent, list(spec.keywords), True
        ):
            unit.name, unit.kind, unit.district = spec.name, spec.kind, spec.district
            unit.parent_code, unit.keywords, unit.active = spec.parent, list(spec.keywords), True
            updated += 1
        o, c = await _sync_roster(session, unit, spec, now=now, reported_by=reported_by)
        opened += o
        closed += c
    return SyncReport(added, updated, opened, closed)


async def _sync_roster(session: AsyncSession, unit: Unit, spec: UnitSpec, *, now: datetime,
                       reported_by: str) -> tuple[int, int]:
    current = (await session.execute(
        select(RosterEntry).where(RosterEntry.unit_id == unit.id, RosterEntry.valid_to.is_(None))
    )).scalars().all()
    wanted = {("leader", spec.leader), *(("handler", h) for h in spec.handlers)}
    if spec.principal:
        wanted.add(("principal", spec.principal))
    have = {(e.duty, e.person_name): e for e in current}
    closed = 0
    for key, entry in have.items():
        if key not in wanted:
            entry.valid_to = now
            closed += 1
    opened = 0
    for duty, person in sorted(wanted - set(have)):
        session.add(RosterEntry(unit_id=unit.id, person_name=person, duty=duty, valid_from=now,
                                valid_to=None, reported_by=reported_by))
        opened += 1
    return opened, closed


async def roster_at(session: AsyncSession, unit_code: str, moment: datetime) -> list[RosterEntry]:
    """Who was on duty in ``unit_code`` at ``moment`` (R10.2 history)."""
    result = await session.execute(
        select(RosterEntry).join(Unit, Unit.id == RosterEntry.unit_id).where(
            Unit.code == unit_code,
            RosterEntry.valid_from <= moment,
            (RosterEntry.valid_to.is_(None)) | (RosterEntry.valid_to > moment),
        ).order_by(RosterEntry.duty, RosterEntry.person_name)
    )
    return list(result.scalars())
