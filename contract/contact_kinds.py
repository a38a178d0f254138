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
#: Channels that text a phone.
SMS_CHANNELS = frozenset({Channel.SMS_MODEM, Channel.SMS_TWILIO})

# Mainland mobiles are 1[3-9] and nine digits; every other mainland number is a fixed line
# (area code 0xx/0xxx in national form, without its 0 after +86).
_MOBILE = re.compile(r"^(?:\+86|0086)?1[3-9][0-9]{9}$")
_MAINLAND = re.compile(r"^(?:\+86|0086|0)[1-9][0-9]{6,11}$")

#: contact kind → the channel that reaches it; a phone is reached by the SMS channel the
#: settings name (``worker.sms_channel``), so it is not in the table.
CHANNEL_OF_KIND: dict[str, Channel] = {EMAIL: Channel.EMAIL, FAX: Channel.FAX}


#: Why a notice to a landline was not sent: no voice channel here, and an SMS to a landline is
#: accepted by the gateway and read by nobody (the notice's ``last_error``, for the desk).
NO_CALLS_TO_LANDLINE = "座机无法接收短信，且本中心未开通外呼（worker.voice_channel 为空），未发送"


def is_landline(address: str | None) -> bool:
    """Whether ``address`` is a mainland fixed line, which cannot take an SMS.

    Only mainland numbers are judged (a foreign number may be a mobile whatever
    its shape): E.164 ``+86`` or national ``0``-prefixed, and not a mobile.
    """
    number = re.sub(r"[\s()-]", "", address or "")
    return bool(_MAINLAND.match(number)) and not _MOBILE.match(number)


def channel_for(kind: str, *, sms_channel: str, voice_channel: str = "",
                address: str | None = None, prefers_call: bool = False) -> str:
    """The channel a notice to a contact of ``kind`` goes out on.

    Phones get SMS, except when the site has a voice channel
    (``worker.voice_channel``) and the number is a landline (an SMS would never
    reach it, a call does) or a mobile whose citizen chose answers by call
    (答复方式：电话, ``contact.prefers_call``).
    """
    channel = CHANNEL_OF_KIND.get(kind)
    if channel is not None:
        return str(channel)
    if voice_channel and (prefers_call or is_landline(address)):
        return voice_channel
    return sms_channel


def channels_for(kind: str, *, sms_channel: str, voice_channel: str = "",
                 address: str | None = None, prefers_call: bool = False) -> tuple[str, ...]:
    """Every channel that can reach a contact, best first (the outbox's fallback order).

    A mobile that chose calls is called first and texted when the call fails for
    good; a landline is only ever called, so without a voice channel nothing
    reaches it (an SMS to it would be accepted by the gateway and read by nobody).
    """
    first = channel_for(kind, sms_channel=sms_channel, voice_channel=voice_channel,
                        address=address, prefers_call=prefers_call)
    if kind == PHONE and is_landline(address):
        return (first,) if first == voice_channel and voice_channel else ()
    if first != sms_channel and kind == PHONE:
        return (first, sms_channel)
    return (first,)


def sms_to_landline(channel: str, address: str | None) -> bool:
    """Whether a notice would be an SMS to a landline, which nobody can read (never sent)."""
    return channel in SMS_CHANNELS and is_landline(address)


def kind_for(channel: str) -> str:
    """The kind of contact a notice on ``channel`` is addressed to."""
    return next((kind for kind, c in CHANNEL_OF_KIND.items() if c == channel), PHONE)
