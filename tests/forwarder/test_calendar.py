"""The working-day calendar: pinned 2026 days, deadline counts (R7.2, R8.1, R8.2a), properties.

Expected values were read off the State Council's 2026 notice as shipped in
chinese-calendar 1.11.0: Spring Festival off 02-15..02-23 with working
Saturdays 02-14 and 02-28; Mid-Autumn 09-25..09-27; National Day off
10-01..10-07 with make-up days Sunday 09-20 and Saturday 10-10.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forwarder.calendar import Deadline, WorkingCalendar, YearState

SH = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def cal() -> WorkingCalendar:
    return WorkingCalendar.load()


def at(text: str) -> datetime:
    """A Shanghai wall-clock moment, e.g. '2026-11-27 10:00'."""
    return datetime.fromisoformat(text).replace(tzinfo=SH)


DAYS = [
    # (day, working?, why)
    ("2026-02-13", True, "Friday before Spring Festival"),
    ("2026-02-14", True, "Saturday made a working day (调休)"),
    ("2026-02-15", False, "Spring Festival begins"),
    ("2026-02-17", False, "Spring Festival, Tuesday"),
    ("2026-02-23", False, "Spring Festival ends, Monday"),
    ("2026-02-24", True, "first day back"),
    ("2026-02-28", True, "Saturday made a working day (调休)"),
    ("2026-03-01", False, "ordinary Sunday"),
    ("2026-09-20", True, "Sunday made a working day for National Day"),
    ("2026-09-25", False, "Mid-Autumn, Friday"),
    ("2026-09-30", True, "Wednesday before National Day"),
    ("2026-10-01", False, "National Day"),
    ("2026-10-07", False, "last day of National Day holiday, Wednesday"),
    ("2026-10-08", True, "first day back"),
    ("2026-10-10", True, "Saturday made a working day for National Day"),
    ("2026-10-11", False, "ordinary Sunday"),
    ("2026-12-31", True, "Thursday"),
    ("2027-01-01", False, "元旦, fixed date, known even unconfirmed"),
    ("2027-01-02", False, "Saturday"),
    ("2027-01-04", True, "Monday"),
    ("2027-05-03", True, "Monday after Labour Day (unconfirmed: no bridge days known)"),
    ("2027-10-01", False, "National Day, Friday (fixed)"),
    ("2028-05-01", False, "Labour Day, Monday (fixed)"),
    ("2028-05-02", False, "Labour Day second day, Tuesday (fixed since 2025)"),
    ("2028-10-03", False, "National Day third day, Tuesday (fixed)"),
    ("2028-10-04", True, "Wednesday after the fixed National Day days"),
    ("2027-10-04", True, "Monday after the fixed National Day days (unconfirmed year)"),
    ("2027-02-08", True, "Spring Festival week 2027, unknown: counted as working (provisional)"),
]


@pytest.mark.parametrize(("day", "working", "why"), DAYS, ids=[d[0] for d in DAYS])
def test_pinned_days_follow_the_statutory_calendar(
    cal: WorkingCalendar, day: str, working: bool, why: str
) -> None:
    assert cal.is_working_day(date.fromisoformat(day)) is working, why


DEADLINES = [
    # (test id, event (Shanghai), n, deadline day, provisional)
    ("R7_2_friday_item_due_monday", "2026-11-27 10:00", 1, "2026-11-30", False),
    ("R7_2_spring_festival_eve_due_working_sat", "2026-02-13 15:00", 1, "2026-02-14", False),
    ("R7_2_item_on_working_saturday_due_after_holiday", "2026-02-14 09:00", 1, "2026-02-24", False),
    ("R7_2_item_in_holiday_due_first_day_back", "2026-02-18 11:00", 1, "2026-02-24", False),
    ("R8_1_two_days_reach_working_saturday", "2026-02-12 16:00", 2, "2026-02-14", False),
    ("R8_1_two_days_across_spring_festival", "2026-02-13 09:00", 2, "2026-02-24", False),
    ("R8_2a_ten_days_across_spring_festival", "2026-02-10 09:00", 10, "2026-03-02", False),
    ("R7_2_friday_before_national_day_makeup_sunday", "2026-09-18 17:00", 1, "2026-09-20", False),
    ("R7_2_eve_of_national_day_due_10_08", "2026-09-30 12:00", 1, "2026-10-08", False),
    ("R8_1_two_days_across_national_day", "2026-09-30 12:00", 2, "2026-10-09", False),
    ("R8_1_two_days_reach_makeup_saturday_10_10", "2026-10-08 08:00", 2, "2026-10-10", False),
    ("R8_2a_ten_days_across_national_day", "2026-09-24 10:00", 10, "2026-10-15", False),
    ("R7_2_year_end_within_2026_confirmed", "2026-12-30 10:00", 1, "2026-12-31", False),
    ("R8_1_year_end_into_2027_provisional", "2026-12-30 10:00", 2, "2027-01-04", True),
    ("R7_2_new_years_eve_due_in_2027_provisional", "2026-12-31 16:00", 1, "2027-01-04", True),
    ("R8_2a_ten_days_into_2027_provisional", "2026-12-24 10:00", 10, "2027-01-08", True),
    ("same_day_n0_is_end_of_event_day", "2026-12-31 16:00", 0, "2026-12-31", False),
    ("same_day_n0_on_a_holiday_keeps_the_day", "2026-10-03 09:00", 0, "2026-10-03", False),
]


@pytest.mark.parametrize(
    ("event", "n", "due", "provisional"),
    [d[1:] for d in DEADLINES],
    ids=[d[0] for d in DEADLINES],
)
def test_deadline_counts_from_next_working_day(
    cal: WorkingCalendar, event: str, n: int, due: str, provisional: bool
) -> None:
    deadline = cal.add_working_days(at(event), n)
    due_day = date.fromisoformat(due)
    assert deadline.day == due_day
    assert deadline.at == datetime.combine(due_day + timedelta(days=1), datetime.min.time(), SH)
    assert deadline.provisional is provisional
    assert deadline.unconfirmed_years == ((2027,) if provisional else ())


def test_R7_2_deadline_end_is_exclusive_midnight_after_the_day(cal: WorkingCalendar) -> None:
    deadline = cal.add_working_days(at("2026-11-27 10:00"), 1)
    assert deadline.at == at("2026-12-01 00:00")
    assert not deadline.is_overdue(at("2026-11-30 23:59:59.999999"))
    assert deadline.is_overdue(at("2026-12-01 00:00"))
    assert deadline.is_overdue(datetime(2026, 11, 30, 16, 0, tzinfo=UTC))  # = 12-01 00:00 local


@pytest.mark.parametrize(
    ("utc_moment", "due"),
    [
        ("2026-11-26T15:59:59+00:00", "2026-11-27"),  # Thursday 23:59:59 in Shanghai
        ("2026-11-26T16:00:00+00:00", "2026-11-30"),  # Friday 00:00 in Shanghai
    ],
)
def test_event_day_is_taken_in_the_calendar_zone(
    cal: WorkingCalendar, utc_moment: str, due: str
) -> None:
    deadline = cal.add_working_days(datetime.fromisoformat(utc_moment), 1)
    assert deadline.day == date.fromisoformat(due)


def test_bad_arguments_are_refused_with_a_clear_error(cal: WorkingCalendar) -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        cal.add_working_days(datetime(2026, 11, 27, 10), 1)
    with pytest.raises(ValueError, match="n >= 0"):
        cal.add_working_days(at("2026-11-27 10:00"), -1)
    with pytest.raises(TypeError, match="takes a date"):
        cal.is_working_day(at("2026-11-27 10:00"))


def test_year_status_names_confirmed_and_unconfirmed_years(cal: WorkingCalendar) -> None:
    status_2026 = cal.year_status(2026)
    assert status_2026.state is YearState.CONFIRMED
    assert "chinese-calendar" in status_2026.source
    status_2027 = cal.year_status(2027)
    assert status_2027.state is YearState.UNCONFIRMED
    assert not status_2027.confirmed
    assert "fixed-date holidays only" in status_2027.source


def test_without_the_package_every_year_falls_back_to_fixed_dates() -> None:
    bare = WorkingCalendar(package=None)
    assert bare.is_working_day(date(2026, 2, 16))  # Spring Festival unknown
    assert not bare.is_working_day(date(2026, 2, 14))  # make-up Saturday unknown
    assert not bare.is_working_day(date(2026, 5, 1))
    assert bare.year_status(2026).state is YearState.UNCONFIRMED
    assert bare.add_working_days(at("2026-02-13 10:00"), 1).provisional


@pytest.mark.parametrize(
    ("start", "end", "count"),
    [
        ("2026-02-13", "2026-02-24", 2),  # 02-14 and 02-24
        ("2026-02-24", "2026-02-13", -2),
        ("2026-09-30", "2026-10-10", 3),  # 10-08, 10-09, 10-10
        ("2026-10-05", "2026-10-05", 0),
        ("2026-12-31", "2027-01-04", 1),
    ],
)
def test_working_days_between_counts_the_half_open_span(
    cal: WorkingCalendar, start: str, end: str, count: int
) -> None:
    assert cal.working_days_between(date.fromisoformat(start), date.fromisoformat(end)) == count


@pytest.mark.parametrize(
    ("deadline_day", "working_days", "warn_at"),
    [
        ("2026-11-30", 1, "2026-11-30 00:00"),  # due today
        ("2026-11-30", 2, "2026-11-27 00:00"),  # skips the weekend
        ("2026-02-24", 2, "2026-02-14 00:00"),  # skips Spring Festival to the working Saturday
        ("2026-10-03", 1, "2026-09-30 00:00"),  # n=0 deadline on a holiday
    ],
)
def test_early_warning_starts_the_last_working_days_before_the_deadline(
    cal: WorkingCalendar, deadline_day: str, working_days: int, warn_at: str
) -> None:
    day = date.fromisoformat(deadline_day)
    deadline = Deadline(at=cal.start_of(day + timedelta(days=1)), day=day, provisional=False)
    assert cal.warning_at(deadline, working_days=working_days) == at(warn_at)


# -- properties -------------------------------------------------------------

moments = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2027, 6, 30), timezones=st.just(UTC)
)
counts = st.integers(min_value=0, max_value=25)


@settings(max_examples=200, deadline=None)
@given(moment=moments, n=counts)
def test_R8_2a_property_deadline_lands_on_a_working_day_n_days_on(
    cal: WorkingCalendar, moment: datetime, n: int
) -> None:
    deadline = cal.add_working_days(moment, n)
    start = cal.local_date(moment)
    assert deadline.at == cal.start_of(deadline.day + timedelta(days=1))
    assert deadline.at > moment
    if n == 0:
        assert deadline.day == start
        assert not deadline.provisional
        return
    assert cal.is_working_day(deadline.day)
    assert cal.working_days_between(start, deadline.day) == n
    assert deadline.provisional is (deadline.day.year == 2027)
    assert moment < cal.warning_at(deadline) < deadline.at


@settings(max_examples=200, deadline=None)
@given(moment=moments, n=counts, extra=st.integers(min_value=1, max_value=15))
def test_property_deadlines_grow_with_n_and_compose(
    cal: WorkingCalendar, moment: datetime, n: int, extra: int
) -> None:
    shorter = cal.add_working_days(moment, n)
    longer = cal.add_working_days(moment, n + extra)
    assert shorter.day < longer.day
    assert shorter.provisional <= longer.provisional
    if n >= 1:
        assert cal.add_working_days(cal.start_of(shorter.day), extra).day == longer.day


class _CountingSource:
    """A holiday table that counts how often it is asked (weekends off, nothing else)."""

    name = "counting"

    def __init__(self) -> None:
        self.asked = 0

    def working(self, day: date) -> bool | None:
        self.asked += 1
        return day.weekday() < 5


def test_each_day_is_decided_once_and_each_deadline_counted_once() -> None:
    """Intake counts the same deadlines for every item of a day: the package (which scans its
    whole table per question) is asked once per day, and the answers stay the same."""
    source = _CountingSource()
    calendar = WorkingCalendar(zone="Asia/Shanghai", package=source)
    moment = datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    first = calendar.add_working_days(moment, 15)
    asked = source.asked
    assert all(calendar.add_working_days(moment + timedelta(hours=h), 15) == first for h in range(5))
    assert calendar.add_working_days(moment, 16).day == calendar.next_working_day(first.day)
    assert source.asked == asked + 1  # only the one new day the 16th working day needed


@settings(max_examples=200, deadline=None)
@given(start=st.dates(min_value=date(2024, 1, 1), max_value=date(2028, 12, 31)),
       span=st.integers(min_value=-800, max_value=800))
def test_property_working_days_between_equals_counting_day_by_day(
        cal: WorkingCalendar, start: date, span: int) -> None:
    """Counted from each year's running totals (a desk asks it for every listed item, some a
    year late): the same as asking every day in (start, end], across year ends and holidays."""
    end = start + timedelta(days=span)
    low, high = min(start, end), max(start, end)
    by_day = sum(cal.is_working_day(low + timedelta(days=i)) for i in range(1, (high - low).days + 1))
    assert cal.working_days_between(start, end) == (by_day if end >= start else -by_day)
