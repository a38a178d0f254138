"""The working-day calendar every deadline is counted in (R7–R8, R11).

"Working day" means the PRC statutory calendar with its make-up working
weekends (调休). Three sources decide a day, the later winning:

1. the rule of last resort: Monday–Friday work, except the statutory holidays
   that fall on fixed Gregorian dates (see ``FIXED_HOLIDAYS``);
2. the ``chinese-calendar`` package, for the years it knows;
3. override layers from TOML (``config/calendar.toml``, then a site file), so a
   site can load the State Council's notice the day it is published.

A year is *confirmed* when the package knows it or an override layer marks it
``confirmed = true``. Any other year (2027, as of chinese-calendar 1.11.0) is
*unconfirmed*: only rule 1 applies, so Spring Festival, Qingming, Dragon Boat and
Mid-Autumn are missing and no make-up weekend is known. Deadlines that count or
skip a day of such a year are marked ``provisional`` so the desk, the sweeper
and ``hotline calendar check`` can say so loudly, and can recompute them once
the notice is loaded.

Conventions (the lead stores ``Deadline.at`` on rows):

* ``add_working_days(moment, n)`` counts from the next working day after the
  local date of ``moment`` (the regulation's introduction): n = 1 ends with the
  first working day after the event's day.
* ``Deadline.at`` is an **exclusive** end: local midnight at the start of the
  day after the deadline day. An item is late when ``now >= at``. This avoids
  23:59:59.999999 and compares correctly across databases that drop
  microseconds.
* n = 0 means "the same day" (R5.2): the deadline is the end of the event's own
  local day, whether or not that day is a working day, and is never provisional
  because no working day is judged.

Pure: no clock, no I/O after construction (``load`` reads the files once).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from importlib import metadata
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

import chinese_calendar

from forwarder.calendar_overrides import (
    SHIPPED_FILE,
    CalendarConfigError,
    OverrideLayer,
    YearOverride,
    load_overrides,
)

#: Statutory holidays on fixed Gregorian dates under the 《全国年节及纪念日放假办法》
#: as revised in 2024 (in force 2025-01-01): 元旦 01-01, 劳动节 05-01 and 05-02,
#: 国庆节 10-01 to 10-03. 春节 (with 除夕), 端午 and 中秋 follow the lunar
#: calendar and 清明 a solar term, so they are unknown for an unconfirmed year;
#: the make-up days around all of them are set by each year's notice.
FIXED_HOLIDAYS: frozenset[tuple[int, int]] = frozenset(
    {(1, 1), (5, 1), (5, 2), (10, 1), (10, 2), (10, 3)}
)

#: No calendar has a year without a working day; longer means broken overrides.
_MAX_SCAN_DAYS = 366
#: Working-day answers kept per calendar (about 55 years of days): ample, never unbounded.
_MAX_CACHED_DAYS = 20_000


class YearState(StrEnum):
    """Whether a year's holidays are known from an authoritative source."""

    CONFIRMED = "confirmed"
    UNCONFIRMED = "unconfirmed"


@dataclass(frozen=True, slots=True)
class YearStatus:
    """One year's state and where its holidays come from."""

    year: int
    state: YearState
    source: str

    @property
    def confirmed(self) -> bool:
        return self.state is YearState.CONFIRMED


@dataclass(frozen=True, slots=True)
class Deadline:
    """A deadline: ``at`` is the exclusive end (start of the day after ``day``)."""

    at: datetime
    day: date
    provisional: bool
    unconfirmed_years: tuple[int, ...] = ()

    def is_overdue(self, now: datetime) -> bool:
        """True from the first instant after the deadline day."""
        return now >= self.at


class HolidaySource(Protocol):
    """A published holiday table, e.g. the chinese-calendar package."""

    @property
    def name(self) -> str: ...

    def working(self, day: date) -> bool | None:
        """Whether ``day`` is a working day; None when the source does not know its year."""


