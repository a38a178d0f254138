"""Who is charged for a failure, and how: notices (通报), warnings (效能告诫), escalation.

Article 11 attaches consequences to facts (a late read, 逾期办理, 过期未处理);
the facts come from more than one place: the sweeper finds missed clocks, and a
review that fails a redone answer makes an item 逾期办理 on the spot (R8.4c).
Every route calls the functions here, so the same fact always brings the same
notice, warning and escalation, whichever route found it.

Who answers for a unit (R10.3): its handlers on duty at the moment of the
failure; a unit with no handler then did not assign the work (工作责任制不落实),
and Article 10 charges its principal leader (主要领导), not the leader in charge.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from forwarder.findings import record_charge
from forwarder.workflow_base import SYSTEM, Actor, add_event
from registrar.models import (
    Assignment,
    AssignmentRole,
    AssignmentState,
    Case,
    Duty,
    Event,
    RosterEntry,
    Unit,
)
from registrar.roster import roster_at


@dataclass(frozen=True, slots=True)
class Occasion:
    """A failure of one unit on one assignment, at one moment, to be charged."""

    case: Case
    assignment: Assignment
    unit: Unit
    moment: datetime
    """When the duty failed: who was on the roster then is charged (R10.2)."""
    zone: tzinfo
    """The city's time zone (months of R11.2a and R11.3)."""
    due_at: datetime | None = None
    deadline_id: int | None = None
    actor: Actor = SYSTEM


def month_window(first: date, zone: tzinfo) -> tuple[datetime, datetime]:
    """``[start, end)`` of the calendar month beginning ``first``, in the city's zone."""
    after = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return (datetime.combine(first, datetime.min.time(), zone),
            datetime.combine(after, datetime.min.time(), zone))


class Lookups:
    """What charging a failure reads: the roster, earlier charges and warnings, the office.

    This one asks the database each time, after a flush, as a desk's review (one failure)
    needs. The sweeper charges a batch of failures and uses ``BatchLookups``, which answers
    the same questions from what it read once for the batch and from what the batch added.
    """

    async def roster(self, session: AsyncSession, unit_code: str, moment: datetime) -> list[RosterEntry]:
        """Who was on duty in the unit at ``moment``, by duty and name (``roster_at``)."""
        return await roster_at(session, unit_code, moment)

    async def charged(self, session: AsyncSession, assignment: Assignment) -> bool:
        """Whether R11.2b was already applied to ``assignment``."""
        return await already_charged(session, assignment)

    def record_charged(self, assignment_id: int) -> None:
        """R11.2b was just applied to the assignment (the database will say so once flushed)."""

    async def warnings_in(self, session: AsyncSession, unit_code: str, start: datetime,
                          end: datetime) -> int:
        """The unit's efficiency warnings in ``[start, end)``, the one just added included."""
        await session.flush()
        # Counted in the database: loading every warning of the month for each new one made a
        # sweep of n warnings cost n² rows (the action/at index narrows, the unit filters).
        return await session.scalar(select(func.count()).select_from(Event).where(
            *_warnings_in(start, end), Event.data["unit"].as_string() == unit_code)) or 0

    async def office(self, session: AsyncSession) -> Unit | None:
        """The city's efficiency office (R11.3)."""
        return (await session.execute(select(Unit).where(
            Unit.kind == "efficiency", Unit.district.is_(None)))).scalars().first()


DIRECT = Lookups()


def _warnings_in(start: datetime, end: datetime) -> tuple[ColumnElement[bool], ...]:
    """Efficiency warnings given in ``[start, end)``."""
    return Event.action == "efficiency_warning", Event.at >= start, Event.at < end


