"""What ``hotline calendar check`` and the desk banner say about the calendar.

Deadlines of December items run into January, so the year after today is as
important as today's: a year nobody has confirmed silently moves every
deadline that crosses Spring Festival. These lines say loudly which years in
the horizon are unconfirmed and what to do about it. Chinese first, English in
brackets, as on every operator-facing text.
"""

from __future__ import annotations

from datetime import date

from forwarder.calendar import WorkingCalendar

LOUD = "!!! "


def horizon_years(today: date, years_ahead: int = 1) -> range:
    """This year and the ``years_ahead`` following ones."""
    if years_ahead < 0:
        raise ValueError(f"years_ahead must be >= 0, got {years_ahead}")
    return range(today.year, today.year + years_ahead + 1)


def unconfirmed_years(
    calendar: WorkingCalendar, today: date, years_ahead: int = 1
) -> list[int]:
    """The unconfirmed years in the horizon (empty: all is well; the CLI exits 0)."""
    return [
        y for y in horizon_years(today, years_ahead) if not calendar.year_status(y).confirmed
    ]


def calendar_check(calendar: WorkingCalendar, today: date, years_ahead: int = 1) -> list[str]:
    """Human lines: one per year in the horizon, loud lines for each unconfirmed one."""
    years = horizon_years(today, years_ahead)
    lines = [
        f"工作日日历检查 (working-day calendar check): {years[0]}–{years[-1]}, "
        f"时区 (zone) {calendar.zone.key}"
    ]
    missing: list[int] = []
    for year in years:
        status = calendar.year_status(year)
        if status.confirmed:
            lines.append(f"{year}年：已确认 (confirmed) — 来源 (source): {status.source}")
            continue
        missing.append(year)
        lines.append(
            f"{LOUD}{year}年：未确认 (UNCONFIRMED) — 只按周末和固定日期节假日"
            "（元旦、劳动节、国庆节）推算，春节、清明、端午、中秋及调休上班日均未计入 "
            "(only weekends and fixed-date holidays; lunar holidays and make-up "
            "working days are unknown)"
        )
        lines.append(
            f"{LOUD}{year}年内计算的期限均为临时期限 "
            f"(every deadline that counts a day of {year} is PROVISIONAL)"
        )
    if missing:
        listed = "、".join(str(y) for y in missing)
        lines.append(
            f"{LOUD}请在国务院办公厅发布{listed}年放假安排通知后，将放假日和调休上班日录入 "
            "config/calendar.toml 或站点日历文件并设 confirmed = true "
            f"(load the State Council notice for {listed} into config/calendar.toml or "
            "the site calendar file with confirmed = true)"
        )
    else:
        lines.append("全部年份已确认 (all years confirmed)")
    return lines