class ChineseCalendarSource:
    """The ``chinese-calendar`` package; its NotImplementedError means "year unknown"."""

    @property
    def name(self) -> str:
        try:
            return f"chinese-calendar {metadata.version('chinese-calendar')}"
        except metadata.PackageNotFoundError:  # pragma: no cover - installed as a dependency
            return "chinese-calendar"

    def working(self, day: date) -> bool | None:
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            return None


#: The package as a source (stateless, so one shared instance is harmless).
CHINESE_CALENDAR = ChineseCalendarSource()


class WorkingCalendar:
    """Decides working days and counts deadlines in one time zone."""

    def __init__(
        self,
        *,
        zone: ZoneInfo | str = "Asia/Shanghai",
        layers: Sequence[OverrideLayer] = (),
        package: HolidaySource | None = CHINESE_CALENDAR,
    ) -> None:
        """Build from override layers (later wins) and a package (None: none at all)."""
        self.zone = zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)
        self._layers = tuple(layers)
        self._package = package
        self._status: dict[int, YearStatus] = {}
        # Every receipt and clock counts days ahead, and the package's check scans its whole
        # holiday table per day asked (min/max over its keys): that was a third of a web
        # intake's CPU. The layers and package never change after construction, so an
        # answer once given holds; the bound only stops an odd caller from growing it forever.
        self._working: dict[date, bool] = {}
        self._counts: dict[int, list[int]] = {}
        self._deadlines: dict[tuple[date, int], Deadline] = {}

    @classmethod
    def load(
        cls,
        *,
        zone: ZoneInfo | str = "Asia/Shanghai",
        site_file: Path | None = None,
        shipped_file: Path = SHIPPED_FILE,
        package: HolidaySource | None = CHINESE_CALENDAR,
    ) -> WorkingCalendar:
        """The production calendar: chinese-calendar, the shipped file, the site file."""
        layers = [load_overrides(shipped_file)]
        if site_file is not None:
            layers.append(load_overrides(site_file))
        return cls(zone=zone, layers=layers, package=package)

    # -- days ---------------------------------------------------------------

    def _overrides(self, year: int) -> list[YearOverride]:
        return [layer[year] for layer in self._layers if year in layer]

    def is_working_day(self, day: date) -> bool:
        """Whether ``day`` (a date, not a datetime) is a working day."""
        if isinstance(day, datetime):
            raise TypeError("is_working_day takes a date; use local_date(moment) first")
        known = self._working.get(day)
        if known is None:
            if len(self._working) >= _MAX_CACHED_DAYS:
                self._working.clear()
            known = self._working[day] = self._decide(day)
        return known

    def _decide(self, day: date) -> bool:
        for override in reversed(self._overrides(day.year)):
            decided = override.working(day)
            if decided is not None:
                return decided
        if self._package is not None:
            known = self._package.working(day)
            if known is not None:
                return known
        return day.weekday() < 5 and (day.month, day.day) not in FIXED_HOLIDAYS

    def year_status(self, year: int) -> YearStatus:
        """Confirmed or unconfirmed, and the sources that decide the year."""
        cached = self._status.get(year)
        if cached is not None:
            return cached
        sources: list[str] = []
        package_known = (
            self._package is not None and self._package.working(date(year, 1, 1)) is not None
        )
        if package_known and self._package is not None:
            sources.append(self._package.name)
        overrides = self._overrides(year)
        for o in overrides:
            sources.append(f"{o.source or '局部覆盖 (partial override)'} [{o.origin}]")
        confirmed = package_known or any(o.confirmed for o in overrides)
        if not confirmed:
            sources.insert(0, "仅周末与固定日期节假日 (weekends and fixed-date holidays only)")
        status = YearStatus(
            year=year,
            state=YearState.CONFIRMED if confirmed else YearState.UNCONFIRMED,
            source="; ".join(sources),
        )
        self._status[year] = status
        return status

    def next_working_day(self, day: date) -> date:
        """The first working day strictly after ``day``."""
        candidate = day
        for _ in range(_MAX_SCAN_DAYS):
            candidate += timedelta(days=1)
            if self.is_working_day(candidate):
                return candidate
        raise CalendarConfigError(
            f"no working day in the {_MAX_SCAN_DAYS} days after {day.isoformat()}: "
            "check the calendar overrides"
        )

    def previous_working_day(self, day: date) -> date:
        """The last working day strictly before ``day``."""
        candidate = day
        for _ in range(_MAX_SCAN_DAYS):
            candidate -= timedelta(days=1)
            if self.is_working_day(candidate):
                return candidate
        raise CalendarConfigError(
            f"no working day in the {_MAX_SCAN_DAYS} days before {day.isoformat()}: "
            "check the calendar overrides"
        )

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in (start, end]; negative when end is before start.

        ``working_days_between(d, add_working_days(m, n).day) == n`` for the
        local date ``d`` of ``m`` and every n >= 1.
        """
        if end < start:
            return -self.working_days_between(end, start)
        # Counted from each year's running totals, not day by day: a desk shows how many
        # working days each listed item is late, and at a year's history an old late item
        # is hundreds of days behind (the inbox spent 40 ms a view on this at 1 M cases).
        whole_years = sum(self._year_counts(year)[-1] for year in range(start.year, end.year))
        return self._through(end) - self._through(start) + whole_years

    def _year_counts(self, year: int) -> list[int]:
        """``counts[k]``: the working days among the first ``k`` days of ``year``."""
        counts = self._counts.get(year)
        if counts is None:
            counts = [0]
            day = date(year, 1, 1)
            while day.year == year:
                counts.append(counts[-1] + self.is_working_day(day))
                if day == date.max:
                    break
                day += timedelta(days=1)
            if len(self._counts) >= _MAX_CACHED_DAYS // 366:
                self._counts.clear()
            self._counts[year] = counts
        return counts

    def _through(self, day: date) -> int:
        """Working days from 1 January of ``day``'s year up to and including ``day``."""
        return self._year_counts(day.year)[day.timetuple().tm_yday]

    # -- moments ------------------------------------------------------------

    def local_date(self, moment: datetime) -> date:
        """The calendar date of an aware moment in this calendar's zone."""
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(f"naive datetime {moment.isoformat()}: pass an aware datetime")
        return moment.astimezone(self.zone).date()

    def start_of(self, day: date) -> datetime:
        """Local midnight at the start of ``day``."""
        return datetime.combine(day, time(0), tzinfo=self.zone)

    def add_working_days(self, moment: datetime, n: int) -> Deadline:
        """The deadline n working days after ``moment``, counted from the next working day."""
        if n < 0:
            raise ValueError(f"a deadline needs n >= 0 working days, got {n}")
        start = self.local_date(moment)
        # Every intake counts the same few deadlines from the same day: count each once.
        known = self._deadlines.get((start, n))
        if known is None:
            if len(self._deadlines) >= _MAX_CACHED_DAYS:
                self._deadlines.clear()
            known = self._deadlines[(start, n)] = self._count(start, n)
        return known

    def _count(self, start: date, n: int) -> Deadline:
        day = start
        for _ in range(n):
            day = self.next_working_day(day)
        first_judged = start + timedelta(days=1)
        years = range(first_judged.year, day.year + 1) if n else range(0)
        unconfirmed = tuple(y for y in years if not self.year_status(y).confirmed)
        return Deadline(
            at=self.start_of(day + timedelta(days=1)),
            day=day,
            provisional=bool(unconfirmed),
            unconfirmed_years=unconfirmed,
        )

    def warning_at(self, deadline: Deadline, *, working_days: int = 1) -> datetime:
        """When to warn that ``working_days`` working days are left (R11 early warning).

        The start of the ``working_days``-th working day counted back from the
        deadline day (inclusive). With the default 1 that is the start of the
        deadline day itself ("due today"), which always lies after the event
        for n >= 1; an earlier choice (the working day before) would fall
        before the event of every 1-working-day deadline. A result in the past
        means "warn now".
        """
        if working_days < 1:
            raise ValueError(f"working_days must be >= 1, got {working_days}")
        day = deadline.day if self.is_working_day(deadline.day) else (
            self.previous_working_day(deadline.day)
        )
        for _ in range(working_days - 1):
            day = self.previous_working_day(day)
        return self.start_of(day)
