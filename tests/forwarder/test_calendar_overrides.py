"""Calendar overrides from TOML and the ``hotline calendar check`` lines.

A site loads the State Council's notice the day it is out; a typo must stop
the service with a message naming the file, year and key, never produce
silently wrong deadlines.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from config.settings import ConfigError
from forwarder.calendar import WorkingCalendar, YearState
from forwarder.calendar_check import calendar_check, unconfirmed_years
from forwarder.calendar_overrides import (
    SHIPPED_FILE,
    CalendarConfigError,
    load_overrides,
    parse_overrides,
)

FIXTURES = Path(__file__).parent / "fixtures"
NOTICE_2027 = FIXTURES / "calendar_2027_notice_published.toml"
TYPHOON = FIXTURES / "calendar_site_typhoon_day_off.toml"
SH = ZoneInfo("Asia/Shanghai")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SH)


def test_shipped_file_loads_and_leaves_2027_unconfirmed() -> None:
    """Nobody may ship guessed 2027 dates as confirmed (update when the notice is out)."""
    shipped = load_overrides(SHIPPED_FILE)
    assert 2027 not in shipped or not shipped[2027].confirmed
    assert WorkingCalendar.load().year_status(2027).state is YearState.UNCONFIRMED


def test_commented_2027_example_in_shipped_file_parses() -> None:
    """The example administrators copy must itself be valid."""
    text = SHIPPED_FILE.read_text(encoding="utf-8")
    block = text[text.index("# [years.2027]") :].split("\n#\n", 1)[0]
    example = "\n".join(line.removeprefix("# ") for line in block.splitlines())
    import tomllib

    parsed = parse_overrides(tomllib.loads(example), origin="example")
    assert parsed[2027].confirmed
    assert date(2027, 2, 8) in parsed[2027].holidays
    assert date(2027, 2, 14) in parsed[2027].workdays


def test_R8_1_site_notice_confirms_2027_and_removes_provisional_flag() -> None:
    cal = WorkingCalendar.load(site_file=NOTICE_2027)
    status = cal.year_status(2027)
    assert status.state is YearState.CONFIRMED
    assert "国办发明电" in status.source
    new_year = cal.add_working_days(at("2026-12-31 16:00"), 2)
    assert (new_year.day, new_year.provisional) == (date(2027, 1, 5), False)
    # Placeholder Spring Festival 02-05..02-11, make-up Sunday 02-14.
    festival = cal.add_working_days(at("2027-02-04 10:00"), 2)
    assert (festival.day, festival.provisional) == (date(2027, 2, 14), False)
    assert calendar_check(cal, date(2026, 11, 1))[-1] == "全部年份已确认 (all years confirmed)"


def test_R7_2_site_day_off_moves_deadline_and_keeps_year_confirmed() -> None:
    cal = WorkingCalendar.load(site_file=TYPHOON)
    assert not cal.is_working_day(date(2026, 9, 16))
    deadline = cal.add_working_days(at("2026-09-15 10:00"), 1)
    assert (deadline.day, deadline.provisional) == (date(2026, 9, 17), False)
    status = cal.year_status(2026)
    assert status.confirmed
    assert "chinese-calendar" in status.source and "台风" in status.source


def test_later_layer_wins_per_day_over_earlier_layer_and_package() -> None:
    shipped = parse_overrides(
        {"years": {"2026": {"holidays": ["2026-11-30"]}}}, origin="shipped"
    )
    site = parse_overrides(
        {"years": {"2026": {"workdays": ["2026-11-30", "2026-02-16"]}}}, origin="site"
    )
    assert not WorkingCalendar(layers=[shipped]).is_working_day(date(2026, 11, 30))
    both = WorkingCalendar(layers=[shipped, site])
    assert both.is_working_day(date(2026, 11, 30))
    assert both.is_working_day(date(2026, 2, 16))  # over chinese-calendar's Spring Festival


def test_unconfirmed_partial_override_still_leaves_year_provisional() -> None:
    layer = parse_overrides({"years": {"2027": {"holidays": ["2027-02-08"]}}}, origin="site")
    cal = WorkingCalendar(layers=[layer])
    assert not cal.is_working_day(date(2027, 2, 8))
    assert cal.year_status(2027).state is YearState.UNCONFIRMED
    assert cal.add_working_days(at("2027-02-05 10:00"), 1).provisional


def test_range_strings_and_toml_dates_expand_to_each_day() -> None:
    parsed = parse_overrides(
        {"years": {"2027": {"holidays": [date(2027, 1, 1), "2027-02-05..2027-02-07"]}}},
        origin="t",
    )
    assert parsed[2027].holidays == {date(2027, 1, 1), *(date(2027, 2, d) for d in (5, 6, 7))}


BAD_FILES = [
    # (test id, file text, error message pattern)
    (
        "bad_date",
        '[years.2027]\nholidays = ["2027-13-01"]',
        r"\[years\.2027\] holidays\[0\]: '2027-13-01' is not a date",
    ),
    (
        "date_in_other_year",
        '[years.2027]\nworkdays = ["2026-12-31"]',
        r"\[years\.2027\] workdays\[0\]: 2026-12-31 is not in 2027",
    ),
    (
        "range_backwards",
        '[years.2027]\nholidays = ["2027-02-11..2027-02-05"]',
        r"ends before it starts",
    ),
    (
        "both_lists",
        '[years.2027]\nholidays = ["2027-02-14"]\nworkdays = ["2027-02-14"]',
        r"\[years\.2027\]: 2027-02-14 listed both",
    ),
    (
        "unknown_key",
        '[years.2027]\nholiday = ["2027-01-01"]',
        r"\[years\.2027\]: unknown key\(s\) holiday",
    ),
    (
        "year_name",
        '[years.27]\nholidays = ["2027-01-01"]',
        r"\[years\.27\]: the table name must be a four-digit year",
    ),
    (
        "top_level_year",
        '[2027]\nholidays = ["2027-01-01"]',
        r"unknown top-level key\(s\) 2027",
    ),
    (
        "confirmed_not_bool",
        '[years.2027]\nconfirmed = "yes"',
        r"\[years\.2027\] confirmed: must be true or false",
    ),
    (
        "confirmed_without_source",
        '[years.2027]\nconfirmed = true\nholidays = ["2027-01-01"]',
        r"\[years\.2027\] source: a confirmed year must name its notice",
    ),
    (
        "confirmed_without_holidays",
        '[years.2027]\nconfirmed = true\nsource = "x"',
        r"\[years\.2027\] holidays: a confirmed year must list",
    ),
    (
        "number_not_date",
        "[years.2027]\nholidays = [20270101]",
        r"holidays\[0\]: 20270101 is not a date",
    ),
    (
        "datetime_not_date",
        "[years.2027]\nholidays = [2027-01-01T00:00:00]",
        r"holidays\[0\]: .* is not a date",
    ),
    (
        "list_expected",
        '[years.2027]\nholidays = "2027-01-01"',
        r"\[years\.2027\] holidays: must be a list",
    ),
    (
        "not_toml",
        "[years.2027\n",
        r"not valid TOML",
    ),
]


@pytest.mark.parametrize(
    ("text", "message"), [b[1:] for b in BAD_FILES], ids=[b[0] for b in BAD_FILES]
)
def test_invalid_override_file_is_refused_naming_year_and_key(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "site-calendar.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CalendarConfigError, match=message) as caught:
        WorkingCalendar.load(site_file=path)
    assert str(path) in str(caught.value)
    assert isinstance(caught.value, ConfigError)


def test_missing_site_file_is_refused_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.toml"
    with pytest.raises(CalendarConfigError, match=re.escape(f"not found: {missing}")):
        WorkingCalendar.load(site_file=missing)


def test_overrides_that_leave_no_working_day_fail_loudly() -> None:
    whole_year = {"years": {"2026": {"holidays": ["2026-01-01..2026-12-31"]}}}
    layer = parse_overrides(whole_year, origin="s")
    cal = WorkingCalendar(layers=[layer], package=None)
    with pytest.raises(CalendarConfigError, match="no working day"):
        cal.add_working_days(at("2025-12-31 10:00"), 2)


def test_calendar_check_is_loud_about_unconfirmed_2027() -> None:
    cal = WorkingCalendar.load()
    lines = calendar_check(cal, date(2026, 11, 27))
    assert lines[1].startswith("2026年：已确认 (confirmed)")
    loud = [line for line in lines if line.startswith("!!! ")]
    assert len(loud) == 3
    assert "2027年：未确认 (UNCONFIRMED)" in loud[0]
    assert "PROVISIONAL" in loud[1]
    assert "config/calendar.toml" in loud[2]
    assert unconfirmed_years(cal, date(2026, 11, 27)) == [2027]


def test_calendar_check_without_horizon_is_quiet_in_a_known_year() -> None:
    cal = WorkingCalendar.load()
    lines = calendar_check(cal, date(2026, 3, 1), years_ahead=0)
    assert not any(line.startswith("!!!") for line in lines)
    assert unconfirmed_years(cal, date(2026, 3, 1), years_ahead=0) == []
    with pytest.raises(ValueError, match="years_ahead"):
        calendar_check(cal, date(2026, 3, 1), years_ahead=-1)
