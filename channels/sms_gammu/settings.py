"""Settings of the GSM-modem SMS channel (section ``[gammu]``).

The keys ``device``, ``connection`` and ``model`` are Gammu's own (see
https://docs.gammu.org/config/): a site that already runs ``gammu identify``
against its modem copies them from its ``gammurc``. The defaults describe
Gammu's ``dummy`` driver, a phone made of a directory, so the demo and the
tests run without hardware; the channel is off until a site enables it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from config.validators import known_zone


class GammuSettings(BaseModel):
    """How to reach the modem and how hard to drive it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    # Serial device (/dev/ttyUSB0), Bluetooth address, or, for the dummy
    # driver, the directory that plays the phone.
    device: str = "var/demo-modem"
    # Gammu connection type: "at" for most USB modems, "none" for dummy.
    connection: str = "none"
    # Gammu model: "" lets Gammu detect it, "at" forces AT commands, "dummy".
    model: str = "dummy"
    # How often the inbox is read when nothing else is happening.
    poll_interval_s: float = Field(10.0, gt=0, le=3600)
    # Parts of a concatenated SMS wait this long for their siblings, then the
    # message is registered with what arrived and a note naming what is missing.
    parts_timeout_s: float = Field(3600.0, gt=0, le=7 * 86400)
    # A real modem manages about 10 messages a minute; each part counts.
    send_rate_per_minute: float = Field(10.0, gt=0, le=600)
    # Attempts per part for transient errors before the outbox is told to retry later.
    send_attempts: int = Field(3, ge=1, le=10)
    # After the modem fails, wait this long before opening it again.
    reconnect_delay_s: float = Field(10.0, ge=0, le=3600)
    # Longest wait between polls while the store keeps answering "try later".
    max_backoff_s: float = Field(300.0, gt=0, le=3600)
    # Where parts of incomplete concatenated messages are kept (fsynced files).
    state_dir: str = "var/sms-parts"
    # Modem timestamps without a zone (some modems drop it) are read in this zone.
    modem_timezone: str = "Asia/Shanghai"

    @field_validator("connection", "device")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("modem_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return known_zone(value)
