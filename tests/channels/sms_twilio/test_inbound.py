"""Pure parts: form decoding, signatures, envelopes, settings. No sockets."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from twilio.request_validator import RequestValidator

from channels.sms_twilio.deliver import split_body
from channels.sms_twilio.inbound import InboundSms, build_envelope, clean_body, sms_from_rest
from channels.sms_twilio.settings import TwilioSettings
from contract.twilio_signature import BadForm, parse_form_body, signature_valid

from .conftest import ACCOUNT_SID, AUTH_TOKEN, sign

URL = "https://hotline.example.gov.cn/hotline/channels/twilio/sms"
WHEN = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)

names = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1,
                max_size=12)
values = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)


@given(st.dictionaries(names, values, max_size=8))
def test_signature_from_twilio_validator_is_accepted_for_any_form(form: dict[str, str]) -> None:
    body = urlencode(form).encode()
    header = str(RequestValidator(AUTH_TOKEN).compute_signature(URL, form))
    assert signature_valid(AUTH_TOKEN, URL, parse_form_body(body), header)
    assert not signature_valid("other-token", URL, parse_form_body(body), header)


def test_signature_over_undecodable_bytes_is_checked_over_the_bytes_as_sent() -> None:
    body = b"MessageSid=SM1&Body=%E8%B7%AF%ED%A0%BD%FF"
    form = parse_form_body(body)
    assert signature_valid(AUTH_TOKEN, URL, form, sign(URL, body))
    changed = parse_form_body(b"MessageSid=SM1&Body=%E8%B7%AF%ED%A0%BD%FE")
    assert not signature_valid(AUTH_TOKEN, URL, changed, sign(URL, body))


def test_signature_is_accepted_with_the_default_port_spelled_out() -> None:
    body = b"MessageSid=SM1&Body=hi"
    header = sign("https://hotline.example.gov.cn:443/hotline/channels/twilio/sms", body)
    assert signature_valid(AUTH_TOKEN, URL, parse_form_body(body), header)


def test_empty_signature_or_token_never_validates() -> None:
    form = parse_form_body(b"MessageSid=SM1")
    assert not signature_valid(AUTH_TOKEN, URL, form, "")
    assert not signature_valid("", URL, form, sign(URL, b"MessageSid=SM1", token=""))


def test_broken_ucs2_is_dropped_and_counted() -> None:
    form = parse_form_body(b"Body=%E8%B7%AF%ED%A0%BD%E7%81%AF%FF")
    assert clean_body(form["Body"]) == ("路灯", 4)


def test_raw_utf8_body_not_percent_encoded_is_still_read() -> None:
    assert parse_form_body("Body=路灯".encode())["Body"] == "路灯"


@pytest.mark.parametrize(("raw", "expected"), [
    ("+8613800138000", "+8613800138000"),
    ("13800138000", "+8613800138000"),
    ("+86 138-0013-8000", "+8613800138000"),
    ("008613800138000", "+8613800138000"),
    ("+1 415 555 2671", "+14155552671"),
    ("HOTLINE", None),
    ("10086", None),
    ("", None),
])
def test_strange_sender_formats_decided(raw: str, expected: str | None) -> None:
    sms = InboundSms(sid="SM1", sender_raw=raw, to="+8659112345000", body="x",
                     received_at=WHEN)
    envelope = build_envelope(sms, text="x")
    assert envelope.sender == expected and envelope.reply_address == expected
    assert (expected is None) == any(repr(raw) in n for n in envelope.notes)


def test_rest_message_without_usable_date_is_refused() -> None:
    with pytest.raises(BadForm):
        sms_from_rest({"sid": "SM1", "date_sent": None, "date_created": None}, ())


def test_rest_message_date_is_read_as_rfc2822() -> None:
    sms = sms_from_rest({"sid": "SM1", "from": "+8613800138000", "body": "x",
                         "date_sent": "Tue, 24 Nov 2026 09:00:00 +0000"}, ())
    assert sms.received_at == WHEN


@given(st.text(max_size=5000))
def test_split_body_parts_fit_and_lose_no_visible_character(text: str) -> None:
    parts = split_body(text, limit=200)
    assert all(0 < len(p) <= 200 for p in parts)
    assert "".join("".join(p.split()) for p in parts) == "".join(text.split())


def test_settings_enabled_without_credentials_names_what_is_missing() -> None:
    with pytest.raises(ValidationError, match="auth_token, phone_number, public_base_url"):
        TwilioSettings(enabled=True, account_sid=ACCOUNT_SID)


@pytest.mark.parametrize("field", [{"account_sid": "AC123"}, {"phone_number": "0591-1234"},
                                   {"public_base_url": "hotline.example.gov.cn"},
                                   {"unknown_key": 1}])
def test_settings_refuse_malformed_values(field: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        TwilioSettings.model_validate(field)


def test_settings_default_is_disabled_and_valid() -> None:
    settings = TwilioSettings()
    assert not settings.enabled and settings.api_base_url == "https://api.twilio.com"


def test_settings_never_show_the_auth_token() -> None:
    settings = TwilioSettings(auth_token=AUTH_TOKEN)
    assert AUTH_TOKEN not in repr(settings) and AUTH_TOKEN not in str(settings.model_dump())
    assert settings.token == AUTH_TOKEN


def test_form_with_too_many_fields_is_refused() -> None:
    with pytest.raises(BadForm):
        parse_form_body(b"&".join(b"f%d=1" % i for i in range(500)))


def test_R3_twilio_receipt_says_registered_not_accepted_in_the_notice_template_words() -> None:
    from channels.sms_twilio.inbound import receipt_reply
    from config.notices import render_notice
    from contract.envelope import Receipt

    receipt = Receipt("FZ12345-20261124-000001", created=True, query_code="AB12CD34")
    text = receipt_reply(receipt)
    # Acceptance (受理) is the bureau's screening decision; at intake the item is registered.
    assert "已受理" not in text and "已登记" in text
    assert text == render_notice("receipt", "sms_twilio", {"number": receipt.case_number,
                                                           "query_code": "AB12CD34"})
