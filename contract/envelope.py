"""The frozen envelope: what every inbound channel hands to intake.

This is a leaf module: channels, the registrar and the forwarder may all import
it, and it imports nothing of ours. An envelope carries an item exactly as it
arrived (after normalisation); it knows nothing of cases, numbers or workflow.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

MACHINE_TEXT_MARK = "【机器识别，待人工核对】"
"""Marks text a machine read (fax OCR, speech-to-text): an agent must check it."""


class Channel(StrEnum):
    """How an item reached the hotline; replies go back on the same channel."""

    WEB = "web"
    PHONE = "phone"
    FAX = "fax"
    SMS_MODEM = "sms_modem"
    SMS_TWILIO = "sms_twilio"
    TWILIO_VOICE = "twilio_voice"
    """Voicemail left through Twilio Voice (``channels/twilio_voice``)."""
    EMAIL = "email"
    """Outbound only so far: replies to web items whose citizen left only an email."""
    OPEN311 = "open311"
    """Apps and partner systems through the Open311 GeoReport v2 API; answered like web items
    (SMS to the phone or email they gave)."""


@dataclass(frozen=True, slots=True)
class Attachment:
    """One file that came with an item (a fax page set, a photo, a recording)."""

    filename: str
    content_type: str
    data: bytes

    @property
    def sha256(self) -> str:
        """Content address of the file: the name it is stored under."""
        return hashlib.sha256(self.data).hexdigest()

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True, slots=True)
class Envelope:
    """One citizen item as received on a channel, already normalised.

    ``external_id`` is the channel's own identity of the item (a Twilio
    MessageSid, an SMTP Message-ID, a web form token): ``(channel,
    external_id)`` is unique, so a redelivery never makes a second case.
    """

    channel: Channel
    external_id: str
    received_at: datetime
    text: str
    sender: str | None = None
    reply_address: str | None = None
    display_name: str | None = None
    attachments: tuple[Attachment, ...] = ()
    language: str = "zh-Hans"
    public_allowed: bool = True
    district_hint: str | None = None
    location_hint: str | None = None
    notes: tuple[str, ...] = field(default=())
    alt_reply_addresses: tuple[str, ...] = field(default=())
    """Further ways to reach the citizen (E.164 phone, email), used when the reply address fails."""
    reply_by_call: bool | None = None
    """The citizen's 答复方式 for a phone ``reply_address``: True 电话 (a mobile is called when
    the site calls out), False 短信, None not asked (the contact keeps its earlier choice)."""
    receipt_in_reply: bool = False
    """The channel gives the case number in its own reply (a webhook's TwiML, a web
    receipt page), so the registrar records the receipt as sent instead of queueing it."""

    def __post_init__(self) -> None:
        if self.received_at.tzinfo is None:
            raise ValueError("Envelope.received_at must be timezone-aware")
        if not self.external_id:
            raise ValueError("Envelope.external_id must not be empty")


@dataclass(frozen=True, slots=True)
class Receipt:
    """What intake answers a channel once the item is committed."""

    case_number: str
    created: bool
    """False when the item was a redelivery of one already registered."""
    query_code: str = ""
    emergency_advice: str = ""
    """R3.8: advice to call 110/119/120/122 now, to show the sender at once."""
    answer_due: date | None = None
    """The last day the answer is due as the regulation counts it from registration (an
    estimate until the item is dispatched), for the citizen's receipt."""


class TryLater(Exception):
    """The store cannot take the item now; the sender should retry (HTTP 503, SMTP 451)."""


Sink = Callable[[Envelope], Awaitable[Receipt]]
"""What a channel adapter calls with each envelope; returns only after commit."""
