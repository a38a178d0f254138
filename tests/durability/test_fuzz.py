"""Fuzzing the channels' pure protocol code with hypothesis: no crash, no hang, clear errors.

Each parser is fed what the outside world may send — mutated real fax mails,
arbitrary SMS parts and UDH, arbitrary Twilio form bodies and web form fields —
and must either return its value or raise its own documented refusal. Plus the
Python ``email`` CVE regressions that touch what we parse or compose; this
project runs on Python 3.11.7, which predates the fixes for CVE-2023-27043 and
CVE-2024-6923, so our own code must hold against them.
"""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels.email_smtp.deliver import compose
from channels.email_smtp.settings import EmailSettings
from channels.fax_smtp.parse import NotAFax, parse_fax_mail
from channels.sms_gammu.reassembly import assemble, part_from_gammu
from channels.sms_twilio.inbound import sms_from_form
from channels.web.form import FormErrors, FormLimits, RawForm, Upload, parse_form
from contract.envelope import Channel
from contract.notice import Notice
from contract.twilio_signature import BadForm, parse_form_body

pytestmark = pytest.mark.durability
FIXTURES = Path(__file__).resolve().parents[1] / "channels" / "fax_smtp" / "fixtures"
MAILS = sorted(FIXTURES.glob("*.eml"))
NOW = datetime(2026, 12, 2, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
FUZZ = settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def mutated_mail(draw: st.DrawFn) -> bytes:
    raw = bytearray(MAILS[draw(st.integers(0, len(MAILS) - 1))].read_bytes())
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, min(len(raw), 4000)))  # headers and MIME structure live here
        action = draw(st.sampled_from(["insert", "replace", "delete"]))
        chunk = draw(st.binary(min_size=1, max_size=40) | st.sampled_from(
            [b"\r\n", b"--", b"=?utf-8?b?", b"?=", b"boundary=", b"\x00", b"\xff\xfe", b";", b'"']))
        if action == "insert":
            raw[at:at] = chunk
        elif action == "replace":
            raw[at:at + len(chunk)] = chunk
        else:
            del raw[at:at + len(chunk)]
    return bytes(raw)


@FUZZ
@given(mutated_mail())
def test_fax_mime_fuzz_parses_or_refuses(raw: bytes) -> None:
    try:
        mail = parse_fax_mail(raw)
    except NotAFax as exc:
        assert str(exc)  # a refusal with a reason the gateway is told (550)
        return
    assert mail.documents
    for value in (mail.subject, mail.raw_sender or ""):
        assert "\n" not in value and "\r" not in value


@FUZZ
@given(st.lists(st.fixed_dictionaries({
    "Number": st.text(max_size=24), "Text": st.text(max_size=200),
    "DateTime": st.datetimes() | st.none() | st.text(max_size=10),
    "Location": st.integers(-5, 10_000) | st.none(),
    "UDH": st.fixed_dictionaries({
        "Type": st.sampled_from(["ConcatenatedMessages", "ConcatenatedMessages16bit", "NoUDH", "?"]),
        "ID8bit": st.integers(-2, 300), "ID16bit": st.integers(-2, 70_000),
        "AllParts": st.integers(-1, 300), "PartNumber": st.integers(-1, 300)}) | st.none(),
}), min_size=1, max_size=6))
def test_sms_parts_and_udh_fuzz_never_crash(raw_parts: list[dict[str, object]]) -> None:
    parts = []
    for raw in raw_parts:
        try:
            parts.append(part_from_gammu(raw))
        except (ValueError, TypeError, KeyError):
            continue  # the modem gave something unreadable: the adapter logs and skips it
    for part in parts:
        assert part.total >= 1 and 1 <= part.part_number <= part.total
    if parts:
        message = assemble(parts)
        message.text.encode("utf-8")  # no lone surrogates reach a case


