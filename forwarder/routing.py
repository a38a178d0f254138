"""Routing suggestions for the dispatcher: which units an item probably belongs to (R4.1).

"Whoever is in charge is responsible" is a judgement the bureau makes; the
system only helps by reading the item for the keywords each unit lists in the
organisation file (``Unit.keywords``) and for district names. Suggestions are
shown to the dispatcher, first in the unit picker, and never applied silently.

Scoring is a pure function (``score_units``) over plain unit profiles, so it is
tested without a database; ``suggest_units`` loads the profiles and calls it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from config.organisation import UnitKind
from registrar.models import Case, Unit

#: Units the city bureau dispatches to directly (R7.2); district units go through their bureau (R7.3).
CITY_TARGETS = frozenset({UnitKind.CITY_UNIT, UnitKind.DISCIPLINE, UnitKind.EFFICIENCY,
                          UnitKind.GOV_OFFICE})
#: A unit in the item's district gets this much on top of its keyword hits.
DISTRICT_BOOST = 0.5
LIMIT = 5


@dataclass(frozen=True, slots=True)
class UnitProfile:
    """What routing needs to know of a unit."""

    code: str
    name: str
    kind: str
    district: str | None = None
    parent_code: str | None = None
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Suggestion:
    """One unit the dispatcher may want, with the words that suggest it."""

    unit_code: str
    unit_name: str
    reason: str
    score: float


def districts_in(text: str, district_hint: str | None, districts: Iterable[str]) -> set[str]:
    """The districts an item names: its hint, and any district named in the text, in full
    ("鼓楼区") or short ("鼓楼")."""
    found = {district_hint} if district_hint else set()
    for name in districts:
        short = name[:-1] if name.endswith(("区", "县", "市")) and len(name) > 2 else name
        if name in text or short in text:
            found.add(name)
    return found


def _hits(text: str, keywords: Iterable[str]) -> list[str]:
    return [k for k in dict.fromkeys(keywords) if k and k in text]


def score_units(text: str, district_hint: str | None, units: Sequence[UnitProfile], *,
                within: str | None = None, limit: int = LIMIT) -> list[Suggestion]:
    """Rank the units a dispatcher could send this item to, best first.

    ``within`` is the dispatching district bureau's code: then only its own
    units are candidates (R7.3). Otherwise (the city bureau) candidates are
    city-level units by their keywords, and each district bureau whose district
    the item names, scored by its district units' keywords plus the district
    boost. District units themselves are never suggested to the city bureau,
    which cannot dispatch to them directly.
    """
    districts = districts_in(text, district_hint,
                             {u.district for u in units if u.district})
    scored: list[Suggestion] = []
    if within is not None:
        for unit in units:
            if unit.parent_code != within or unit.kind == UnitKind.DISTRICT_BUREAU:
                continue
            hits = _hits(text, unit.keywords)
            if hits:
                scored.append(Suggestion(unit.code, unit.name, "关键词：" + "、".join(hits),
                                         float(len(hits))))
        return _top(scored, limit)
    for unit in units:
        if unit.kind in CITY_TARGETS and unit.district is None:
            hits = _hits(text, unit.keywords)
            if hits:
                scored.append(Suggestion(unit.code, unit.name, "关键词：" + "、".join(hits),
                                         float(len(hits))))
    for bureau in units:
        if bureau.kind != UnitKind.DISTRICT_BUREAU or bureau.district not in districts:
            continue
        best: tuple[int, UnitProfile | None, list[str]] = (0, None, [])
        for unit in units:
            if unit.parent_code == bureau.code:
                hits = _hits(text, unit.keywords)
                if len(hits) > best[0]:
                    best = (len(hits), unit, hits)
        reason = f"区域：{bureau.district}"
        if best[1] is not None:
            reason += f"；关键词：{'、'.join(best[2])}（{best[1].name}）"
        scored.append(Suggestion(bureau.code, bureau.name, reason, best[0] + DISTRICT_BOOST))
    return _top(scored, limit)


def _top(scored: list[Suggestion], limit: int) -> list[Suggestion]:
    # Stable sort: equal scores keep the organisation file's order.
    return sorted(scored, key=lambda s: -s.score)[:limit]


def profile(unit: Unit) -> UnitProfile:
    return UnitProfile(unit.code, unit.name, unit.kind, unit.district, unit.parent_code,
                       tuple(unit.keywords or ()))


async def suggest_units(session: AsyncSession, case: Case, *, within: str | None = None,
                        limit: int = LIMIT) -> list[Suggestion]:
    """Suggestions for dispatching ``case``: the city bureau's view, or a district bureau's
    (``within`` its code). Read-only: nothing is applied."""
    units = (await session.execute(select(Unit).where(Unit.active.is_(True)).order_by(Unit.id))
             ).scalars()
    text = case.text + " " + (case.location_hint or "")
    return score_units(text, case.district_hint, [profile(u) for u in units], within=within,
                       limit=limit)


__all__ = ["Suggestion", "UnitProfile", "districts_in", "score_units", "suggest_units"]
