"""Settings of the Twilio Voice channel (the ``[twilio_voice]`` section).

Separate from ``[twilio]`` (SMS) because a site may take calls through Twilio
and texts through a GSM modem, or the reverse; the account may still be the
same one. When ``enabled`` is true the credentials and the public URL become
mandatory: a webhook that cannot be verified must never be accepted.
"""

from __future__ import annotations

import base64
import re

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from config.validators import http_url, twilio_account_sid

_AGENT = re.compile(r"^(\+[1-9][0-9]{6,14}|sips?:[^\s<>]+)$")


class TwilioVoiceSettings(BaseModel):
    """Twilio account, the URL Twilio calls, where agents answer, and the voicemail limits."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    account_sid: str = ""
    auth_token: SecretStr = SecretStr("")
    public_base_url: str = ""
    """Scheme and host Twilio calls (``https://hotline.example.gov.cn``): signatures cover it."""
    api_base_url: str = "https://api.twilio.com"
    """Twilio REST API root; tests point it at a local fake."""
    request_timeout_s: float = Field(10.0, gt=0, le=60)
    agent: str = ""
    """Where "0" connects: an E.164 number or a SIP URI of the agents' queue; empty: no agents."""
    dial_timeout_s: int = Field(20, ge=5, le=120)
    voice: str = "Polly.Zhiyu"
    """A Twilio text-to-speech voice that speaks Mandarin (``language="zh-CN"``)."""
    menu_repeats: int = Field(2, ge=1, le=5)
    """How often the menu is offered before a silent caller is thanked and hung up on."""
    max_recording_s: int = Field(180, ge=10, le=3600)
    min_recording_s: int = Field(2, ge=0, le=60)
    """Shorter recordings (a hang-up at the beep) make no case."""
    max_recording_bytes: int = Field(64_000_000, gt=0)
    case_prefix: str = Field("FZ12345", pattern=r"^[A-Z0-9]{2,12}$")
    """The site's case-number prefix: callers key only the digits of their number."""
    state_dir: str = ""
    """Where call records live; empty: ``<data_dir>/twilio_voice``."""
    outbound_from: str = ""
    """The number outbound calls come from (E.164, one of the account's): answers read to
    landlines and 回访 keypad menus (``[worker] voice_channel = "twilio_voice"``); empty: none."""
    outbound_ring_s: int = Field(30, ge=5, le=600)
    """How long an outbound call rings before Twilio reports ``no-answer``."""

    _http_url = field_validator("public_base_url", "api_base_url")(http_url)
    _sid_shape = field_validator("account_sid")(twilio_account_sid)

    @field_validator("agent")
    @classmethod
    def _agent_shape(cls, value: str) -> str:
        if value and not _AGENT.match(value):
            raise ValueError("must be an E.164 number (+8659112345) or a sip: URI")
        return value

    @field_validator("outbound_from")
    @classmethod
    def _from_shape(cls, value: str) -> str:
        if value and not re.fullmatch(r"\+[1-9][0-9]{6,14}", value):
            raise ValueError("must be an E.164 number (+8659112345)")
        return value

    @model_validator(mode="after")
    def _complete_when_enabled(self) -> TwilioVoiceSettings:
        if self.enabled:
            missing = [name for name, empty in (
                ("account_sid", not self.account_sid),
                ("auth_token", not self.auth_token.get_secret_value()),
                ("public_base_url", not self.public_base_url),
            ) if empty]
            if missing:
                raise ValueError(f"twilio_voice is enabled but {', '.join(missing)} not set")
        return self

    @property
    def token(self) -> str:
        """The auth token in clear, for signatures and basic auth only."""
        return self.auth_token.get_secret_value()

    def auth_header(self) -> dict[str, str]:
        """HTTP basic auth for the REST API (the account SID and token)."""
        pair = f"{self.account_sid}:{self.token}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}

    @property
    def calls_url(self) -> str:
        """Where outbound calls are created (``calls.create``)."""
        return f"{self.api_base_url}/2010-04-01/Accounts/{self.account_sid}/Calls.json"

    def recording_url(self, recording_sid: str) -> str:
        """The recording as WAV in the REST API (built from the SID, never from a posted URL)."""
        return (f"{self.api_base_url}/2010-04-01/Accounts/{self.account_sid}"
                f"/Recordings/{recording_sid}.wav")
