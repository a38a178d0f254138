"""From a cockpit figure to the cases behind it (issue 15.1: "every number a link").

Each figure the cockpit shows has a key (``read_late``, ``stage:redo``,
``clock:answer:red``, ``intake:sms_modem`` …); ``cases_behind`` turns the key
and the page's filters into the query that selects exactly the rows the figure
counted, written with the same conditions as ``forwarder.supervision`` (period
figures) and ``forwarder.cockpit`` (live ones). A page of rows is read through
the indexes on (unit, created) and the open clocks; nothing scans all cases.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from forwarder.cockpit import UNIT_STATES, colour_of
from registrar.models import Assignment, AssignmentRole, Case, CaseStatus, Deadline, Rating, Unit
from registrar.models_cockpit import CallbackRating
from registrar.models_supervision import Finding, FindingKind, FindingStatus

PAGE = 50
GONE = (FindingStatus.WAIVED, FindingStatus.WITHDRAWN)


@dataclass(frozen=True, slots=True)
class Behind:
    """One case behind a figure, with the unit and state that put it there."""

    number: str | None
    unit_name: str
    state: str
    at: datetime


class UnknownFigure(ValueError):
    """The key names no figure the cockpit shows."""


def _clock(kind: str, on_time: bool) -> ColumnElement[bool]:
    """The assignment has a clock of ``kind`` met in time (or missed / met late), as
    ``supervision.on_time`` and ``supervision.late`` count them (cancelled: neither)."""
    met = and_(Deadline.met_at.is_not(None), Deadline.met_at < Deadline.due_at)
    failed = or_(Deadline.missed.is_(True), Deadline.met_at >= Deadline.due_at)
    return exists().where(Deadline.assignment_id == Assignment.id, Deadline.kind == kind,
                          Deadline.cancelled.is_(False), met if on_time else failed)


def _period_condition(figure: str) -> ColumnElement[bool] | None:
    lead = Assignment.role == AssignmentRole.LEAD
    table: dict[str, Any] = {
        "dispatched": None,
        "read_on_time": _clock("read", True), "read_late": _clock("read", False),
        "answered_on_time": _clock("answer", True), "answered_late": _clock("answer", False),
        "late": or_(_clock("read", False), _clock("answer", False)),
        "overdue_handling": Assignment.overdue_handling.is_(True),
        "expired_unhandled": Assignment.expired_unhandled.is_(True),
        "passed_first_time": and_(Assignment.state == "passed", Assignment.review_failures == 0),
        "reviewed": or_(Assignment.state == "passed", Assignment.review_failures > 0),
        "returns": Assignment.return_reason.is_not(None),
        "redone": Assignment.review_failures > 0,
        "ratings": and_(lead, exists().where(Rating.case_id == Assignment.case_id)),
        "callbacks": and_(lead, exists().where(CallbackRating.case_id == Assignment.case_id)),
    }
    if figure not in table:
        raise UnknownFigure(figure)
    condition: ColumnElement[bool] | None = table[figure]
    return condition


def window(first: date, last: date, zone: tzinfo) -> tuple[datetime, datetime]:
    return (datetime.combine(first, time(0), tzinfo=zone),
            datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone))


async def cases_behind(session: AsyncSession, figure: str, *, first: date, last: date, zone: tzinfo,
                       now: datetime, unit: str = "", district: str | None = None,
                       page: int = 1) -> tuple[list[Behind], bool]:
    """One page of the cases behind ``figure`` and whether there is a next page."""
    start, end = window(first, last, zone)
    if figure in ("charges", "waived", "notices"):
        query = _findings(figure, start, end)
    elif figure.startswith(("intake:", "hour:")) or figure == "registered":
        query = _intake(figure, start, end, first, last, zone)
    elif figure.startswith("stage:"):
        query = _stage(figure.split(":", 1)[1])
    elif figure.startswith("clock:"):
        _, kind, colour = [*figure.split(":"), "", ""][:3]
        query = (_assignments().join(Deadline, Deadline.assignment_id == Assignment.id)
                 .where(Deadline.met_at.is_(None), Deadline.kind == kind, colour_of(now) == colour))
    else:
        condition = _period_condition(figure)
        query = _assignments().where(Assignment.role.in_([AssignmentRole.LEAD, AssignmentRole.CO]),
                                     Assignment.created_at >= start, Assignment.created_at < end)
        if condition is not None:
            query = query.where(condition)
    if unit and not figure.startswith(("intake:", "hour:", "registered")):
        query = query.where(Unit.code == unit)
    if district is not None:
        query = query.where(Case.district_hint == district if figure.startswith(
            ("intake:", "hour:", "registered")) else Unit.district == district)
    rows = (await session.execute(query.order_by(Case.registered_at.desc(), Case.id.desc())
                                  .offset((max(page, 1) - 1) * PAGE).limit(PAGE + 1))).all()
    return [Behind(*row) for row in rows[:PAGE]], len(rows) > PAGE


def _assignments() -> Any:
    return (select(Case.number, Unit.name, Assignment.state, Case.registered_at)
            .select_from(Assignment).join(Case, Case.id == Assignment.case_id)
            .join(Unit, Unit.id == Assignment.unit_id))


def _stage(stage: str) -> Any:
    if stage in ("registered", "accepted"):
        status = Case.status == CaseStatus.REGISTERED
        return _assignments().where(Assignment.role == AssignmentRole.BUREAU,
                                    Assignment.state == "queued",
                                    status if stage == "registered" else ~status)
    if stage == "answered":
        return (select(Case.number, Unit.name, Case.status, Case.registered_at).select_from(Case)
                .join(Assignment, and_(Assignment.case_id == Case.id,
                                       Assignment.role == AssignmentRole.LEAD,
                                       Assignment.state == "passed"))
                .join(Unit, Unit.id == Assignment.unit_id)
                .where(Case.status == CaseStatus.ANSWERED))
    if stage not in UNIT_STATES:
        raise UnknownFigure(stage)
    return _assignments().where(Assignment.state == stage, Assignment.role != AssignmentRole.BUREAU)


def _findings(figure: str, start: datetime, end: datetime) -> Any:
    if figure == "notices":
        kept = and_(Finding.kind == FindingKind.NOTICE, Finding.status.not_in(GONE))
    elif figure == "waived":
        kept = and_(Finding.kind == FindingKind.R11_2B, Finding.status.in_(GONE))
    else:
        kept = and_(Finding.kind == FindingKind.R11_2B, Finding.status.not_in(GONE))
    return (select(Case.number, Unit.name, Finding.status, Finding.created_at).select_from(Finding)
            .join(Unit, Unit.id == Finding.unit_id).outerjoin(Case, Case.id == Finding.case_id)
            .where(kept, Finding.created_at >= start, Finding.created_at < end))


def _intake(figure: str, start: datetime, end: datetime, first: date, last: date,
            zone: tzinfo) -> Any:
    # Intake has no unit yet: the channel stands in the unit's column.
    query = (select(Case.number, Case.channel, Case.status, Case.registered_at).select_from(Case)
             .where(Case.parent_case_id.is_(None)))
    if figure.startswith("hour:"):
        hour = int(figure.split(":", 1)[1])
        spans: list[ColumnElement[bool]] = []
        day = first
        while day <= last and len(spans) < 400:
            at = datetime.combine(day, time(hour), tzinfo=zone)
            spans.append(and_(Case.registered_at >= at, Case.registered_at < at + timedelta(hours=1)))
            day += timedelta(days=1)
        return query.where(or_(*spans))
    query = query.where(Case.registered_at >= start, Case.registered_at < end)
    if figure.startswith("intake:"):
        query = query.where(Case.channel == figure.split(":", 1)[1])
    return query
