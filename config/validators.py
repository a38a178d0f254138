"""Checks several settings models share."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict

_TWILIO_ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")


def known_zone(value: str) -> str:
    """An IANA time-zone name this machine knows, or ``ValueError`` naming it."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


def http_url(value: str) -> str:
    """A base URL without its trailing slash: https (or http for a local test), or empty."""
    value = value.strip().rstrip("/")
    if value and not value.startswith(("https://", "http://")):
        raise ValueError("must start with https:// (or http:// for a local test)")
    return value


def twilio_account_sid(value: str) -> str:
    """Empty, or a Twilio account SID: 'AC' and 32 hexadecimal digits."""
    if value and not _TWILIO_ACCOUNT_SID.match(value):
        raise ValueError("an account SID is 'AC' followed by 32 hexadecimal digits")
    return value


class StrictSettings(BaseModel):
    """A settings section: unknown keys are errors (a typo names itself), values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def split_csv(value: object) -> object:
    """A list from one environment variable (``HOTLINE_SIP__AGENTS=sip:a@h,sip:b@h``)."""
    if isinstance(value, str):
        return tuple(part.strip() for part in value.strip("[]").split(",") if part.strip())
    return value