@FUZZ
@given(st.binary(max_size=600) | st.lists(st.tuples(
    st.sampled_from(["MessageSid", "AccountSid", "From", "To", "Body", "NumMedia", "MediaUrl0",
                     "MediaContentType0", "x"]), st.text(max_size=60)), max_size=10).map(
    lambda pairs: "&".join(f"{k}={v}" for k, v in pairs).encode("utf-8", "surrogatepass")))
def test_twilio_form_body_fuzz_parses_or_refuses(body: bytes) -> None:
    try:
        form = parse_form_body(body)
        sms = sms_from_form(form, received_at=NOW)
    except BadForm as exc:
        assert str(exc)
        return
    assert sms.sid


@FUZZ
@given(st.dictionaries(st.sampled_from(["text", "phone", "email", "name", "district", "public",
                                        "location"]), st.binary(max_size=300), max_size=7),
       st.lists(st.tuples(st.text(max_size=40) | st.none(), st.binary(max_size=64)), max_size=3))
def test_web_form_fuzz_validates_or_lists_errors(fields: dict[str, bytes],
                                                 uploads: list[tuple[str | None, bytes]]) -> None:
    raw = RawForm(fields=dict(fields), uploads=[Upload(name, "image/png", data, False)
                                                for name, data in uploads])
    limits = FormLimits(max_attachments=3, max_attachment_bytes=1000,
                        allowed_types=frozenset({"image/png"}), districts=("鼓楼区",))
    try:
        envelope = parse_form(raw, submission_id="00000000-0000-4000-8000-000000000000",
                              received_at=NOW, limits=limits)
    except FormErrors as exc:
        assert exc.errors and all(exc.errors.values())
        return
    assert envelope.channel == Channel.WEB and envelope.text.strip()
    envelope.text.encode("utf-8")


def test_CVE_2024_6923_no_header_injection_in_composed_email() -> None:
    """Newlines in any header value we write must never start a header of their own."""
    settings_ = EmailSettings(enabled=True, from_name="12345热线")
    notice = Notice(notice_id=1, channel=Channel.EMAIL, address="citizen@example.org",
                    text="您的诉求已办结。", case_number="FZ12345-20261202-000001\r\nBcc: evil@example.net",
                    subject="答复\r\nBcc: evil@example.net\n X-Injected: 1")
    message = compose(notice, settings_, now=NOW)
    wire = message.as_bytes()
    parsed = email.message_from_bytes(wire, policy=email.policy.default)
    assert parsed["Bcc"] is None and parsed["X-Injected"] is None
    assert b"\nBcc:" not in wire and b"\nX-Injected:" not in wire


@pytest.mark.parametrize("from_header", [
    "+8613800138000@fax.provider.example@evil.example",  # CVE-2019-16056: two @
    "alice@example.org)<+8613911112222@evil.example>",  # CVE-2023-27043: parseaddr confusion
    '"+8613800138000" <+8613911112222@fax.provider.example>, evil@example.net',
])
def test_CVE_2019_16056_and_2023_27043_odd_from_headers_never_yield_a_stray_number(
        from_header: str) -> None:
    raw = (FIXTURES / "provider_number_in_from_normal_res.eml").read_bytes()
    head, sep, body = raw.partition(b"\r\n\r\n") if b"\r\n\r\n" in raw else raw.partition(b"\n\n")
    lines = [line for line in head.splitlines() if not line.lower().startswith(b"from:")]
    mail = parse_fax_mail(b"\r\n".join([*lines, b"From: " + from_header.encode()]) + sep + body)
    if mail.sender is not None:  # only a number that is written in the header, never invented
        assert mail.sender.lstrip("+") in from_header.replace("+", "")
    assert "\n" not in (mail.raw_sender or "")


def test_fuzz_fixtures_exist() -> None:
    """The fax fuzzing starts from real mails; without them it would test nothing."""
    assert len(MAILS) >= 10
    assert datetime.now(UTC).tzinfo is UTC
