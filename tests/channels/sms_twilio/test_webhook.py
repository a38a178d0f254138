"""The inbound SMS webhook, table-driven: one recorded form per situation, one harness.

The harness also runs the common cases on every recorded form itself: a forged
signature, no signature, a signature over the local (not the public) URL, and
a body changed after signing must all get 403 and reach neither the sink nor
the commands.
"""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from channels.sms_twilio import SMS_PATH
from channels.sms_twilio.settings import TwilioSettings

from .conftest import (
    FIXTURES,
    NOW,
    FakeCommands,
    RecordingSink,
    WebhookClient,
    post_signed,
    read_fixture,
    sign,
)
from .fake_twilio import FakeTwilio


@dataclass(frozen=True)
class Case:
    label: str
    fixture: str
    status: int = 200
    reply: str | None = None
    """A fragment the TwiML reply must contain; '' means an empty <Response/>."""
    registered: bool = False
    sender: str | None = "+8613800138000"
    text: str | None = None
    attachments: tuple[str, ...] = ()
    """Content types of the attachments stored."""
    notes: tuple[str, ...] = ()
    """Fragments that must each appear in some note."""
    commands: tuple[tuple[str, ...], ...] = ()


CASES = [
    Case("unicode text is registered with the case number in the reply",
         "twilio_sms_unicode.urlencoded", reply="FZ12345-20261124-000001", registered=True,
         text="福州市鼓楼区五四路路灯不亮已经一周了，请尽快修理。"),
    Case("empty SMS is refused with an explanation, nothing registered",
         "twilio_sms_empty.urlencoded", reply="短信内容为空"),
    Case("whitespace-only SMS (incl. ideographic space) is treated as empty",
         "twilio_sms_whitespace_only.urlencoded", reply="短信内容为空"),
    Case("invalid UCS-2 is registered with the broken characters dropped and noted",
         "twilio_sms_invalid_ucs2.urlencoded", reply="FZ12345-20261124-000001",
         registered=True, text="路灯坏了请修", notes=("无法解码的字符",)),
    Case("SMS of nothing but invalid UCS-2 asks the citizen to resend",
         "twilio_sms_only_invalid_ucs2.urlencoded", reply="编码错误"),
    Case("sender with spaces and dashes is normalised to E.164",
         "twilio_sms_sender_spaces_dashes.urlencoded", reply="FZ12345", registered=True,
         text="噪音扰民"),
    Case("national sender without +86 is normalised to E.164",
         "twilio_sms_sender_national_no_plus.urlencoded", reply="FZ12345", registered=True),
    Case("alphanumeric sender is registered without reply address, raw value noted",
         "twilio_sms_sender_alphanumeric.urlencoded", reply="FZ12345", registered=True,
         sender=None, notes=("'HOTLINE'",)),
    Case("empty sender is registered without reply address",
         "twilio_sms_sender_empty.urlencoded", reply="FZ12345", registered=True, sender=None,
         notes=("无法识别",)),
    Case("CX with a case number answers the case status, no item",
         "twilio_sms_keyword_cx.urlencoded", reply="FZ12345-20261124-000017 办理中",
         commands=(("case_status", "FZ12345-20261124-000017", "+8613800138000"),)),
    Case("查询 with full-width case number answers the case status",
         "twilio_sms_keyword_query_fullwidth.urlencoded", reply="办理中",
         commands=(("case_status", "FZ12345-20261124-000017", "+8613800138000"),)),
    Case("TD unsubscribes the sender", "twilio_sms_keyword_td.urlencoded", reply="已退订",
         commands=(("unsubscribe", "+8613800138000"),)),
    Case("退订 unsubscribes the sender", "twilio_sms_keyword_tuiding.urlencoded",
         reply="已退订", commands=(("unsubscribe", "+8613800138000"),)),
    Case("CX from an unusable sender is answered without revealing anything",
         "twilio_sms_keyword_cx_alphanumeric_sender.urlencoded", reply="无法识别您的手机号码"),
    Case("a question that starts with 查询 is an item, not a command",
         "twilio_sms_question_starting_with_cx_word.urlencoded", reply="FZ12345",
         registered=True, text="查询一下社保怎么交"),
    Case("MMS photo is fetched with the account credentials and stored",
         "twilio_mms_photo.urlencoded", reply="FZ12345", registered=True,
         attachments=("image/jpeg",)),
    Case("MMS photo without text is registered, noted as photo only",
         "twilio_mms_photo_without_text.urlencoded", reply="FZ12345", registered=True,
         text="", attachments=("image/png",), notes=("仅有附件",)),
    Case("media URL on a foreign host is not fetched; the URL is kept in a note",
         "twilio_mms_foreign_media_host.urlencoded", reply="FZ12345", registered=True,
         notes=("https://evil.example.com/x.jpg", "不属于 Twilio API")),
    Case("oversized text is refused with the limit in the reply",
         "twilio_sms_too_long.urlencoded", reply="内容过长"),
    Case("a form without MessageSid is 400", "twilio_sms_no_message_sid.urlencoded",
         status=400),
]

