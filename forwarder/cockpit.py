"""What the supervision cockpit shows, read from summary tables and indexes (issue 15.1, 15.7).

Two kinds of figure, and where each comes from:

* **Period figures** (per unit, trends, intake by channel and hour) are sums of
  ``unit_day`` and ``intake_hour`` rows, which the sweeper keeps
  (``forwarder.cockpit_summary``): a month is ~30 rows per unit, whatever the
  number of cases.
* **Live figures** (items by stage, clocks by colour, the early-warning and
  overdue lists) read only open rows through their indexes: assignments by
  state (``ix_assignment_state``) and clocks not yet met (``ix_deadline_open_due``).
  Closed history, which is most of the database, is never touched.

Deadline colours follow the clocks' own ``warn_at`` (one working day before the
end, R11.1): red when the clock ran out, yellow when it is due within one
working day, green otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from registrar.models import Assignment, AssignmentRole, Case, CaseStatus, Deadline, Unit
from registrar.models_cockpit import UNIT_DAY_FIGURES, IntakeHour, UnitDay

#: Open duties by stage, in the order an item moves through them, with their Chinese names.
STAGES: tuple[tuple[str, str], ...] = (
    ("registered", "待甄别受理"), ("accepted", "待交办"), ("dispatched", "已交办待阅"),
    ("read", "办理中"), ("drafted", "待领导审批"), ("approved", "待报送"), ("submitted", "待审核"),
    ("redo", "重办中"), ("return_requested", "申请退回"), ("answered", "待发布反馈"),
)
UNIT_STATES = ("dispatched", "read", "drafted", "approved", "submitted", "redo", "return_requested")
COLOURS: tuple[tuple[str, str], ...] = (("red", "已逾期"), ("yellow", "一个工作日内到期"),
                                        ("green", "期限内"))
LIST_LIMIT = 200


@dataclass(frozen=True, slots=True)
class UnitFigures:
    """One unit's sums over a period (``unit_day``), with the rates the cockpit shows."""

    unit_code: str
    unit_name: str
    district: str | None
    values: dict[str, int]

    def __getitem__(self, name: str) -> int:
        return self.values[name]

    @property
    def lateness(self) -> int:
        """Clocks missed plus items 逾期办理 and 过期未处理: what sorts the units, worst first."""
        v = self.values
        return v["read_late"] + v["answered_late"] + v["overdue_handling"] + v["expired_unhandled"]

    @staticmethod
    def rate(hits: int, trials: int) -> float | None:
        return round(100 * hits / trials, 1) if trials else None

    @property
    def read_rate(self) -> float | None:
        """按时阅办率 over clocks decided (met or run out), in percent."""
        return self.rate(self["read_on_time"], self["read_on_time"] + self["read_late"])

    @property
    def answer_rate(self) -> float | None:
        return self.rate(self["answered_on_time"], self["answered_on_time"] + self["answered_late"])

    @property
    def redo_rate(self) -> float | None:
        """Answers sent back for redoing, of those reviewed."""
        return self.rate(self["redone"], self["reviewed"])

    @property
    def satisfaction(self) -> float | None:
        """Mean score (1–5) of the citizens' ratings and the call-backs together."""
        n = self["ratings"] + self["callbacks"]
        return round((self["rating_sum"] + self["callback_sum"]) / n, 2) if n else None


def sort_by_lateness(rows: list[UnitFigures]) -> list[UnitFigures]:
    """Worst first; ties by how much the unit was given, then by code."""
    return sorted(rows, key=lambda r: (-r.lateness, -r["dispatched"], r.unit_code))


