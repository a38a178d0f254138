"""The one table between a citizen's contact kinds and the channels that reach them.

A notice goes back on the channel an item came in on; a web or phone item is
answered on the contact the citizen left. Which channel reaches which kind of
contact is written here once, for the workflow's notices and the outbox's
redelivery to the next contact alike (the kinds are the database's check
constraint on ``contact.kind``).
"""

from __future__ import annotations

import re

from contract.envelope import Channel

PHONE, EMAIL, FAX = "phone", "email", "fax"

#: Channels that reach a phone by calling it (an outbound call that speaks the notice).
VOICE_CHANNELS = frozenset({Channel.PHONE, Channel.TWILIO_VOICE})

# Mainland mobiles are 1[3-9] and nine digits; every other mainland number is a fixed line
# (area code 0xx/0xxx in national form, without its 0 after +86).
_MOBILE = re.compile(r"^(?:\+86|0086)?1[3-9][0-9]{9}$")
_MAINLAND = re.compile(r"^(?:\+86|0086|0)[1-9][0-9]{6,11}$")

#: contact kind → the channel that reaches it; a phone is reached by the SMS channel the
#: settings name (``worker.sms_channel``), so it is not in the table.
CHANNEL_OF_KIND: dict[str, Channel] = {EMAIL: Channel.EMAIL, FAX: Channel.FAX}


def is_landline(address: str | None) -> bool:
    """Whether ``address`` is a mainland fixed line, which cannot take an SMS.

    Only mainland numbers are judged (a foreign number may be a mobile whatever
    its shape): E.164 ``+86`` or national ``0``-prefixed, and not a mobile.
    """
    number = re.sub(r"[\s()-]", "", address or "")
    return bool(_MAINLAND.match(number)) and not _MOBILE.match(number)


def channel_for(kind: str, *, sms_channel: str, voice_channel: str = "",
                address: str | None = None) -> str:
    """The channel a notice to a contact of ``kind`` goes out on.

    Phones get SMS, except a landline when the site has a voice channel
    (``worker.voice_channel``): an SMS would never reach it, a call does.
    """
    channel = CHANNEL_OF_KIND.get(kind)
    if channel is not None:
        return str(channel)
    if voice_channel and is_landline(address):
        return voice_channel
    return sms_channel


def kind_for(channel: str) -> str:
    """The kind of contact a notice on ``channel`` is addressed to."""
    return next((kind for kind, c in CHANNEL_OF_KIND.items() if c == channel), PHONE)
