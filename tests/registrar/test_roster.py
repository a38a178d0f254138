"""The responsibility roster (Article 10): named people per unit, with history."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from config.organisation import Organisation, UnitKind, load_organisation, parse_organisation
from config.settings import DEMO_ORGANISATION_FILE, ConfigError
from registrar.models import RosterEntry
from registrar.roster import roster_at, sync_organisation
from tests.conftest import SEED_TIME, TZ


def test_R10_1_every_unit_has_a_leader_and_handlers() -> None:
    organisation = load_organisation(DEMO_ORGANISATION_FILE)
    assert len(organisation.districts) == 13
    assert {u.kind for u in organisation.units} == set(UnitKind)
    for unit in organisation.units:
        assert unit.leader and unit.handlers, unit.code


def test_R10_3_every_unit_names_its_principal_leader_apart_from_the_leader_in_charge() -> None:
    for unit in load_organisation(DEMO_ORGANISATION_FILE).units:
        assert unit.principal and unit.principal != unit.leader, unit.code
    with pytest.raises(ConfigError, match=r"unit 'x'\.principal: missing"):
        parse_organisation({"unit": [{"code": "x", "name": "X", "kind": "city_bureau",
                                      "leader": "甲", "handlers": ["乙"]}]})
    with pytest.raises(ConfigError, match=r"unit 'x'\.principal: the principal leader"):
        parse_organisation({"unit": [{"code": "x", "name": "X", "kind": "city_bureau",
                                      "principal": "甲", "leader": "甲", "handlers": ["乙"]}]})


async def test_R10_3_principal_leader_is_a_roster_duty_with_history(session: AsyncSession) -> None:
    organisation = load_organisation(DEMO_ORGANISATION_FILE)
    urban = organisation.by_code("city-urban")
    changed = Organisation(tuple(replace(u, principal="新主要领导") if u.code == urban.code else u
                                 for u in organisation.units))
    later = datetime(2026, 6, 1, 9, 0, tzinfo=TZ)
    report = await sync_organisation(session, changed, now=later)
    assert (report.roster_opened, report.roster_closed) == (1, 1)

    def principals(entries: list[RosterEntry]) -> list[str]:
        return [e.person_name for e in entries if e.duty == "principal"]
    assert principals(await roster_at(session, "city-urban", later - timedelta(days=1))) == [
        urban.principal]
    assert principals(await roster_at(session, "city-urban", later)) == ["新主要领导"]


def test_R10_1_a_unit_without_handlers_is_refused() -> None:
    with pytest.raises(ConfigError, match="every unit needs at least one handler"):
        parse_organisation({"unit": [{"code": "x", "name": "X", "kind": "city_bureau",
                                      "principal": "丙", "leader": "甲", "handlers": []}]})


def test_organisation_errors_name_the_unit_and_key() -> None:
    with pytest.raises(ConfigError, match=r"unit 'x'\.kind: 'bureau' is not one of"):
        parse_organisation({"unit": [{"code": "x", "name": "X", "kind": "bureau",
                                      "principal": "丙", "leader": "甲", "handlers": ["乙"]}]})
    with pytest.raises(ConfigError, match="parent: no unit 'nowhere'"):
        parse_organisation({"unit": [
            {"code": "c", "name": "C", "kind": "city_bureau", "principal": "丙", "leader": "甲",
             "handlers": ["乙"]},
            {"code": "x", "name": "X", "kind": "city_unit", "principal": "丙", "leader": "甲",
             "handlers": ["乙"], "parent": "nowhere"}]})


async def test_R10_2_roster_changes_keep_history(session: AsyncSession) -> None:
    organisation = load_organisation(DEMO_ORGANISATION_FILE)
    urban = organisation.by_code("city-urban")
    changed = Organisation(tuple(
        replace(u, leader="新领导", handlers=(*u.handlers[1:], "新经办人")) if u.code == urban.code else u
        for u in organisation.units))
    later = datetime(2026, 6, 1, 9, 0, tzinfo=TZ)
    report = await sync_organisation(session, changed, now=later)
    assert (report.units_added, report.roster_opened, report.roster_closed) == (0, 2, 2)
    before = await roster_at(session, "city-urban", later - timedelta(days=1))
    after = await roster_at(session, "city-urban", later + timedelta(days=1))
    assert {(e.duty, e.person_name) for e in before} == {
        ("principal", urban.principal), ("leader", urban.leader),
        *(("handler", h) for h in urban.handlers)}
    assert {(e.duty, e.person_name) for e in after} == {
        ("principal", urban.principal), ("leader", "新领导"),
        *(("handler", h) for h in (*urban.handlers[1:], "新经办人"))}
    assert await roster_at(session, "city-urban", SEED_TIME - timedelta(days=1)) == []
    again = await sync_organisation(session, changed, now=later + timedelta(days=2))
    assert (again.roster_opened, again.roster_closed) == (0, 0)


async def test_R10_2_repeated_demo_seed_never_undoes_roster_edits(session: AsyncSession) -> None:
    organisation = load_organisation(DEMO_ORGANISATION_FILE)
    later = datetime(2026, 6, 1, 9, 0, tzinfo=TZ)
    session.add(RosterEntry(unit_id=(await _unit_id(session, "city-urban")), person_name="桌面任命",
                            duty="handler", valid_from=later, valid_to=None, reported_by="admin"))
    await session.flush()
    report = await sync_organisation(session, organisation, now=later + timedelta(days=1),
                                     only_new=True)
    assert (report.units_added, report.roster_opened, report.roster_closed) == (0, 0, 0)
    names = {e.person_name for e in await roster_at(session, "city-urban", later + timedelta(days=2))}
    assert "桌面任命" in names


async def _unit_id(session: AsyncSession, code: str) -> int:
    from sqlalchemy import select

    from registrar.models import Unit

    return (await session.execute(select(Unit.id).where(Unit.code == code))).scalar_one()
