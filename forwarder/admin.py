"""Administration services: the roster with effective dates (R10.2), units, routing keywords.

Accounts are the access layer's (``desks.access.users``).

Each service runs in the caller's transaction and keeps history instead of
overwriting it: a roster change opens or closes a ``RosterEntry`` (never edits
a person's name or dates), so ``roster_at`` still answers who was on duty on
any past day and lateness stays charged to whoever held the duty then (R10.3).
None of them writes the case event log: these are facts about the organisation,
not about a citizen's item.

R10.2 also says to whom a change is reported. That list is computed from the
unit tree when the change is made and kept with the entry, packed into
``RosterEntry.reported_by`` (the only free text column there is; see
``ReportLine``), so the history shows it as it was at the time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from config.organisation import UnitKind
from registrar.models import RosterEntry, Unit

DUTIES = ("principal", "leader", "handler")
MAX_KEYWORDS = 60
MAX_KEYWORD_CHARS = 20
_REPORTED_BY_CHARS = 100  # RosterEntry.reported_by is String(100)
_SEPARATORS = re.compile(r"[\s,，、;；]+")


class AdminError(ValueError):
    """An administrative change that cannot be made as asked (shown to the administrator)."""


# --- R10.2: to whom a roster change is reported ---------------------------------------------


@dataclass(frozen=True, slots=True)
class ReportLine:
    """Who reported a roster change and to whom (R10.2), as packed into ``reported_by``.

    ``to`` are the units the change is reported to, ``cc`` those copied; both as
    unit ids, which are short and stable (codes could overflow the 100 characters).
    ``relieved_by`` is who reported the end of the duty, once it ended.
    """

    reporter: str
    to: tuple[int, ...] = ()
    cc: tuple[int, ...] = ()
    relieved_by: str | None = None

    def pack(self) -> str:
        def ids(values: tuple[int, ...]) -> str:
            return ",".join(str(v) for v in values)
        head = f"to:{ids(self.to)};cc:{ids(self.cc)};by:"
        tail = f";off:{_clean(self.relieved_by)[:24]}" if self.relieved_by is not None else ""
        room = _REPORTED_BY_CHARS - len(head) - len(tail)
        return head + _clean(self.reporter)[:max(room, 0)] + tail

    @classmethod
    def unpack(cls, text: str | None) -> ReportLine:
        """The packed form back; anything else (``config`` from the organisation file) is a reporter."""
        if not text or not text.startswith("to:"):
            return cls(reporter=text or "")
        fields = dict(part.partition(":")[::2] for part in text.split(";"))

        def ids(value: str) -> tuple[int, ...]:
            return tuple(int(v) for v in value.split(",") if v.isdigit())
        return cls(reporter=fields.get("by", ""), to=ids(fields.get("to", "")),
                   cc=ids(fields.get("cc", "")), relieved_by=fields.get("off"))


def _clean(name: str | None) -> str:
    """Names go inside the packed text: no separators of its own."""
    return re.sub(r"[;\n\r]", " ", name or "").strip()


async def reporting_line(session: AsyncSession, unit: Unit) -> tuple[list[Unit], list[Unit]]:
    """R10.2: (reported to, copied to) for a roster change in ``unit``.

    A city-level unit reports to the city efficiency office, the city bureau and
    the government office; a district unit to its district's efficiency office and
    bureau, copied to the city efficiency office and city bureau.
    """
    kinds = (UnitKind.EFFICIENCY, UnitKind.CITY_BUREAU, UnitKind.DISTRICT_BUREAU, UnitKind.GOV_OFFICE)
    units = list((await session.execute(select(Unit).where(Unit.kind.in_(kinds), Unit.active.is_(True))
                                        .order_by(Unit.id))).scalars())

    def pick(kind: str, district: str | None) -> list[Unit]:
        return [u for u in units if u.kind == kind and u.district == district and u.id != unit.id]
    city = pick(UnitKind.EFFICIENCY, None) + [u for u in units if u.kind == UnitKind.CITY_BUREAU
                                               and u.id != unit.id]
    if unit.district is None:
        return city + pick(UnitKind.GOV_OFFICE, None), []
    return pick(UnitKind.EFFICIENCY, unit.district) + pick(UnitKind.DISTRICT_BUREAU, unit.district), city


# --- the roster ---------------------------------------------------------------------------


async def unit_by_code(session: AsyncSession, code: str) -> Unit:
    unit = (await session.execute(select(Unit).where(Unit.code == code))).scalar_one_or_none()
    if unit is None:
        raise AdminError(f"没有单位 {code}")
    return unit


async def appoint(session: AsyncSession, unit_code: str, person: str, duty: str, *,
                  effective: datetime, reported_by: str) -> RosterEntry:
    """Open a roster entry: ``person`` holds ``duty`` in the unit from ``effective`` (R10.2)."""
    person = " ".join(person.split())
    if not person or len(person) > 100:
        raise AdminError("请填写姓名（1–100 个字符）")
    if duty not in DUTIES:
        raise AdminError("职责只能是主要领导、分管领导或经办人")
    if not reported_by.strip():
        raise AdminError("请填写报告人")
    unit = await unit_by_code(session, unit_code)
    overlapping = (await session.execute(select(RosterEntry.id).where(
        RosterEntry.unit_id == unit.id, RosterEntry.person_name == person, RosterEntry.duty == duty,
        (RosterEntry.valid_to.is_(None)) | (RosterEntry.valid_to > effective)).limit(1))).first()
    if overlapping:
        raise AdminError(f"{person} 在该日期已担任此职责")
    to, cc = await reporting_line(session, unit)
    line = ReportLine(reporter=reported_by, to=tuple(u.id for u in to), cc=tuple(u.id for u in cc))
    entry = RosterEntry(unit_id=unit.id, person_name=person, duty=duty, valid_from=effective,
                        valid_to=None, reported_by=line.pack())
    session.add(entry)
    await session.flush()
    return entry


async def relieve(session: AsyncSession, entry_id: int, *, effective: datetime,
                  reported_by: str) -> RosterEntry:
    """Close a roster entry at ``effective``; the row stays, as history (R10.2).

    Relieving a unit's last leader is allowed (a leader may leave before the next
    is named); a unit left without handlers has its missed work charged to its
    principal leader (R10.3): the unit page says so in red (``roster_gaps``).
    """
    entry = (await session.execute(select(RosterEntry).where(RosterEntry.id == entry_id)
                                   .with_for_update())).scalar_one_or_none()
    if entry is None:
        raise AdminError(f"没有名册记录 {entry_id}")
    if entry.valid_to is not None:
        raise AdminError("该任职已结束")
    if effective <= entry.valid_from:
        raise AdminError("卸任日期须晚于任职开始日期")
    if not reported_by.strip():
        raise AdminError("请填写报告人")
    line = ReportLine.unpack(entry.reported_by)
    if not line.to and not line.cc:
        # An entry from the organisation file: its reporting line is computed now.
        unit = await session.get(Unit, entry.unit_id)
        assert unit is not None
        to, cc = await reporting_line(session, unit)
        line = ReportLine(reporter=line.reporter, to=tuple(u.id for u in to), cc=tuple(u.id for u in cc))
    entry.valid_to = effective
    entry.reported_by = ReportLine(line.reporter, line.to, line.cc, relieved_by=reported_by).pack()
    await session.flush()
    return entry


async def roster_history(session: AsyncSession, unit: Unit) -> list[RosterEntry]:
    """Every entry of the unit, newest first: the history R10.2 asks the system to keep."""
    return list((await session.execute(select(RosterEntry).where(RosterEntry.unit_id == unit.id)
                                       .order_by(RosterEntry.valid_from.desc(), RosterEntry.id.desc())
                                       )).scalars())


def roster_gaps(history: list[RosterEntry], now: datetime) -> list[str]:
    """What the unit page must say in red: no principal leader (R10.3), leader or handler
    (R10.1), now or ahead."""
    def on_duty(duty: str) -> bool:
        return any(e.duty == duty and e.valid_from <= now and (e.valid_to is None or e.valid_to > now)
                   for e in history)

    def open_ended(duty: str) -> bool:
        return any(e.duty == duty and e.valid_to is None for e in history)
    gaps = []
    if not on_duty("leader"):
        gaps.append("本单位当前没有分管领导：请尽快任命 (R10.1, R10.3)")
    elif not open_ended("leader"):
        gaps.append("现任分管领导已定卸任日期且未任命接任者：卸任后单位将没有分管领导 (R10.3)")
    if not on_duty("handler"):
        gaps.append("本单位当前没有经办人：逾期等责任将追究单位主要领导 (R10.1, R10.3)")
    elif not open_ended("handler"):
        gaps.append("所有经办人均已定卸任日期且未任命接任者 (R10.1)")
    if not on_duty("principal"):
        gaps.append("本单位当前没有登记主要领导：责任制不落实时无人可追究 (R10.3)")
    return gaps


# --- units: routing keywords and the active flag --------------------------------------------


def parse_keywords(text: str) -> list[str]:
    """Keywords typed by an administrator: separated by spaces, commas or 、, deduplicated."""
    words: list[str] = []
    for word in _SEPARATORS.split(text):
        if word and word not in words:
            if len(word) > MAX_KEYWORD_CHARS:
                raise AdminError(f"关键词“{word[:MAX_KEYWORD_CHARS]}…”过长（最多 {MAX_KEYWORD_CHARS} 字）")
            words.append(word)
    if len(words) > MAX_KEYWORDS:
        raise AdminError(f"关键词最多 {MAX_KEYWORDS} 个")
    return words


async def set_keywords(session: AsyncSession, unit_code: str, text: str) -> list[str]:
    """Replace the unit's routing keywords (suggestions for dispatchers, never applied silently)."""
    unit = await unit_by_code(session, unit_code)
    unit.keywords = parse_keywords(text)
    return unit.keywords


async def set_leader_submits(session: AsyncSession, unit_code: str, on: bool) -> Unit:
    """The unit's setting: its leader approves and sends the answer on in one step."""
    unit = await unit_by_code(session, unit_code)
    unit.leader_submits = on
    return unit


async def set_unit_active(session: AsyncSession, unit_code: str, active: bool) -> Unit:
    """Take a unit out of the dispatch pickers (or back in); its cases and history stay."""
    unit = await unit_by_code(session, unit_code)
    if not active and unit.kind == UnitKind.CITY_BUREAU:
        raise AdminError("市信访局不能停用")
    unit.active = active
    return unit
