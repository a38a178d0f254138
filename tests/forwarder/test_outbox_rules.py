"""The outbox's pure rules: backoff, attempt limits, fallback channels, provider words."""

from __future__ import annotations

from datetime import timedelta

import pytest

from contract.envelope import Channel
from forwarder.outbox_rules import (
    RetryPolicy,
    backoff_delay,
    contact_kind,
    delivery_channel,
    exhausted,
    provider_outcome,
)
from registrar.models import NoticeStatus


def test_backoff_doubles_from_thirty_seconds_and_is_capped_at_an_hour() -> None:
    policy = RetryPolicy(jitter=0.0)
    delays = [backoff_delay(policy, n).total_seconds() for n in range(1, 10)]
    assert delays == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert backoff_delay(policy, 500) == timedelta(hours=1)  # no overflow on a huge count


def test_jitter_only_shortens_the_wait_within_its_share() -> None:
    policy = RetryPolicy(jitter=0.2)
    assert backoff_delay(policy, 2, rand=lambda: 0.0) == timedelta(seconds=60)
    assert backoff_delay(policy, 2, rand=lambda: 1.0) == timedelta(seconds=48)


def test_attempts_are_exhausted_at_the_maximum() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert [exhausted(policy, n) for n in (1, 2, 3, 4)] == [False, False, True, True]


@pytest.mark.parametrize("bad", [
    {"max_attempts": 0}, {"jitter": 1.0}, {"base_delay": timedelta(0)},
    {"max_delay": timedelta(seconds=1)}, {"lease": timedelta(0)}, {"concurrency": 0},
])
def test_policy_refuses_nonsense(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**bad)  # type: ignore[arg-type]


def test_contacts_map_to_delivery_channels_and_back() -> None:
    assert delivery_channel("email", sms_channel="sms_twilio") == Channel.EMAIL
    assert delivery_channel("fax", sms_channel="sms_twilio") == Channel.FAX
    assert delivery_channel("phone", sms_channel="sms_twilio") == Channel.SMS_TWILIO
    assert [contact_kind(c) for c in (Channel.EMAIL, Channel.FAX, Channel.SMS_MODEM)] == [
        "email", "fax", "phone"]


@pytest.mark.parametrize(("word", "outcome"), [
    ("delivered", NoticeStatus.DELIVERED), ("undelivered", NoticeStatus.FAILED),
    ("FAILED", NoticeStatus.FAILED), ("queued", None), ("sent", None), ("sending", None),
])
def test_provider_words_map_to_notice_status(word: str, outcome: NoticeStatus | None) -> None:
    assert provider_outcome(word) == outcome


def test_unknown_provider_word_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown delivery status"):
        provider_outcome("teleported")
