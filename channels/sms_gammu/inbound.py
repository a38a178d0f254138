"""What a received SMS means: an item to register, a keyword command, or nothing.

Pure decisions on an assembled ``SmsMessage``; the adapter carries them out.

- Empty or whitespace-only text is **not** an item: it is deleted from the
  modem and logged (a pocket-dial or a carrier's blank flash SMS).
- A sender that is not a phone number (``ICBC``, ``10086``) still files an
  item — losing a citizen's words is worse than a junk case, and screening
  (R3) can refuse it — but with ``sender`` and ``reply_address`` None and the
  raw sender in the notes: nothing can be answered to it. Keywords from such
  a sender are items too, since no answer could reach it.
- Keywords (``CX``/``查询``, ``TD``/``退订``) only count in a complete message
  from a phone number; anything else is a new item. Joining a later SMS to the
  citizen's open case is left to the registrar, which knows cases.
- Text longer than intake's limit is cut for the record and kept whole as a
  text attachment, so nothing is lost.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from channels.sms_gammu.reassembly import SmsMessage
from contract.envelope import Attachment, Channel, Envelope
from contract.normalise import MAX_TEXT_CHARS, InvalidInput, clean_text, normalise_phone
from contract.sms_keywords import Keyword, parse_keyword

_MAX_EXTERNAL_REF = 40


@dataclass(frozen=True, slots=True)
class Discard:
    """Nothing to register; delete the SMS and log ``reason``."""

    reason: str


@dataclass(frozen=True, slots=True)
class Command:
    """A keyword to answer by SMS to ``sender_e164``."""

    keyword: Keyword
    sender_e164: str


@dataclass(frozen=True, slots=True)
class Item:
    """A citizen's item for the sink."""

    envelope: Envelope


Action = Discard | Command | Item


def sender_e164(raw: str) -> str | None:
    """The sender in E.164, or None for alphanumeric and other unanswerable senders."""
    try:
        return normalise_phone(raw, field="sender")
    except InvalidInput:
        return None


def short_external_id(external_id: str) -> str:
    """Keep ids of pathological partial messages (255 parts) to a storable length."""
    head, sep, ref = external_id.rpartition("|")
    if len(ref) <= _MAX_EXTERNAL_REF:
        return external_id
    return f"{head}{sep}h{hashlib.sha256(ref.encode()).hexdigest()[:24]}"


def classify(message: SmsMessage, *, received_at: datetime) -> Action:
    """Decide what ``message`` is; never raises on bad text or senders."""
    text = clean_text(message.text, max_chars=len(message.text) + 1, required=False)
    if not text:
        return Discard(reason="empty or whitespace-only SMS")
    e164 = sender_e164(message.sender)
    complete = not message.missing
    if e164 is not None and complete:
        keyword = parse_keyword(text)
        if keyword is not None:
            return Command(keyword=keyword, sender_e164=e164)

    notes = [f"短信中心时间 {message.sent_at.isoformat()} (SMSC timestamp)"]
    if e164 is None:
        notes.append(f"发送号码无法识别，无法短信回复：{message.sender!r} "
                     "(sender not a phone number)")
    if message.missing:
        missing = "、".join(str(n) for n in message.missing)
        notes.append(
            f"长短信共 {message.total} 条，第 {missing} 条超时未收到，按已收到部分登记 "
            f"(parts missing after timeout)")
    if "\ufffd" in text:
        notes.append("短信含无法解码的字符，已以 � 代替 (invalid characters replaced)")
    attachments: tuple[Attachment, ...] = ()
    if len(text) > MAX_TEXT_CHARS:
        attachments = (Attachment("sms.txt", "text/plain; charset=utf-8", text.encode("utf-8")),)
        notes.append(f"短信过长，正文截为前 {MAX_TEXT_CHARS} 字，全文见附件 sms.txt")
        text = text[:MAX_TEXT_CHARS]
    return Item(Envelope(
        channel=Channel.SMS_MODEM,
        external_id=short_external_id(message.external_id),
        received_at=received_at,
        text=text,
        sender=e164,
        reply_address=e164,
        attachments=attachments,
        notes=tuple(notes),
    ))
