"""Settings of the Twilio SMS channel (the ``[twilio]`` section).

Kept in its own module so the channel can be read, tested and switched off on
its own. Everything has a default so an installation without Twilio needs no
section at all; when ``enabled`` is true the credentials, our number and the
public URL become mandatory, because a webhook that cannot be verified must
never be accepted (it would be answered 403 forever).
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from config.validators import http_url, twilio_account_sid

_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")

DEFAULT_MEDIA_TYPES: tuple[str, ...] = (
    "image/jpeg", "image/png", "image/gif", "image/webp", "application/pdf",
    "audio/amr", "audio/mpeg", "video/mp4",
)


class TwilioSettings(BaseModel):
    """Twilio account, our number, the URL Twilio calls, and the channel's limits."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    account_sid: str = ""
    auth_token: SecretStr = SecretStr("")
    phone_number: str = ""
    """Our hotline number in E.164; messages are sent from it and listed to it."""
    public_base_url: str = ""
    """Scheme and host Twilio calls, e.g. ``https://hotline.example.gov.cn``: the
    signature is computed over this URL, not over the one the proxy hands us."""
    api_base_url: str = "https://api.twilio.com"
    """Twilio REST API root; tests point it at a local fake."""
    request_timeout_s: float = Field(10.0, gt=0, le=60)
    reconcile_interval_s: float = Field(60.0, gt=0)
    reconcile_overlap_s: float = Field(300.0, ge=0)
    """How far before the last seen message each listing starts again (late arrivals)."""
    reconcile_lookback_s: float = Field(86_400.0, gt=0)
    """On the very first run (no state yet), how far back to look."""
    state_dir: str = ""
    """Where the reconciliation watermark lives; empty: ``<data_dir>/twilio``."""
    media_max_bytes: int = Field(5_242_880, gt=0)
    media_max_count: int = Field(10, ge=0, le=10)
    media_allowed_types: tuple[str, ...] = DEFAULT_MEDIA_TYPES
    media_budget_s: float = Field(8.0, gt=0, le=12)
    """Time all media of one webhook may take, so we answer within Twilio's 15 s."""

    _http_url = field_validator("public_base_url", "api_base_url")(http_url)
    _sid_shape = field_validator("account_sid")(twilio_account_sid)

    @field_validator("phone_number")
    @classmethod
    def _e164(cls, value: str) -> str:
        if value and not _E164.match(value):
            raise ValueError("must be in E.164, e.g. +8659112345")
        return value

    @model_validator(mode="after")
    def _complete_when_enabled(self) -> TwilioSettings:
        if self.enabled:
            missing = [name for name, empty in (
                ("account_sid", not self.account_sid),
                ("auth_token", not self.auth_token.get_secret_value()),
                ("phone_number", not self.phone_number),
                ("public_base_url", not self.public_base_url),
            ) if empty]
            if missing:
                raise ValueError(f"twilio is enabled but {', '.join(missing)} not set")
        return self

    @property
    def token(self) -> str:
        """The auth token in clear, for signing and basic auth only."""
        return self.auth_token.get_secret_value()

    @property
    def messages_url(self) -> str:
        """The account's Messages collection in the REST API."""
        return f"{self.api_base_url}/2010-04-01/Accounts/{self.account_sid}/Messages.json"