FORGERIES = ["forged_token", "no_signature", "local_url", "tampered_body"]


def reply_text(body: str) -> str:
    root = ET.fromstring(body)
    assert root.tag == "Response"
    return "".join(m.text or "" for m in root.iter("Message"))


@pytest.fixture(autouse=True)
def _media(fake: FakeTwilio) -> None:
    """The photos the recorded MMS fixtures point at."""
    fake.media["MM0000000000000000000000000000000f/ME" + "0" * 32] = ("image/jpeg", b"\xff\xd8jpeg")
    fake.media["MM00000000000000000000000000000010/ME" + "0" * 32] = ("image/png", b"\x89PNGpng")


@pytest.mark.parametrize("case", CASES, ids=[c.fixture.removesuffix(".urlencoded") for c in CASES])
async def test_webhook_situation(case: Case, client: WebhookClient, sink: RecordingSink,
                                 commands: FakeCommands, fake_api: str) -> None:
    resp = await post_signed(client, SMS_PATH, read_fixture(case.fixture, api=fake_api))
    body = await resp.text()
    assert resp.status == case.status, body
    if case.status != 200:
        assert not sink.calls and not commands.calls
        return
    assert resp.content_type == "application/xml"
    assert case.reply is not None and case.reply in reply_text(body)
    assert commands.calls == list(case.commands)
    assert len(sink.cases) == (1 if case.registered else 0)
    if not case.registered:
        return
    (_, envelope), = sink.cases.values()
    assert envelope.channel == "sms_twilio"
    assert envelope.external_id.startswith(("SM", "MM"))
    assert envelope.received_at == NOW
    assert envelope.sender == case.sender and envelope.reply_address == case.sender
    if case.text is not None:
        assert envelope.text == case.text
    assert tuple(a.content_type for a in envelope.attachments) == case.attachments
    for fragment in case.notes:
        assert any(fragment in note for note in envelope.notes), envelope.notes


def _every_fixture() -> list[str]:
    return sorted(p.name for p in Path(FIXTURES).glob("twilio_*.urlencoded"))


@pytest.mark.parametrize("forgery", FORGERIES)
@pytest.mark.parametrize("fixture", _every_fixture())
async def test_webhook_refuses_unsigned_or_forged_requests_with_403(
        forgery: str, fixture: str, client: WebhookClient, sink: RecordingSink,
        commands: FakeCommands, fake_api: str) -> None:
    body = read_fixture(fixture, api=fake_api)
    public = "https://hotline.example.gov.cn/hotline" + SMS_PATH
    if forgery == "forged_token":
        signature = sign(public, body, token="not-our-token")
    elif forgery == "no_signature":
        signature = ""
    elif forgery == "local_url":
        signature = sign(str(client.make_url(SMS_PATH)), body)
    else:
        signature = sign(public, body)
        body = body.replace(b"AccountSid=", b"Injected=1&AccountSid=")
    resp = await post_signed(client, SMS_PATH, body, signature=signature)
    assert resp.status == 403
    assert not sink.calls and not commands.calls


@dataclass
class _Seen:
    bodies: list[str] = field(default_factory=list)


