"""The outbox's decisions as pure functions: when to retry, where to fall back, what a status means.

Kept apart from the database work in ``forwarder.outbox`` so each rule can be
read and tested on its own, without a session or a clock.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from contract.contact_kinds import channel_for, kind_for
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


def backoff_delay(policy: RetryPolicy, attempts: int, *,
                  rand: Callable[[], float] = random.random) -> timedelta:
    """Wait before the next try after ``attempts`` failed ones: 30 s, 60 s, 120 s … capped."""
    exponent = min(max(attempts - 1, 0), 32)
    delay: timedelta = min(policy.base_delay * (2 ** exponent), policy.max_delay)
    if policy.jitter:
        delay = delay * (1.0 - policy.jitter * rand())
    return delay


def exhausted(policy: RetryPolicy, attempts: int) -> bool:
    """True when ``attempts`` tries were all the policy allows."""
    return attempts >= policy.max_attempts


# The contact kind ↔ channel table lives in the contract (one table for every user).
delivery_channel = channel_for
contact_kind = kind_for


DELIVERED_STATUSES = frozenset({"delivered", "read"})
FAILED_STATUSES = frozenset({"undelivered", "failed"})
IN_FLIGHT_STATUSES = frozenset({"accepted", "scheduled", "queued", "sending", "sent", "receiving",
                                "received"})


def provider_outcome(status: str) -> NoticeStatus | None:
    """A provider's delivery status (Twilio's words) as ours; ``None``: nothing to record yet.

    https://www.twilio.com/docs/messaging/api/message-resource#message-status-values
    """
    word = status.strip().lower()
    if word in DELIVERED_STATUSES:
        return NoticeStatus.DELIVERED
    if word in FAILED_STATUSES:
        return NoticeStatus.FAILED
    if word in IN_FLIGHT_STATUSES:
        return None
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
    fallbacks: int = 0
    errors: int = 0
    """Results that could not be recorded (the database went away); their lease runs out."""
    sent_ids: list[int] = field(default_factory=list)
