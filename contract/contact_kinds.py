"""The one table between a citizen's contact kinds and the channels that reach them.

A notice goes back on the channel an item came in on; a web or phone item is
answered on the contact the citizen left. Which channel reaches which kind of
contact is written here once, for the workflow's notices and the outbox's
redelivery to the next contact alike (the kinds are the database's check
constraint on ``contact.kind``).
"""

from __future__ import annotations

from contract.envelope import Channel

PHONE, EMAIL, FAX = "phone", "email", "fax"

#: contact kind → the channel that reaches it; a phone is reached by the SMS channel the
#: settings name (``worker.sms_channel``), so it is not in the table.
CHANNEL_OF_KIND: dict[str, Channel] = {EMAIL: Channel.EMAIL, FAX: Channel.FAX}


def channel_for(kind: str, *, sms_channel: str) -> str:
    """The channel a notice to a contact of ``kind`` goes out on (phones get SMS)."""
    channel = CHANNEL_OF_KIND.get(kind)
    return str(channel) if channel is not None else sms_channel


def kind_for(channel: str) -> str:
    """The kind of contact a notice on ``channel`` is addressed to."""
    return next((kind for kind, c in CHANNEL_OF_KIND.items() if c == channel), PHONE)
