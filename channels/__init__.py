"""Channel adapters: the outside world in (envelopes) and out (notices).

A channel imports only the contract (``contract/``), ``config/`` and its own
folder: inbound it calls the ``sink`` it was started with, outbound it
implements ``contract.notice.Deliverer``. Each folder exports one ``SPEC``
(``contract.channel.ChannelSpec``); ``CHANNELS`` below is the registry the
composition root starts them from. A new channel is one folder and one line.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from channels.email_smtp.spec import SPEC as EMAIL
from channels.fax_smtp.spec import SPEC as FAX
from channels.open311.spec import SPEC as OPEN311
from channels.sip.spec import SPEC as SIP
from channels.sms_gammu.spec import SPEC as SMS_GAMMU
from channels.sms_twilio.spec import SPEC as SMS_TWILIO
from channels.twilio_voice.spec import SPEC as TWILIO_VOICE
from channels.web.spec import SPEC as WEB_FORM
from contract.channel import WEB, WORKER, ChannelSpec

CHANNELS: tuple[ChannelSpec[Any], ...] = (
    WEB_FORM,
    FAX,
    SMS_GAMMU,
    SMS_TWILIO,
    TWILIO_VOICE,
    OPEN311,
    EMAIL,
    SIP,
)

SETTINGS_SECTIONS: dict[str, type[BaseModel]] = {spec.name: spec.settings_model for spec in CHANNELS}
"""Each channel's settings section and the model that validates it."""

ROLES: tuple[str, ...] = (WEB, WORKER, *(spec.role for spec in CHANNELS if spec.role))
"""Every process role ``hotline serve --only`` accepts."""