async def unit_figures(session: AsyncSession, first: date, last: date, *,
                       district: str | None = None) -> list[UnitFigures]:
    """Per unit, the ``unit_day`` sums of ``[first, last]``, worst lateness first."""
    sums = [func.sum(getattr(UnitDay, name)) for name in UNIT_DAY_FIGURES]
    query = (select(Unit.code, Unit.name, Unit.district, *sums)
             .join(UnitDay, UnitDay.unit_id == Unit.id)
             .where(UnitDay.day >= first, UnitDay.day <= last)
             .group_by(Unit.code, Unit.name, Unit.district))
    if district is not None:
        query = query.where(Unit.district == district)
    rows = [UnitFigures(code, name, unit_district,
                        {k: int(v or 0) for k, v in zip(UNIT_DAY_FIGURES, values, strict=True)})
            for code, name, unit_district, *values in await session.execute(query)]
    return sort_by_lateness(rows)


def totals(rows: list[UnitFigures]) -> UnitFigures:
    """The column sums, as a unit row named 合计."""
    return UnitFigures("", "合计", None, {k: sum(r[k] for r in rows) for k in UNIT_DAY_FIGURES})


@dataclass(frozen=True, slots=True)
class Bucket:
    """One point of a trend: a day, an ISO week or a month."""

    label: str
    first: date
    last: date
    values: dict[str, int] = field(default_factory=dict)


def bucket_of(day: date, grain: str) -> tuple[str, date, date]:
    if grain == "week":
        monday = day - timedelta(days=day.weekday())
        iso = monday.isocalendar()
        return f"{iso.year}-W{iso.week:02d}", monday, monday + timedelta(days=6)
    if grain == "month":
        first = day.replace(day=1)
        nxt = (first + timedelta(days=32)).replace(day=1)
        return f"{day.year}-{day.month:02d}", first, nxt - timedelta(days=1)
    return day.isoformat(), day, day


async def trend(session: AsyncSession, first: date, last: date, grain: str, *,
                district: str | None = None) -> list[Bucket]:
    """Registered, dispatched and late per day, week or month of ``[first, last]``."""
    per_day: dict[date, dict[str, int]] = {}
    intake = select(IntakeHour.day, func.sum(IntakeHour.count)).where(
        IntakeHour.day >= first, IntakeHour.day <= last).group_by(IntakeHour.day)
    if district is not None:
        intake = intake.where(IntakeHour.district == district)
    for day, n in await session.execute(intake):
        per_day.setdefault(day, {})["registered"] = int(n or 0)
    handled = (select(UnitDay.day, func.sum(UnitDay.dispatched),
                      func.sum(UnitDay.read_late + UnitDay.answered_late))
               .where(UnitDay.day >= first, UnitDay.day <= last).group_by(UnitDay.day))
    if district is not None:
        handled = handled.join(Unit, Unit.id == UnitDay.unit_id).where(Unit.district == district)
    for day, dispatched, late in await session.execute(handled):
        per_day.setdefault(day, {}).update(dispatched=int(dispatched or 0), late=int(late or 0))
    buckets: dict[str, Bucket] = {}
    day = first
    while day <= last:
        label, b_first, b_last = bucket_of(day, grain)
        bucket = buckets.setdefault(label, Bucket(label, max(b_first, first), min(b_last, last),
                                                  {"registered": 0, "dispatched": 0, "late": 0}))
        for key, n in per_day.get(day, {}).items():
            bucket.values[key] += n
        day += timedelta(days=1)
    return list(buckets.values())


async def intake_by(session: AsyncSession, column: str, first: date, last: date, *,
                    district: str | None = None) -> dict[Any, int]:
    """Items registered in ``[first, last]`` by ``channel`` or ``hour`` (``intake_hour``)."""
    key = getattr(IntakeHour, column)
    query = (select(key, func.sum(IntakeHour.count))
             .where(IntakeHour.day >= first, IntakeHour.day <= last).group_by(key))
    if district is not None:
        query = query.where(IntakeHour.district == district)
    return {k: int(n or 0) for k, n in await session.execute(query)}


def _in_district(district: str | None) -> list[ColumnElement[bool]]:
    return [] if district is None else [Unit.district == district]