@dataclass
class BatchLookups(Lookups):
    """``Lookups`` for a batch of failures: read once, then kept up to date by the batch.

    Nobody but the batch's own transaction writes what it asks about while it runs except
    the roster's history and other transactions' warnings, and neither is locked by the
    one-at-a-time lookups either (a count taken under READ COMMITTED is a moment's count).
    So the answers are those ``Lookups`` gives, without a statement (or a flush) each:
    ``charged`` and ``warnings_in`` add what the batch itself recorded, the roster is
    filtered by moment from each unit's whole history, read in ``roster_at``'s order.
    """

    rosters: dict[str, list[RosterEntry]] = field(default_factory=dict)
    charged_ids: set[int] = field(default_factory=set)
    """Assignments of ``asked`` charged under R11.2b (before or in this batch)."""
    asked: set[int] = field(default_factory=set)
    warnings: dict[tuple[str, datetime], int] = field(default_factory=dict)
    """Warnings per (unit code, month start), this batch's included."""
    _office: list[Unit | None] = field(default_factory=list)

    @classmethod
    async def load(cls, session: AsyncSession, *, units: Iterable[str],
                   assignments: Iterable[Assignment], month: tuple[datetime, datetime]) -> BatchLookups:
        """What a batch of failures of ``units`` on ``assignments`` asks, in three statements:
        the units' rosters, their warnings this ``month`` (``[start, end)`` of now's month), the
        assignments' R11.2b notices."""
        codes, ids, (start, end) = sorted(set(units)), {a.id: a.case_id for a in assignments}, month
        found = cls(asked=set(ids), warnings={(code, start): 0 for code in codes})
        if codes:
            rows = await session.execute(select(Unit.code, RosterEntry)
                                         .join(Unit, Unit.id == RosterEntry.unit_id)
                                         .where(Unit.code.in_(codes))
                                         .order_by(RosterEntry.duty, RosterEntry.person_name))
            found.rosters = {code: [] for code in codes}
            for code, entry in rows:
                found.rosters[code].append(entry)
            unit = Event.data["unit"].as_string()
            counted = await session.execute(select(unit, func.count()).where(
                *_warnings_in(start, end), unit.in_(codes)).group_by(unit))
            for code, count in counted:
                found.warnings[(code, start)] = count
        if ids:
            notices = await session.execute(select(Event.case_id, Event.assignment_id, Event.data)
                                            .where(Event.case_id.in_(sorted(set(ids.values()))),
                                                   Event.assignment_id.in_(sorted(ids)),
                                                   Event.action == "unit_notified"))
            found.charged_ids = {a for c, a, data in notices
                                 if a is not None and ids.get(a) == c and data.get("rule") == "R11.2b"}
        return found

    async def roster(self, session: AsyncSession, unit_code: str, moment: datetime) -> list[RosterEntry]:
        if unit_code not in self.rosters:  # a unit outside the batch (a refusing lead unit)
            with session.no_autoflush:  # the batch writes no roster: its rows can wait
                self.rosters[unit_code] = list((await session.execute(
                    select(RosterEntry).join(Unit, Unit.id == RosterEntry.unit_id)
                    .where(Unit.code == unit_code)
                    .order_by(RosterEntry.duty, RosterEntry.person_name))).scalars())
        return [e for e in self.rosters[unit_code]
                if e.valid_from <= moment and (e.valid_to is None or e.valid_to > moment)]

    async def charged(self, session: AsyncSession, assignment: Assignment) -> bool:
        if assignment.id in self.asked:
            return assignment.id in self.charged_ids
        return await already_charged(session, assignment)

    def record_charged(self, assignment_id: int) -> None:
        self.charged_ids.add(assignment_id)

    async def warnings_in(self, session: AsyncSession, unit_code: str, start: datetime,
                          end: datetime) -> int:
        key = (unit_code, start)
        if key in self.warnings:
            self.warnings[key] += 1
        else:  # a unit outside the batch: counted once, with the new warning, then kept
            self.warnings[key] = await super().warnings_in(session, unit_code, start, end)
        return self.warnings[key]

    async def office(self, session: AsyncSession) -> Unit | None:
        if not self._office:
            with session.no_autoflush:  # the batch writes no unit: its rows can wait
                self._office.append(await super().office(session))
        return self._office[0]


async def responsible(session: AsyncSession, unit: Unit, moment: datetime, *,
                      lookups: Lookups = DIRECT) -> dict[str, Any]:
    """Who answers for ``unit`` at ``moment``: its handlers then; with none, its principal
    leader (R10.3), named or not: the charge goes to the role even while it is vacant."""
    roster = await lookups.roster(session, unit.code, moment)
    handlers = [e.person_name for e in roster if e.duty == Duty.HANDLER]
    if handlers:
        return {"persons": handlers, "duty": Duty.HANDLER.value, "R10.3": False}
    principals = [e.person_name for e in roster if e.duty == Duty.PRINCIPAL]
    who: dict[str, Any] = {"persons": principals, "duty": Duty.PRINCIPAL.value, "R10.3": True}
    if not principals:
        who["vacant"] = True  # the efficiency office must name the head to charge
    return who


