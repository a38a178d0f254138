"""What a citizen is told about their case's progress: when the answer is due, and the public
steps so far. The rules live here, beside the workflow that makes the steps.

The answer is due ``dispatch_days + answer_days`` working days after registration while
the item waits for dispatch (R7.2/R7.3, R8.2a: an estimate), and at the lead unit's open
answer (or redo) deadline once dispatched. The public steps are the case-level moves a
citizen may know of (registered, accepted, handed to a unit, answered, closed); which
unit reads it, who drafted and who approved stay inside.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

from forwarder.rules import Clocks
from registrar.deadlines import DuePolicy
from registrar.models import Deadline, DeadlineKind, Event

#: Case-level events a citizen sees, in their words.
PUBLIC_STEPS: dict[str, str] = {
    "registered": "诉求已登记", "case_accept": "已受理", "case_not_accept": "不予受理",
    "case_dispatch": "已转交承办单位办理", "case_split": "已分项转交承办单位办理",
    "case_reopen": "重新转交办理", "case_answered": "承办单位已答复，正在审核",
    "case_close": "已办结，答复已发出", "case_stop": "此前已多次答复，不再转办",
    "case_answer_on_call": "已当场解答并办结",
}


@dataclass(frozen=True, slots=True)
class AnswerDue:
    """The last day the answer is due (inclusive), and whether it is still an estimate."""

    day: date
    estimated: bool
    provisional: bool = False


def last_day(due_at: datetime, zone: tzinfo) -> date:
    """A deadline's exclusive end (midnight in the city) as the last calendar day it allows."""
    return (due_at.astimezone(zone) - timedelta(microseconds=1)).date()


def estimated_answer_due(registered_at: datetime, *, due: DuePolicy, clocks: Clocks,
                         zone: tzinfo) -> AnswerDue:
    """Before dispatch: registration + dispatch and answer days, in working days."""
    deadline = due.due(registered_at, clocks.dispatch_days + clocks.answer_days)
    return AnswerDue(last_day(deadline.at, zone), estimated=True,
                     provisional=deadline.provisional)


def answer_due(registered_at: datetime, deadlines: Sequence[Deadline], *, due: DuePolicy,
               clocks: Clocks, zone: tzinfo) -> AnswerDue:
    """The open answer (or redo) deadline of the case, else the estimate from registration."""
    open_ = [d for d in deadlines if d.kind in (DeadlineKind.ANSWER, DeadlineKind.REDO)
             and d.met_at is None and not d.cancelled]
    if not open_:
        return estimated_answer_due(registered_at, due=due, clocks=clocks, zone=zone)
    latest = max(open_, key=lambda d: d.due_at)
    return AnswerDue(last_day(latest.due_at, zone), estimated=False, provisional=latest.provisional)


@dataclass(frozen=True, slots=True)
class PublicStep:
    at: datetime
    words: str


def public_steps(events: Sequence[Event]) -> list[PublicStep]:
    """The case's public steps in order, each at most once (a retry is not news)."""
    steps: list[PublicStep] = []
    for event in events:
        words = PUBLIC_STEPS.get(event.action)
        if words and (not steps or steps[-1].words != words):
            steps.append(PublicStep(event.at, words))
    return steps
