"""FaxSettings: safe defaults, and a clear error for each kind of bad value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from channels.fax_smtp.server import peer_allowed
from channels.fax_smtp.settings import FaxOutboundSettings, FaxSettings


def test_defaults_listen_on_loopback_only_and_are_off() -> None:
    settings = FaxSettings()
    assert (settings.enabled, settings.host, settings.port) == (False, "127.0.0.1", 2525)
    assert peer_allowed(settings, ("127.0.0.1", 40000))
    assert peer_allowed(settings, ("::1", 40000, 0, 0))
    assert not peer_allowed(settings, ("192.0.2.7", 40000))
    assert settings.ocr_enabled is False


def test_gateway_list_from_an_environment_string() -> None:
    settings = FaxSettings.model_validate({"allowed_gateways": "10.1.0.0/16, 192.0.2.7"})
    assert peer_allowed(settings, ("192.0.2.7", 25))
    assert peer_allowed(settings, ("::ffff:10.1.2.3", 25, 0, 0))  # IPv4-mapped
    assert not peer_allowed(settings, ("127.0.0.1", 25))


@pytest.mark.parametrize(("values", "words"), [
    ({"allowed_gateways": ["fax.example"]}, "not an IP address or network"),
    ({"auth_users": {"gw": "plain"}}, "must be an argon2 hash"),
    ({"starttls_cert": Path("/x.pem")}, "set together"),
    ({"require_starttls": True}, "needs starttls_cert"),
    ({"port": 70000}, "less than or equal to 65535"),
    ({"outbound": {"address_pattern": "fax.example"}}, "{number}"),
    ({"outbound": {"address_pattern": "{number}{oops}@fax.example"}}, "unknown placeholder"),
    ({"outbound": {"document_format": "ps"}}, "'pdf' or 'tiff'"),
    ({"smtp_host": "x"}, "Extra inputs are not permitted"),
])
def test_bad_settings_name_the_problem(values: dict[str, Any], words: str) -> None:
    with pytest.raises(ValidationError) as caught:
        FaxSettings.model_validate(values)
    assert words in str(caught.value)


def test_outbound_defaults_are_an_email_to_fax_gateway_pattern() -> None:
    outbound = FaxOutboundSettings()
    assert outbound.address_pattern == "{number}@fax.example"
    assert outbound.document_format == "pdf" and outbound.max_reply_pages == 2
