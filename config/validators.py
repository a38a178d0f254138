"""Checks several settings models share."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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
