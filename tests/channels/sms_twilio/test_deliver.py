"""Sending notices through the fake REST API, and the signed status callback that follows."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from channels.sms_twilio import STATUS_PATH, TwilioDeliverer
from channels.sms_twilio.deliver import MAX_BODY_CHARS, split_body
from channels.sms_twilio.settings import TwilioSettings
from contract.envelope import Channel
from contract.notice import Notice, SendError

from .conftest import (
    OUR_NUMBER,
    PUBLIC,
    StatusLog,
    WebhookClient,
    closed_port_url,
    post_signed,
    read_fixture,
    sign,
)
from .fake_twilio import FakeTwilio


def notice(text: str = "【12345】您的诉求已办结。", address: str = "13800138000") -> Notice:
    return Notice(notice_id=42, channel=Channel.SMS_TWILIO, address=address, text=text,
                  case_number="FZ12345-20261124-000001")


@pytest.fixture
def deliverer(settings: TwilioSettings, http: aiohttp.ClientSession) -> TwilioDeliverer:
    return TwilioDeliverer(settings, http)


async def test_notice_is_sent_from_our_number_with_a_status_callback_per_notice(
        deliverer: TwilioDeliverer, fake: FakeTwilio) -> None:
    sid = await deliverer.deliver(notice())
    assert sid == f"SM{1:032x}"
    assert fake.sent == [{
        "To": "+8613800138000", "From": OUR_NUMBER, "Body": "【12345】您的诉求已办结。",
        "StatusCallback": f"{PUBLIC}{STATUS_PATH}?notice=42",
    }]
    assert all(r.authorised for r in fake.requests)


FAILURES: list[tuple[str, int, dict[str, Any], bool, str]] = [
    ("throttled", 429, {"code": 20429, "message": "Too Many Requests"}, True, "20429"),
    ("server error", 500, {}, True, "http_500"),
    ("bad gateway, no JSON", 502, {}, True, "http_502"),
    ("invalid To number", 400, {"code": 21211, "message": "Invalid 'To'"}, False, "21211"),
    ("recipient unsubscribed", 400, {"code": 21610, "message": "unsubscribed"}, False,
     "21610"),
    ("bad credentials", 401, {"code": 20003, "message": "Authenticate"}, False, "20003"),
]


@pytest.mark.parametrize(("label", "status", "payload", "retryable", "code"), FAILURES,
                         ids=[f[0] for f in FAILURES])
async def test_api_errors_map_to_typed_send_errors(
        label: str, status: int, payload: dict[str, Any], retryable: bool, code: str,
        deliverer: TwilioDeliverer, fake: FakeTwilio) -> None:
    fake.send_failures.append((status, payload))
    with pytest.raises(SendError) as caught:
        await deliverer.deliver(notice())
    assert (caught.value.retryable, caught.value.code) == (retryable, code)
    assert fake.sent == []


async def test_unreachable_api_is_retryable(settings: TwilioSettings,
                                            http: aiohttp.ClientSession) -> None:
    away = TwilioDeliverer(settings.model_copy(update={"api_base_url": closed_port_url()}),
                           http)
    with pytest.raises(SendError) as caught:
        await away.deliver(notice())
    assert caught.value.retryable and caught.value.code == "unreachable"


@pytest.mark.parametrize("address", ["", "HOTLINE", "12", "not a number"])
async def test_unusable_address_fails_for_good_without_calling_twilio(
        address: str, deliverer: TwilioDeliverer, fake: FakeTwilio) -> None:
    with pytest.raises(SendError) as caught:
        await deliverer.deliver(notice(address=address))
    assert not caught.value.retryable and caught.value.code == "invalid_address"
    assert fake.requests == []


async def test_long_notice_goes_in_several_messages_all_reporting_to_the_notice(
        deliverer: TwilioDeliverer, fake: FakeTwilio) -> None:
    text = "\n".join(f"第{i}段答复：" + "办" * 300 for i in range(8))
    sids = await deliverer.deliver(notice(text=text))
    assert len(sids.split(",")) == len(fake.sent) > 1
    assert all(len(m["Body"]) <= MAX_BODY_CHARS for m in fake.sent)
    assert "".join(m["Body"] for m in fake.sent).replace("\n", "") == text.replace("\n", "")
    assert all(m["Body"].startswith("第") for m in fake.sent)  # cut at paragraph ends
    assert {m["StatusCallback"] for m in fake.sent} == {f"{PUBLIC}{STATUS_PATH}?notice=42"}


def test_split_body_cuts_hard_when_no_line_end_is_near() -> None:
    parts = split_body("x" * 3500)
    assert [len(p) for p in parts] == [1600, 1600, 300]


STATUSES = [
    ("twilio_status_delivered.urlencoded", 204, [("42", "delivered", None)]),
    ("twilio_status_undelivered_30003.urlencoded", 204, [("42", "undelivered", "30003")]),
    ("twilio_status_failed_30008.urlencoded", 204, [("42", "failed", "30008")]),
    ("twilio_status_sent.urlencoded", 204, []),
]


@pytest.mark.parametrize(("fixture", "status", "recorded"), STATUSES,
                         ids=[s[0].removesuffix(".urlencoded") for s in STATUSES])
async def test_status_callback_records_final_states_on_the_notice(
        fixture: str, status: int, recorded: list[tuple[str, str, str | None]],
        client: WebhookClient, status_log: StatusLog) -> None:
    resp = await post_signed(client, STATUS_PATH + "?notice=42", read_fixture(fixture))
    assert resp.status == status
    assert status_log.calls == recorded


async def test_status_callback_without_notice_reference_records_by_message_sid(
        client: WebhookClient, status_log: StatusLog) -> None:
    resp = await post_signed(client, STATUS_PATH,
                             read_fixture("twilio_status_delivered.urlencoded"))
    assert resp.status == 204
    assert status_log.calls == [(f"SM{101:032x}", "delivered", None)]


async def test_forged_status_callback_is_refused(client: WebhookClient,
                                                 status_log: StatusLog) -> None:
    body = read_fixture("twilio_status_failed_30008.urlencoded")
    # Signed for another notice: moving a valid callback to another notice is forgery too.
    signature = sign(f"{PUBLIC}{STATUS_PATH}?notice=41", body)
    resp = await post_signed(client, STATUS_PATH + "?notice=42", body, signature=signature)
    assert resp.status == 403 and status_log.calls == []


async def test_status_callback_with_store_down_answers_503(client: WebhookClient,
                                                           status_log: StatusLog) -> None:
    status_log.down = True
    resp = await post_signed(client, STATUS_PATH + "?notice=42",
                             read_fixture("twilio_status_delivered.urlencoded"))
    assert resp.status == 503 and await resp.text() == ""


async def test_status_callback_without_status_is_400(client: WebhookClient,
                                                     status_log: StatusLog) -> None:
    resp = await post_signed(client, STATUS_PATH, b"MessageSid=SM1&AccountSid=" +
                             b"AC0123456789abcdef0123456789abcdef")
    assert resp.status == 400 and status_log.calls == []


async def test_sent_notice_round_trip_to_its_status_callback(
        deliverer: TwilioDeliverer, fake: FakeTwilio, client: WebhookClient,
        status_log: StatusLog) -> None:
    sid = await deliverer.deliver(notice())
    callback = urlsplit(fake.sent[0]["StatusCallback"])
    assert callback.path == "/hotline" + STATUS_PATH  # behind the proxy's prefix
    body = f"MessageSid={sid}&MessageStatus=delivered&AccountSid={fake.account_sid}".encode()
    resp = await post_signed(client, f"{STATUS_PATH}?{callback.query}", body)
    assert resp.status == 204
    assert status_log.calls == [("42", "delivered", None)]