async def test_replayed_webhook_gets_same_case_number_and_no_duplicate(
        client: WebhookClient, sink: RecordingSink) -> None:
    body = read_fixture("twilio_sms_unicode.urlencoded")
    seen = _Seen()
    for _ in range(3):
        resp = await post_signed(client, SMS_PATH, body)
        assert resp.status == 200
        seen.bodies.append(await resp.text())
    assert len(set(seen.bodies)) == 1
    assert "FZ12345-20261124-000001" in reply_text(seen.bodies[0])
    assert len(sink.calls) == 3 and len(sink.cases) == 1


async def test_database_down_answers_503_with_empty_body_never_a_case_number(
        client: WebhookClient, sink: RecordingSink) -> None:
    sink.down = True
    resp = await post_signed(client, SMS_PATH, read_fixture("twilio_sms_unicode.urlencoded"))
    assert resp.status == 503
    assert await resp.text() == ""
    assert sink.cases == {}


async def test_keyword_with_store_down_answers_503(client: WebhookClient,
                                                   commands: FakeCommands) -> None:
    commands.down = True
    resp = await post_signed(client, SMS_PATH, read_fixture("twilio_sms_keyword_td.urlencoded"))
    assert resp.status == 503 and await resp.text() == ""


async def test_other_account_signed_with_our_token_is_refused(
        client: WebhookClient, sink: RecordingSink) -> None:
    body = read_fixture("twilio_sms_unicode.urlencoded").replace(
        b"AccountSid=AC0123456789abcdef", b"AccountSid=ACffffffffffffffff")
    resp = await post_signed(client, SMS_PATH, body)
    assert resp.status == 403 and not sink.calls


async def test_media_over_the_size_limit_is_noted_not_stored(
        client: WebhookClient, sink: RecordingSink, fake: FakeTwilio, fake_api: str) -> None:
    fake.media["MM0000000000000000000000000000000f/ME" + "0" * 32] = ("image/jpeg", b"x" * 1001)
    resp = await post_signed(client, SMS_PATH,
                             read_fixture("twilio_mms_photo.urlencoded", api=fake_api))
    assert resp.status == 200
    (_, envelope), = sink.cases.values()
    assert envelope.attachments == ()
    assert any("文件过大" in n for n in envelope.notes)


async def test_media_of_a_refused_type_is_noted_not_stored(
        client: WebhookClient, sink: RecordingSink, fake: FakeTwilio, fake_api: str) -> None:
    fake.media["MM0000000000000000000000000000000f/ME" + "0" * 32] = ("text/html", b"<html>")
    resp = await post_signed(client, SMS_PATH,
                             read_fixture("twilio_mms_photo.urlencoded", api=fake_api))
    assert resp.status == 200
    (_, envelope), = sink.cases.values()
    assert envelope.attachments == () and any("text/html" in n for n in envelope.notes)


async def test_slow_media_is_cut_at_the_budget_and_the_message_still_registered(
        make_client: Callable[..., AsyncIterator[WebhookClient]], settings: TwilioSettings,
        sink: RecordingSink, fake: FakeTwilio, fake_api: str) -> None:
    stall = asyncio.Event()
    fake.stall_media = stall
    quick = settings.model_copy(update={"media_budget_s": 0.2})
    async for client in make_client(app_settings=quick):
        resp = await post_signed(client, SMS_PATH,
                                 read_fixture("twilio_mms_photo.urlencoded", api=fake_api))
        stall.set()
        assert resp.status == 200
        assert "FZ12345" in reply_text(await resp.text())
    (_, envelope), = sink.cases.values()
    assert envelope.attachments == () and any("超时" in n for n in envelope.notes)


async def test_mms_image_over_the_pixel_limits_is_noted_not_stored(
        client: WebhookClient, sink: RecordingSink, fake: FakeTwilio, fake_api: str) -> None:
    from tests.channels.web.test_citizen_form import bomb_png

    fake.media["MM0000000000000000000000000000000f/ME" + "0" * 32] = (
        "image/jpeg", bomb_png(30000, 30000))
    resp = await post_signed(client, SMS_PATH,
                             read_fixture("twilio_mms_photo.urlencoded", api=fake_api))
    assert resp.status == 200
    (_, envelope), = sink.cases.values()
    assert envelope.attachments == () and any("像素" in n for n in envelope.notes)
