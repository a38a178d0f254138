"""The registrar's ``DuePolicy`` over the working-day calendar."""

from __future__ import annotations

from datetime import datetime

from forwarder.calendar import WorkingCalendar
from registrar.deadlines import Due


class CalendarDuePolicy:
    """Counts deadlines in working days; warns at the start of the deadline day."""

    def __init__(self, calendar: WorkingCalendar) -> None:
        self.calendar = calendar

    def due(self, start: datetime, working_days: int) -> Due:
        deadline = self.calendar.add_working_days(start, working_days)
        warn_at = max(self.calendar.warning_at(deadline), start)
        return Due(at=deadline.at, warn_at=warn_at, provisional=deadline.provisional)
