"""The outbox's pure rules: backoff, attempt limits, fallback channels, provider words."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from contract.contact_kinds import channel_for, is_landline
from contract.envelope import Channel
from forwarder.outbox_rules import (
    CallPolicy,
    RetryPolicy,
    backoff_delay,
    contact_kind,
    delivery_channel,
    exhausted,
    provider_outcome,
    retry_at,
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


def test_landlines_are_told_from_mobiles_and_get_the_voice_channel() -> None:
    assert is_landline("+8659187654321") and is_landline("0591-87654321")
    assert not is_landline("+8613905910001") and not is_landline("13905910001")
    assert not is_landline("+14155550100") and not is_landline("") and not is_landline(None)
    assert channel_for("phone", sms_channel="sms_modem", voice_channel="phone",
                       address="+8659187654321") == "phone"
    assert channel_for("phone", sms_channel="sms_modem", voice_channel="phone",
                       address="+8613905910001") == "sms_modem"
    assert channel_for("phone", sms_channel="sms_modem", address="+8659187654321") == "sms_modem"
    assert channel_for("email", sms_channel="sms_modem", voice_channel="phone") == "email"


def test_calls_ring_only_on_working_days_within_the_hours() -> None:
    tz = ZoneInfo("Asia/Shanghai")
    calls = CallPolicy(attempts=3, opens=time(9), closes=time(20), tz=tz,
                       working_day=lambda d: d.weekday() < 5 and d != date(2026, 11, 30))
    friday_night = datetime(2026, 11, 27, 20, 0, tzinfo=tz)
    # Saturday, Sunday and Monday (a holiday here) are skipped.
    assert calls.next_opening(friday_night) == datetime(2026, 12, 1, 9, 0, tzinfo=tz)
    noon = datetime(2026, 11, 24, 12, 0, tzinfo=tz)
    assert calls.next_opening(noon) == noon
    assert calls.next_opening(noon.replace(hour=7)) == noon.replace(hour=9)
    policy = RetryPolicy(jitter=0.0)
    assert retry_at(policy, 1, noon, calls=calls, channel="phone") == noon + timedelta(minutes=10)
    assert retry_at(policy, 1, noon, calls=calls, channel="sms_modem") == noon + timedelta(seconds=30)
    assert exhausted(policy, 3, calls=calls, channel="twilio_voice")
    assert not exhausted(policy, 3, calls=calls, channel="sms_modem")
    with pytest.raises(ValueError):
        CallPolicy(opens=time(20), closes=time(9))
