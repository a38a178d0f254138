"""Settings of the fax channel: the SMTP server fax gateways deliver to, and the way back.

Fax servers (HylaFAX's ``faxrcvd``) and fax providers mail each received fax to
our SMTP server; replies go out through an email-to-fax gateway. Every value
has a default that runs on one machine (a gateway on loopback), so a site only
sets what differs. The lead wires this in as ``Settings.fax``.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from config.validators import StrictSettings, split_csv

_ADDRESS_FIELDS = ("{number}", "{e164}", "{national}")


class FaxOutboundSettings(StrictSettings):
    """How fax replies leave: an email-to-fax gateway reached over SMTP."""

    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    timeout_s: float = Field(30.0, gt=0, le=600)
    address_pattern: str = "{number}@fax.example"
    """``{number}``: E.164 digits without "+"; ``{e164}``: with "+"; ``{national}``: 0591…"""
    from_address: str = "fax@hotline.example"
    bureau_name: str = "福州市12345政务服务便民热线"
    document_format: Literal["pdf", "tiff"] = "pdf"
    font_path: str = ""
    """A CJK TrueType/OpenType font; empty: look in the Debian font packages."""
    font_index: int = Field(-1, ge=-1, le=32)
    """Face in a ``.ttc`` collection; -1: the known index for the found font."""
    max_reply_pages: int = Field(2, ge=1, le=10)

    @field_validator("address_pattern")
    @classmethod
    def _pattern_has_number(cls, value: str) -> str:
        if not any(f in value for f in _ADDRESS_FIELDS) or "@" not in value:
            raise ValueError("must be an email address with {number}, {e164} or {national}")
        try:
            value.format(number="1", e164="+1", national="1")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"unknown placeholder in {value!r}: {exc}") from exc
        return value


class FaxSettings(StrictSettings):
    """The fax channel: SMTP intake from fax gateways, replies by email-to-fax."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(2525, ge=0, le=65535)
    server_name: str = "hotline-fax"
    """Name in the SMTP greeting (set explicitly: looking up the FQDN can hang)."""
    max_message_bytes: int = Field(26_214_400, gt=0)
    idle_timeout_s: float = Field(60.0, gt=0, le=600)
    """Each SMTP command line must be complete within this of the previous one (idle time
    and a trickled command both count); then 421 and the connection is closed."""
    data_timeout_s: float = Field(600.0, gt=0, le=3600)
    """The whole message after DATA must arrive within this (25 MB in 10 min is 42 KB/s);
    then 421 and closed. Larger than ``idle_timeout_s`` so a big fax on a slow link arrives."""
    max_pages: int = Field(100, ge=1, le=1000)
    thumbnail_pages: int = Field(20, ge=0, le=200)
    thumbnail_width: int = Field(400, ge=50, le=1728)
    allowed_gateways: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
    """Client addresses or networks allowed to deliver faxes without SMTP AUTH."""
    auth_users: dict[str, str] = Field(default_factory=dict)
    """Gateway login → argon2 hash of its password (``argon2.PasswordHasher().hash``)."""
    auth_require_tls: bool = True
    starttls_cert: Path | None = None
    starttls_key: Path | None = None
    require_starttls: bool = False
    ocr_enabled: bool = False
    ocr_languages: str = "chi_sim"
    ocr_max_pages: int = Field(5, ge=1, le=50)
    ocr_timeout_s: float = Field(60.0, gt=0, le=600)
    outbound: FaxOutboundSettings = FaxOutboundSettings()

    @field_validator("allowed_gateways", mode="before")
    @classmethod
    def _from_csv(cls, value: object) -> object:
        return split_csv(value)

    @field_validator("allowed_gateways")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError as exc:
                raise ValueError(f"not an IP address or network: {item!r}") from exc
        return value

    @field_validator("auth_users")
    @classmethod
    def _hashed(cls, value: dict[str, str]) -> dict[str, str]:
        for user, secret in value.items():
            if not secret.startswith("$argon2"):
                raise ValueError(f"password of {user!r} must be an argon2 hash, not plain text")
        return value

    @model_validator(mode="after")
    def _tls_pair(self) -> FaxSettings:
        if (self.starttls_cert is None) != (self.starttls_key is None):
            raise ValueError("starttls_cert and starttls_key must be set together")
        if self.require_starttls and self.starttls_cert is None:
            raise ValueError("require_starttls needs starttls_cert and starttls_key")
        return self

    def networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """The allow-list as network objects."""
        return tuple(ipaddress.ip_network(item, strict=False) for item in self.allowed_gateways)