async def stage_counts(session: AsyncSession, *, district: str | None = None) -> dict[str, int]:
    """Open duties by stage now: bureau queues split by the case's screening, units' states,
    and answered items waiting for the publication decision (R9)."""
    out = {key: 0 for key, _ in STAGES}
    queued = (select(Case.status, func.count()).select_from(Assignment)
              .join(Case, Case.id == Assignment.case_id).join(Unit, Unit.id == Assignment.unit_id)
              .where(Assignment.role == AssignmentRole.BUREAU, Assignment.state == "queued",
                     *_in_district(district)).group_by(Case.status))
    for status, n in await session.execute(queued):
        out["registered" if status == CaseStatus.REGISTERED else "accepted"] += int(n)
    units = (select(Assignment.state, func.count()).select_from(Assignment)
             .join(Unit, Unit.id == Assignment.unit_id)
             .where(Assignment.state.in_(UNIT_STATES), Assignment.role != AssignmentRole.BUREAU,
                    *_in_district(district)).group_by(Assignment.state))
    for state, n in await session.execute(units):
        out[state] += int(n)
    answered = select(func.count()).select_from(Case).where(Case.status == CaseStatus.ANSWERED)
    if district is not None:
        answered = answered.where(Case.district_hint == district)
    out["answered"] = int(await session.scalar(answered) or 0)
    return out


def colour_of(now: datetime) -> Any:
    """SQL for an open clock's colour at ``now``."""
    return case((Deadline.due_at <= now, "red"), (Deadline.warn_at <= now, "yellow"), else_="green")


async def colour_counts(session: AsyncSession, now: datetime, *,
                        district: str | None = None) -> dict[str, dict[str, int]]:
    """Open clocks by kind and colour: {kind: {red, yellow, green}}."""
    colour = colour_of(now)
    query = (select(Deadline.kind, colour, func.count()).select_from(Deadline)
             .join(Assignment, Assignment.id == Deadline.assignment_id)
             .join(Unit, Unit.id == Assignment.unit_id)
             .where(Deadline.met_at.is_(None), *_in_district(district))
             .group_by(Deadline.kind, colour))
    out: dict[str, dict[str, int]] = {}
    for kind, col, n in await session.execute(query):
        out.setdefault(kind, {c: 0 for c, _ in COLOURS})[col] += int(n)
    return out


@dataclass(frozen=True, slots=True)
class ClockRow:
    """An open clock on the early-warning or overdue list."""

    number: str
    unit_code: str
    unit_name: str
    kind: str
    rule: str
    due_at: datetime
    state: str


async def clock_list(session: AsyncSession, now: datetime, which: str, *,
                     district: str | None = None, q: str = "", unit: str = "", kind: str = "",
                     limit: int = LIST_LIMIT) -> list[ClockRow]:
    """Open clocks that ran out (``overdue``, oldest first) or are due within one working day
    (``warning``, soonest first), filtered by case number or unit name, unit code and kind."""
    conditions = [Deadline.met_at.is_(None), *_in_district(district)]
    if which == "overdue":
        conditions.append(Deadline.due_at <= now)
    else:
        conditions += [Deadline.warn_at <= now, Deadline.due_at > now]
    if q.strip():
        like = "%" + q.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conditions.append(or_(Case.number.like(like, escape="\\"), Unit.name.like(like, escape="\\")))
    if unit:
        conditions.append(Unit.code == unit)
    if kind:
        conditions.append(Deadline.kind == kind)
    rows = await session.execute(
        select(Case.number, Unit.code, Unit.name, Deadline.kind, Deadline.rule, Deadline.due_at,
               Assignment.state).select_from(Deadline)
        .join(Assignment, Assignment.id == Deadline.assignment_id)
        .join(Unit, Unit.id == Assignment.unit_id).join(Case, Case.id == Deadline.case_id)
        .where(*conditions).order_by(Deadline.due_at, Deadline.id).limit(limit))
    return [ClockRow(*row) for row in rows]