def _data(o: Occasion, rule: str, unit: Unit, extra: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {"rule": rule, "unit": unit.code, **extra}
    if o.deadline_id is not None:
        data["deadline_id"] = o.deadline_id
    return data


def notify_unit(session: AsyncSession, o: Occasion, unit: Unit, rule: str, at: datetime,
                **extra: Any) -> Event:
    """A notice (通报) to the unit, recorded as an event the efficiency office reports on."""
    return add_event(session, o.case, o.actor, "unit_notified", now=at, assignment=o.assignment,
                     reason=f"{rule}: 通报", deadline=o.due_at, data=_data(o, rule, unit, extra))


async def warn(session: AsyncSession, o: Occasion, unit: Unit, rule: str, at: datetime, *,
               lookups: Lookups = DIRECT, **extra: Any) -> Event:
    """An efficiency warning (效能告诫) to the person responsible at the moment of failure."""
    who = await responsible(session, unit, o.moment, lookups=lookups)
    event = add_event(session, o.case, o.actor, "efficiency_warning", now=at,
                      assignment=o.assignment, reason=f"{rule}: 效能告诫", deadline=o.due_at,
                      data=_data(o, rule, unit, {**who, **extra}))
    await _escalate(session, o, unit, at, lookups)
    return event


async def refusing_lead(session: AsyncSession, o: Occasion) -> Unit | None:
    """The lead unit of a co-handler's item, when it refused the item (R11.2b joint clause)."""
    if o.assignment.role != AssignmentRole.CO:
        return None
    parent = (Assignment.parent_id.is_(None) if o.assignment.parent_id is None
              else Assignment.parent_id == o.assignment.parent_id)
    lead = (await session.execute(select(Assignment).where(
        Assignment.case_id == o.case.id, Assignment.role == AssignmentRole.LEAD, parent,
        Assignment.state != AssignmentState.WITHDRAWN).order_by(Assignment.id.desc())
    )).scalars().first()
    if lead is None or not lead.return_refused:
        return None
    return await session.get(Unit, lead.unit_id)


async def already_charged(session: AsyncSession, assignment: Assignment) -> bool:
    """Whether R11.2b was already applied to this assignment (one lateness, one charge)."""
    rows = (await session.execute(select(Event.data).where(
        Event.case_id == assignment.case_id, Event.assignment_id == assignment.id,
        Event.action == "unit_notified"))).scalars()
    return any(data.get("rule") == "R11.2b" for data in rows)


async def charge_r11_2b(session: AsyncSession, o: Occasion, at: datetime, *,
                        lookups: Lookups = DIRECT) -> bool:
    """R11.2b: 逾期办理 or 过期未处理 is a notice to the unit and a warning to the person
    responsible; for a joint item whose lead unit refused it, the lead unit is charged.

    Returns False when the assignment was charged before (the second fact of the same
    lateness, e.g. a redo clock missed after the second failed review)."""
    if await lookups.charged(session, o.assignment):
        return False
    lead = await refusing_lead(session, o)
    charged = lead or o.unit
    extra = {"instead_of": o.unit.code, "clause": "joint item: the lead unit refused it"} if lead else {}
    notify_unit(session, o, charged, "R11.2b", at, **extra)
    warning = await warn(session, o, charged, "R11.2b", at, lookups=lookups, **extra)
    lookups.record_charged(o.assignment.id)
    # Provisional until the efficiency office judges it caused by people (forwarder.findings).
    record_charge(session, case=o.case, assignment_id=o.assignment.id, charged=charged, late=o.unit,
                  persons=list(warning.data.get("persons", [])), at=at)
    return True


async def _escalate(session: AsyncSession, o: Occasion, unit: Unit, now: datetime,
                    lookups: Lookups) -> None:
    """R11.3: repeated failures go up step by step — the second warning of a month to the
    unit's leader in charge, the third and later ones also to the city efficiency office."""
    first = now.astimezone(o.zone).date().replace(day=1)
    start, end = month_window(first, o.zone)
    count = await lookups.warnings_in(session, unit.code, start, end)
    if count < 2:
        return
    leaders = [e.person_name for e in await lookups.roster(session, unit.code, now)
               if e.duty == Duty.LEADER]
    data = {"rule": "R11.3", "unit": unit.code, "warnings_this_month": count, "leaders": leaders,
            "month": first.strftime("%Y-%m")}
    if count == 2:
        add_event(session, o.case, SYSTEM, "escalated_to_leader", now=now, assignment=o.assignment,
                  reason="R11.3: 同月第二次效能告诫，报单位分管领导", data=data)
    else:
        office = await lookups.office(session)
        add_event(session, o.case, SYSTEM, "escalated_to_efficiency_office", now=now,
                  assignment=o.assignment, reason="R11.3: 同月多次效能告诫，报市效能办",
                  data={**data, "office": office.code if office else None})
