"""Pure protocol work for inbound Twilio SMS: messages, envelopes, replies.

Nothing here does I/O, so every rule (which characters survive, what a strange
sender becomes, what the citizen is told) is tested with plain values. The
webhook and the reconciliation job both turn what Twilio gave them into one
``InboundSms`` and hand it to ``handling.process``.

Two decisions worth knowing:

- The form body keeps undecodable bytes as surrogate escapes
  (``contract.twilio_signature``, shared with the voice channel) so that the
  signature verifies over the bytes as sent; cleaning then drops them (with a
  note).
- A sender that is not a phone number (an alphanumeric ID, a short code, an
  empty ``From``) never loses the message: it is registered with no reply
  address and a note carrying the raw value, for an agent to look at.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from multidict import MultiDict
from twilio.twiml.messaging_response import MessagingResponse

from config.notices import render_notice
from contract.envelope import Attachment, Channel, Envelope, Receipt
from contract.normalise import InvalidInput, clean_text, normalise_phone
from contract.twilio_signature import BadForm

_BROKEN = range(0xD800, 0xE000)


Now = Callable[[], datetime]
"""Reads the time (``ports.clock.now``); not ``contract.clock.Clock``, which is the object."""
"""Injected time source (tests pin it)."""


def utc_now() -> datetime:
    """The default clock: now, in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class MediaRef:
    """A media item Twilio holds for a message: where to fetch it and what it claims to be."""

    url: str
    content_type: str


@dataclass(frozen=True, slots=True)
class InboundSms:
    """One inbound message as Twilio described it, before any normalisation."""

    sid: str
    sender_raw: str
    to: str
    body: str
    received_at: datetime
    media: tuple[MediaRef, ...] = ()
    account_sid: str = ""


def sms_from_form(form: MultiDict[str], *, received_at: datetime,
                  max_media: int = 10) -> InboundSms:
    """Read Twilio's webhook fields; a form without a MessageSid is refused."""
    sid = form.get("MessageSid") or form.get("SmsSid") or ""
    if not sid.isascii() or not sid.isalnum():
        raise BadForm("MessageSid missing or malformed")
    try:
        count = int(form.get("NumMedia", "0") or "0")
    except ValueError as exc:
        raise BadForm("NumMedia is not a number") from exc
    media = tuple(
        MediaRef(form.get(f"MediaUrl{i}", ""), form.get(f"MediaContentType{i}", ""))
        for i in range(min(max(count, 0), max_media))
    )
    return InboundSms(sid=sid, sender_raw=form.get("From", ""), to=form.get("To", ""),
                      body=form.get("Body", ""), received_at=received_at, media=media,
                      account_sid=form.get("AccountSid", ""))


def sms_from_rest(message: dict[str, Any], media: tuple[MediaRef, ...]) -> InboundSms:
    """Build the same value from a Message resource of the REST API (reconciliation)."""
    when = message.get("date_sent") or message.get("date_created") or ""
    try:
        received_at = parsedate_to_datetime(str(when))
    except (TypeError, ValueError) as exc:
        raise BadForm(f"message {message.get('sid')!r} has no usable date") from exc
    if received_at.tzinfo is None:
        raise BadForm(f"message {message.get('sid')!r} has a date without time zone")
    sid = str(message.get("sid") or "")
    if not sid.isascii() or not sid.isalnum():
        raise BadForm("message without a usable sid")
    return InboundSms(sid=sid, sender_raw=str(message.get("from") or ""),
                      to=str(message.get("to") or ""), body=str(message.get("body") or ""),
                      received_at=received_at, media=media,
                      account_sid=str(message.get("account_sid") or ""))


def sender_e164(sms: InboundSms) -> str | None:
    """The sender in E.164, or None when ``From`` is not a usable phone number."""
    try:
        return normalise_phone(sms.sender_raw, field="From")
    except InvalidInput:
        return None


def clean_body(body: str) -> tuple[str, int]:
    """The body fit to store, and how many broken (non-UCS-2) code points were dropped."""
    broken = sum(1 for ch in body if ord(ch) in _BROKEN)
    return clean_text(body, field="Body", required=False), broken


def build_envelope(sms: InboundSms, *, text: str, attachments: tuple[Attachment, ...] = (),
                   notes: tuple[str, ...] = (), receipt_in_reply: bool = False) -> Envelope:
    """The envelope for a message that is a new item (text already cleaned)."""
    sender = sender_e164(sms)
    if sender is None:
        notes = (f"短信发送方号码无法识别：{sms.sender_raw!r}，无法短信回复", *notes)
    return Envelope(channel=Channel.SMS_TWILIO, external_id=sms.sid,
                    received_at=sms.received_at, text=text, sender=sender,
                    reply_address=sender, attachments=attachments, notes=notes,
                    receipt_in_reply=receipt_in_reply)


# What the citizen reads. Short: one SMS segment of 70 UCS-2 characters where we can.
def receipt_reply(receipt: Receipt) -> str:
    """The receipt notice's own template (``[receipt.sms_twilio]``), so the TwiML says
    what the outbox records as sent in reply: "registered", never "accepted" (R3 is
    the bureau's decision). The same words for a first delivery and a replay."""
    return render_notice("receipt", "sms_twilio",
                         {"number": receipt.case_number, "query_code": receipt.query_code})


EMPTY_REPLY = "【12345】短信内容为空，未能受理。请直接回复您要反映的问题。"
UNREADABLE_REPLY = "【12345】短信内容无法识别（编码错误），未能受理。请重新发送。"
NO_NUMBER_REPLY = "【12345】无法识别您的手机号码，请拨打12345热线查询或退订。"


def too_long_reply(error: InvalidInput) -> str:
    """Tell the citizen why a message was not registered, in the validator's words."""
    return f"【12345】未能受理：{error.message}。请分条简要发送。"


def twiml(text: str | None) -> str:
    """A TwiML document replying ``text``; an empty ``<Response/>`` for no reply."""
    response = MessagingResponse()
    if text:
        response.message(text)
    return str(response)
