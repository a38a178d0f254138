"""Settings: defaults, a site file, HOTLINE_* variables; bad values name their key."""

from __future__ import annotations

from pathlib import Path

import pytest

from channels import SETTINGS_SECTIONS
from channels.fax_smtp.settings import FaxSettings
from config.settings import ConfigError, load_settings
from intake.serving import server_options


def test_defaults_are_the_embedded_demo() -> None:
    settings = load_settings(sections=SETTINGS_SECTIONS, environ={})
    assert settings.database_url == "sqlite+aiosqlite:///var/hotline.db"
    assert (settings.web.host, settings.web.port) == ("127.0.0.1", 8080)
    assert settings.tz.key == "Asia/Shanghai" and settings.case_prefix == "FZ12345"


def test_site_file_then_environment_win(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text('case_prefix = "XM12345"\n[web]\nport = 9000\n', encoding="utf-8")
    settings = load_settings(sections=SETTINGS_SECTIONS, environ={
        "HOTLINE_CONFIG": str(site), "HOTLINE_WEB__PORT": "9100",
        "HOTLINE_DATABASE_URL": "postgresql+asyncpg://u@db/hotline"})
    assert (settings.case_prefix, settings.web.port) == ("XM12345", 9100)
    assert settings.database_url.startswith("postgresql+asyncpg://")


@pytest.mark.parametrize(("environ", "key"), [
    ({"HOTLINE_WEB__PORT": "eighty"}, "web.port"),
    ({"HOTLINE_DATABASE_URL": "mysql://x"}, "database_url"),
    ({"HOTLINE_TIMEZONE": "Mars/Base"}, "timezone"),
    ({"HOTLINE_NO_SUCH_KEY": "1"}, "no_such_key"),
    ({"HOTLINE_FAX__PORT": "-1"}, "fax.port"),
])
def test_a_bad_value_stops_start_with_its_key_named(environ: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_settings(sections=SETTINGS_SECTIONS, environ=environ)


def test_a_broken_site_file_is_named(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text("web = [", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(sections=SETTINGS_SECTIONS, environ={"HOTLINE_CONFIG": str(site)})
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(sections=SETTINGS_SECTIONS, environ={"HOTLINE_CONFIG": str(tmp_path / "missing.toml")})


def test_each_channel_section_is_validated_by_its_own_model() -> None:
    settings = load_settings(sections=SETTINGS_SECTIONS, environ={"HOTLINE_FAX__PORT": "2626"})
    assert settings.channel("fax", FaxSettings).port == 2626
    assert set(settings.channel_sections) == set(SETTINGS_SECTIONS)


def test_a_section_no_channel_claims_is_an_unknown_key() -> None:
    with pytest.raises(ConfigError, match="fax"):
        load_settings(sections={}, environ={"HOTLINE_FAX__PORT": "2626"})


def test_the_access_log_is_on_by_default_and_off_behind_nginx() -> None:
    """nginx logs every request; ``HOTLINE_WEB__ACCESS_LOG=false`` spares the web processes
    logging each one again (``intake.serving.server_options``)."""
    default = load_settings(sections=SETTINGS_SECTIONS, environ={})
    behind = load_settings(sections=SETTINGS_SECTIONS, environ={"HOTLINE_WEB__ACCESS_LOG": "false"})
    assert "access_log" not in server_options(default.web)
    assert server_options(behind.web) == {"keepalive_timeout": 60.0, "access_log": None}
