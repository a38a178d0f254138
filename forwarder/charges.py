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

from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from forwarder.findings import record_charge
from forwarder.workflow_base import SYSTEM, Actor, add_event
from registrar.models import Assignment, AssignmentRole, AssignmentState, Case, Duty, Event, Unit
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


async def responsible(session: AsyncSession, unit: Unit, moment: datetime) -> dict[str, Any]:
    """Who answers for ``unit`` at ``moment``: its handlers then; with none, its principal
    leader (R10.3), named or not: the charge goes to the role even while it is vacant."""
    roster = await roster_at(session, unit.code, moment)
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


async def warn(session: AsyncSession, o: Occasion, unit: Unit, rule: str, at: datetime,
               **extra: Any) -> Event:
    """An efficiency warning (效能告诫) to the person responsible at the moment of failure."""
    who = await responsible(session, unit, o.moment)
    event = add_event(session, o.case, o.actor, "efficiency_warning", now=at,
                      assignment=o.assignment, reason=f"{rule}: 效能告诫", deadline=o.due_at,
                      data=_data(o, rule, unit, {**who, **extra}))
    await _escalate(session, o, unit, at)
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


async def charge_r11_2b(session: AsyncSession, o: Occasion, at: datetime) -> bool:
    """R11.2b: 逾期办理 or 过期未处理 is a notice to the unit and a warning to the person
    responsible; for a joint item whose lead unit refused it, the lead unit is charged.

    Returns False when the assignment was charged before (the second fact of the same
    lateness, e.g. a redo clock missed after the second failed review)."""
    if await already_charged(session, o.assignment):
        return False
    lead = await refusing_lead(session, o)
    charged = lead or o.unit
    extra = {"instead_of": o.unit.code, "clause": "joint item: the lead unit refused it"} if lead else {}
    notify_unit(session, o, charged, "R11.2b", at, **extra)
    warning = await warn(session, o, charged, "R11.2b", at, **extra)
    # Provisional until the efficiency office judges it caused by people (forwarder.findings).
    record_charge(session, case=o.case, assignment_id=o.assignment.id, charged=charged, late=o.unit,
                  persons=list(warning.data.get("persons", [])), at=at)
    return True


async def _escalate(session: AsyncSession, o: Occasion, unit: Unit, now: datetime) -> None:
    """R11.3: repeated failures go up step by step — the second warning of a month to the
    unit's leader in charge, the third and later ones also to the city efficiency office."""
    await session.flush()
    first = now.astimezone(o.zone).date().replace(day=1)
    start, end = month_window(first, o.zone)
    # Counted in the database: loading every warning of the month for each new one made a
    # sweep of n warnings cost n² rows (the action/at index narrows, the unit filters).
    count = await session.scalar(select(func.count()).select_from(Event).where(
        Event.action == "efficiency_warning", Event.at >= start, Event.at < end,
        Event.data["unit"].as_string() == unit.code)) or 0
    if count < 2:
        return
    leaders = [e.person_name for e in await roster_at(session, unit.code, now) if e.duty == Duty.LEADER]
    data = {"rule": "R11.3", "unit": unit.code, "warnings_this_month": count, "leaders": leaders,
            "month": first.strftime("%Y-%m")}
    if count == 2:
        add_event(session, o.case, SYSTEM, "escalated_to_leader", now=now, assignment=o.assignment,
                  reason="R11.3: 同月第二次效能告诫，报单位分管领导", data=data)
    else:
        office = (await session.execute(select(Unit).where(
            Unit.kind == "efficiency", Unit.district.is_(None)))).scalars().first()
        add_event(session, o.case, SYSTEM, "escalated_to_efficiency_office", now=now,
                  assignment=o.assignment, reason="R11.3: 同月多次效能告诫，报市效能办",
                  data={**data, "office": office.code if office else None})
