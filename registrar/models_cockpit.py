"""What the supervision cockpit and the bulletins read instead of scanning cases (issue 15).

The cockpit shows a period's figures per unit, per day and per hour of intake
at a glance; computing them from ``case``, ``assignment`` and ``deadline`` on
every page view would read every row of the period. So the sweeper keeps these
summary tables up to date (``forwarder.cockpit_summary``), each row the figures
of one day (or month):

* ``unit_day``: per handling unit and day of dispatch, what ``unit_stats``
  counts (clocks met and missed, 逾期办理, 过期未处理, first-time passes,
  ratings, findings) plus returns, redone answers and call-backs;
* ``unit_month``: ``unit_day`` summed per unit and calendar month, for a year's figures;
* ``intake_hour``: items registered per day, hour, channel and district.

``summary_mark`` holds how far the sweeper has read each source table, so a run
touches only what changed since the last one. ``callback_rating`` is the service
centre's call-back (回访) satisfaction, beside the citizen's own rating.
``bulletin`` keeps each numbered periodic bulletin (R11.1) as generated.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from registrar.models import Assignment, Base, BigId, Notice
from registrar.models_supervision import Finding

#: The cockpit's drill-down lists a unit's assignments of a period (not all of its history).
Index("ix_assignment_unit_id_created_at", Assignment.unit_id, Assignment.created_at)
#: … and every unit's, city-wide (the summaries' recount of a day reads it too).
Index("ix_assignment_created_at", Assignment.created_at)
#: Findings of a period (the summaries' recount of a day, the bulletin's list of notices).
Index("ix_finding_created_at", Finding.created_at)

#: The open 回访 rating request of a phone number (``forwarder.callbacks.open_request``),
#: asked on every inbound bare "1"/"2"/"3" (migration 0017).
Index("ix_notice_kind_address", Notice.kind, Notice.address)

#: The counters of ``unit_day``, in the order the cockpit shows them.
UNIT_DAY_FIGURES: tuple[str, ...] = (
    "dispatched", "read_on_time", "read_late", "answered_on_time", "answered_late",
    "overdue_handling", "expired_unhandled", "passed_first_time", "reviewed", "returns", "redone",
    "ratings", "rating_sum", "callbacks", "callback_sum", "charges", "waived", "notices",
)


class UnitFigures:
    """The counters ``unit_day`` and ``unit_month`` share (``UNIT_DAY_FIGURES``)."""

    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), primary_key=True)
    dispatched: Mapped[int] = mapped_column(Integer, default=0)
    read_on_time: Mapped[int] = mapped_column(Integer, default=0)
    read_late: Mapped[int] = mapped_column(Integer, default=0)
    answered_on_time: Mapped[int] = mapped_column(Integer, default=0)
    answered_late: Mapped[int] = mapped_column(Integer, default=0)
    overdue_handling: Mapped[int] = mapped_column(Integer, default=0)
    expired_unhandled: Mapped[int] = mapped_column(Integer, default=0)
    passed_first_time: Mapped[int] = mapped_column(Integer, default=0)
    reviewed: Mapped[int] = mapped_column(Integer, default=0)
    returns: Mapped[int] = mapped_column(Integer, default=0)
    """Assignments the unit asked to return (R8.3a)."""
    redone: Mapped[int] = mapped_column(Integer, default=0)
    """Answers that failed review at least once and went back for redoing (R8.4b)."""
    ratings: Mapped[int] = mapped_column(Integer, default=0)
    rating_sum: Mapped[int] = mapped_column(Integer, default=0)
    callbacks: Mapped[int] = mapped_column(Integer, default=0)
    callback_sum: Mapped[int] = mapped_column(Integer, default=0)
    charges: Mapped[int] = mapped_column(Integer, default=0)
    waived: Mapped[int] = mapped_column(Integer, default=0)
    notices: Mapped[int] = mapped_column(Integer, default=0)


class UnitDay(UnitFigures, Base):
    """One unit's figures for the handling assignments it was given on one day (R11.1)."""

    __tablename__ = "unit_day"
    __table_args__ = (Index("ix_unit_day_unit_id_day", "unit_id", "day"),)

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    """The city's calendar day the assignments were created (findings: the day they were made)."""


class UnitMonth(UnitFigures, Base):
    """A unit's ``unit_day`` rows of one calendar month, summed (migration 0025).

    Why: the year's ranking on the supervision desk summed every day of the year,
    ~17 000 rows at a year's history, so each view cost more as the year went on.
    ``recount_day`` sums the day's month again after each recount (a month's rows,
    all from the index), so a whole month is one row per unit, always equal to the
    sum of its days."""

    __tablename__ = "unit_month"

    month: Mapped[date] = mapped_column(Date, primary_key=True)
    """The month's first day."""


class IntakeHour(Base):
    """Items registered in one hour of one day, by channel and district hint."""

    __tablename__ = "intake_hour"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    hour: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    district: Mapped[str] = mapped_column(String(64), primary_key=True)
    """The item's district hint; ``""`` when it had none."""
    count: Mapped[int] = mapped_column(Integer, default=0)


class SummaryMark(Base):
    """The highest id of a source table the summaries have taken in."""

    __tablename__ = "summary_mark"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_id: Mapped[int] = mapped_column(BigInteger, default=0)


class CallbackRating(Base):
    """The citizen's satisfaction as the service centre heard it on a call-back (回访).

    One per rating request: a case the city bureau ordered redone after a
    dissatisfied call-back is asked again once the new answer is out, and both
    ratings stay (each answer the unit gave was rated)."""

    __tablename__ = "callback_rating"
    __table_args__ = (CheckConstraint("score BETWEEN 1 AND 5", name="score"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"), index=True)
    request_notice_id: Mapped[int | None] = mapped_column(ForeignKey("notice.id"), unique=True)
    """The ``rating_request`` notice this rating answers (None: rows from before 0019 whose
    case had no request)."""
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]


class Bulletin(Base):
    """A weekly or monthly supervision bulletin (R11.1), numbered per year and kind."""

    __tablename__ = "bulletin"
    __table_args__ = (
        CheckConstraint("kind IN ('weekly', 'monthly')", name="kind"),
        UniqueConstraint("kind", "scope", "first_day", name="uq_bulletin_kind_scope_first_day"),
        UniqueConstraint("kind", "scope", "year", "serial", name="uq_bulletin_kind_scope_year_serial"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    scope: Mapped[str] = mapped_column(String(64))
    """``""`` for the city-wide bulletin, else the district's name."""
    year: Mapped[int] = mapped_column(Integer)
    serial: Mapped[int] = mapped_column(Integer)
    first_day: Mapped[date] = mapped_column(Date)
    last_day: Mapped[date] = mapped_column(Date)
    title: Mapped[str] = mapped_column(String(200))
    html: Mapped[str] = mapped_column(Text)
    pdf: Mapped[bytes] = mapped_column(LargeBinary)
    made_by: Mapped[str] = mapped_column(String(100))
    """``worker`` for the schedule, else the account that asked for it."""
    created_at: Mapped[datetime]
