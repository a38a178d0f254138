"""The outbox's decisions as pure functions: when to retry, where to fall back, what a status means.

Kept apart from the database work in ``forwarder.outbox`` so each rule can be
read and tested on its own, without a session or a clock.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from contract.contact_kinds import VOICE_CHANNELS, channel_for, kind_for
from registrar.models import NoticeStatus

ACTOR = "outbox"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently a notice is tried, and how long a worker may hold one."""

    max_attempts: int = 8
    base_delay: timedelta = timedelta(seconds=30)
    """Wait after the first failed attempt; doubles with each further one."""
    max_delay: timedelta = timedelta(hours=1)
    jitter: float = 0.2
    """Up to this share of each wait is taken off at random, so retries after an
    outage do not all come back at the same second. Tests set 0."""
    lease: timedelta = timedelta(minutes=5)
    """A SENDING row whose worker has not reported back by then is taken again
    (the worker crashed); longer than any deliverer's own timeout."""
    concurrency: int = 10
    """Deliveries in flight at once within one ``run_once``."""

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay <= timedelta(0) or self.max_delay < self.base_delay:
            raise ValueError("need 0 < base_delay <= max_delay")
        if not 0.0 <= self.jitter < 1.0:
            raise ValueError("jitter is a share of the wait: 0 <= jitter < 1")
        if self.lease <= timedelta(0) or self.concurrency < 1:
            raise ValueError("lease and concurrency must be positive")


_CITY = ZoneInfo("Asia/Shanghai")


def _every_day(day: date) -> bool:
    return True


@dataclass(frozen=True, slots=True)
class CallPolicy:
    """When notices spoken in a phone call may ring, and how often one is tried.

    A call is a person's phone ringing: not at night, not on a day off (the
    working-day calendar the deadlines use), and not eight times in a row.
    """

    attempts: int = 3
    """Tries in all (busy, no answer, hung up before the end); then the next contact."""
    retry_after: timedelta = timedelta(minutes=10)
    """Least wait after an unanswered call (the backoff's doubling may make it longer)."""
    opens: time = time(9)
    closes: time = time(20)
    working_day: Callable[[date], bool] = _every_day
    tz: ZoneInfo = _CITY
    channels: frozenset[str] = frozenset(str(c) for c in VOICE_CHANNELS)
    status_timeout: timedelta = timedelta(minutes=30)
    """A call the provider took (SENT) whose end was never reported by then (Twilio's status
    callback lost) counts as unanswered: tried again or failed over, never SENT forever."""

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.opens >= self.closes:
            raise ValueError("need attempts >= 1 and opens < closes")
        if self.status_timeout <= timedelta(0):
            raise ValueError("status_timeout must be positive")

    def next_opening(self, moment: datetime) -> datetime:
        """``moment`` itself when a call may ring then, else the next time one may."""
        local = moment.astimezone(self.tz)
        day = local.date()
        for _ in range(400):  # the calendar knows at most a year ahead; never loop forever
            if self.working_day(day):
                start = datetime.combine(day, self.opens, tzinfo=self.tz)
                end = datetime.combine(day, self.closes, tzinfo=self.tz)
                if local < start:
                    return start
                if local < end:
                    return local
            day += timedelta(days=1)
            local = datetime.combine(day, time(0), tzinfo=self.tz)
        return local


def is_call(policy: CallPolicy | None, channel: str) -> bool:
    """Whether a notice on ``channel`` is a phone call under ``policy``."""
    return policy is not None and channel in policy.channels


def backoff_delay(policy: RetryPolicy, attempts: int, *,
                  rand: Callable[[], float] = random.random) -> timedelta:
    """Wait before the next try after ``attempts`` failed ones: 30 s, 60 s, 120 s … capped."""
    exponent = min(max(attempts - 1, 0), 32)
    delay: timedelta = min(policy.base_delay * (2 ** exponent), policy.max_delay)
    if policy.jitter:
        delay = delay * (1.0 - policy.jitter * rand())
    return delay


def exhausted(policy: RetryPolicy, attempts: int, *, calls: CallPolicy | None = None,
              channel: str = "") -> bool:
    """True when ``attempts`` tries were all the policy allows (fewer for a phone call)."""
    if is_call(calls, channel):
        assert calls is not None
        return attempts >= min(policy.max_attempts, calls.attempts)
    return attempts >= policy.max_attempts


def retry_at(policy: RetryPolicy, attempts: int, now: datetime, *, calls: CallPolicy | None = None,
             channel: str = "", rand: Callable[[], float] = random.random) -> datetime:
    """When a notice that failed ``attempts`` times is tried again: after the backoff, and a
    call no sooner than ``retry_after`` and only when calls may ring."""
    delay = backoff_delay(policy, attempts, rand=rand)
    if is_call(calls, channel):
        assert calls is not None
        return calls.next_opening(now + max(delay, calls.retry_after))
    return now + delay


# The contact kind ↔ channel table lives in the contract (one table for every user).
delivery_channel = channel_for
contact_kind = kind_for


DELIVERED_STATUSES = frozenset({"delivered", "read"})
FAILED_STATUSES = frozenset({"undelivered", "failed"})
IN_FLIGHT_STATUSES = frozenset({"accepted", "scheduled", "queued", "sending", "sent", "receiving",
                                "received", "initiated", "ringing", "in-progress", "answered"})
UNANSWERED_STATUSES = frozenset({"busy", "no-answer", "canceled", "unheard"})
"""A call's end that calls for another try: Twilio's call statuses, and ``unheard`` (answered,
but hung up before the notice was played to the end)."""


def provider_outcome(status: str) -> NoticeStatus | None:
    """A provider's delivery status (Twilio's words) as ours; ``None``: nothing to record yet;
    PENDING: a call nobody (fully) answered, to be tried again.

    https://www.twilio.com/docs/messaging/api/message-resource#message-status-values
    """
    word = status.strip().lower()
    if word in DELIVERED_STATUSES:
        return NoticeStatus.DELIVERED
    if word in FAILED_STATUSES:
        return NoticeStatus.FAILED
    if word in IN_FLIGHT_STATUSES:
        return None
    if word in UNANSWERED_STATUSES:
        return NoticeStatus.PENDING
    raise ValueError(f"unknown delivery status {status!r}")


@dataclass(slots=True)
class DispatchReport:
    """What one ``run_once`` did, for logs and tests."""

    due: int = 0
    """Due rows looked at: claimed, or settled at claim time (cancelled, out of attempts)."""
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    cancelled: int = 0
    deferred: int = 0
    """Calls due outside calling hours, put off to the next opening (no attempt counted)."""
    fallbacks: int = 0
    silent: int = 0
    """Calls whose end the provider never reported, counted unanswered (``status_timeout``)."""
    errors: int = 0
    """Results that could not be recorded (the database went away); their lease runs out."""
    sent_ids: list[int] = field(default_factory=list)
