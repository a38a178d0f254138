"""Per-year calendar overrides read from TOML (``config/calendar.toml`` and a site file).

The State Council publishes next year's holidays and make-up working days (调休)
each autumn, often weeks before a new ``chinese-calendar`` release knows them,
and a city may add a local day off (a typhoon, a local festival). A site loads
the notice into a TOML file the day it is published; this module reads and
validates such files. The format is documented at the top of
``config/calendar.toml``.

Validation is strict and every error names the file, the year and the key, so
an administrator who mistypes a date on the day of the notice sees at once
which line is wrong instead of deadlines silently computed from a bad table.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from config.settings import CONFIG_DIR, ConfigError

#: The overrides that ship with the code.
SHIPPED_FILE = CONFIG_DIR / "calendar.toml"

_YEAR_KEYS = frozenset({"holidays", "workdays", "confirmed", "source"})
_YEAR_NAME = re.compile(r"^\d{4}$")
_RANGE_SEP = ".."


class CalendarConfigError(ConfigError):
    """A calendar override file is missing, not TOML, or has a bad year, key or date."""


@dataclass(frozen=True, slots=True)
class YearOverride:
    """One year's overrides from one file.

    ``holidays`` are days off even on a weekday; ``workdays`` are working days
    even on a weekend (the make-up days of 调休). ``confirmed`` says the lists
    are the State Council's complete notice for the year; ``source`` names it.
    """

    year: int
    holidays: frozenset[date]
    workdays: frozenset[date]
    confirmed: bool
    source: str
    origin: str

    def working(self, day: date) -> bool | None:
        """True/False when this override decides ``day``, None when it says nothing."""
        if day in self.workdays:
            return True
        if day in self.holidays:
            return False
        return None


#: All overrides of one file (one layer), by year.
OverrideLayer = Mapping[int, YearOverride]


def _parse_day(where: str, text: str, year: int) -> date:
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise CalendarConfigError(f"{where}: {text!r} is not a date (YYYY-MM-DD)") from None
    if day.year != year:
        raise CalendarConfigError(f"{where}: {day.isoformat()} is not in {year}")
    return day


def _parse_days(where: str, value: object, year: int) -> frozenset[date]:
    """A list of dates: TOML dates, ``"YYYY-MM-DD"`` or ``"YYYY-MM-DD..YYYY-MM-DD"``."""
    if not isinstance(value, list):
        raise CalendarConfigError(f"{where}: must be a list of dates")
    days: set[date] = set()
    for index, item in enumerate(value):
        at = f"{where}[{index}]"
        if isinstance(item, date) and not isinstance(item, datetime):
            days.add(_parse_day(at, item.isoformat(), year))
        elif isinstance(item, str) and _RANGE_SEP in item:
            first_text, _, last_text = item.partition(_RANGE_SEP)
            first = _parse_day(at, first_text, year)
            last = _parse_day(at, last_text, year)
            if last < first:
                raise CalendarConfigError(f"{at}: range {item!r} ends before it starts")
            days.update(first + timedelta(days=i) for i in range((last - first).days + 1))
        elif isinstance(item, str):
            days.add(_parse_day(at, item, year))
        else:
            raise CalendarConfigError(
                f"{at}: {item!r} is not a date (YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD)"
            )
    return frozenset(days)


def _parse_year(origin: str, name: str, raw: object) -> YearOverride:
    where = f"{origin}: [years.{name}]"
    if not _YEAR_NAME.match(name):
        raise CalendarConfigError(f"{where}: the table name must be a four-digit year")
    year = int(name)
    if not isinstance(raw, dict):
        raise CalendarConfigError(f"{where}: must be a table")
    unknown = set(raw) - _YEAR_KEYS
    if unknown:
        raise CalendarConfigError(
            f"{where}: unknown key(s) {', '.join(sorted(unknown))}; "
            f"known: {', '.join(sorted(_YEAR_KEYS))}"
        )
    holidays = _parse_days(f"{where} holidays", raw.get("holidays", []), year)
    workdays = _parse_days(f"{where} workdays", raw.get("workdays", []), year)
    both = sorted(holidays & workdays)
    if both:
        listed = ", ".join(d.isoformat() for d in both)
        raise CalendarConfigError(f"{where}: {listed} listed both as holidays and workdays")
    confirmed = raw.get("confirmed", False)
    if not isinstance(confirmed, bool):
        raise CalendarConfigError(f"{where} confirmed: must be true or false")
    source = raw.get("source", "")
    if not isinstance(source, str):
        raise CalendarConfigError(f"{where} source: must be a string")
    if confirmed and not source.strip():
        raise CalendarConfigError(
            f"{where} source: a confirmed year must name its notice (e.g. 国办发明电〔2026〕N号)"
        )
    if confirmed and not holidays:
        raise CalendarConfigError(
            f"{where} holidays: a confirmed year must list the notice's holidays"
        )
    return YearOverride(
        year=year, holidays=holidays, workdays=workdays,
        confirmed=confirmed, source=source.strip(), origin=origin,
    )


def parse_overrides(data: Mapping[str, object], *, origin: str) -> dict[int, YearOverride]:
    """Validate parsed TOML (``{"years": {"2027": {...}}}``) into overrides by year."""
    unknown = set(data) - {"years"}
    if unknown:
        raise CalendarConfigError(
            f"{origin}: unknown top-level key(s) {', '.join(sorted(unknown))}; "
            "put each year under [years.YYYY]"
        )
    years = data.get("years", {})
    if not isinstance(years, dict):
        raise CalendarConfigError(f"{origin}: 'years' must be a table of [years.YYYY] tables")
    parsed = (_parse_year(origin, str(name), raw) for name, raw in years.items())
    return {override.year: override for override in parsed}


def load_overrides(path: Path) -> dict[int, YearOverride]:
    """Read and validate one override file."""
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError as exc:
        raise CalendarConfigError(f"calendar override file not found: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise CalendarConfigError(f"{path}: not valid TOML: {exc}") from exc
    return parse_overrides(data, origin=str(path))
