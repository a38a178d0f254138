"""Settings: ``config/defaults.toml``, then a site file, then ``HOTLINE_*`` variables.

Validated once at start; a bad value stops the service with an error that names
the key, so a site administrator never has to guess which line is wrong.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from config.email_settings import EmailSettings
from config.fax_settings import FaxSettings
from config.gammu_settings import GammuSettings
from config.twilio_settings import TwilioSettings
from config.validators import known_zone

CONFIG_DIR = Path(__file__).resolve().parent
DEFAULTS_FILE = CONFIG_DIR / "defaults.toml"
DEMO_ORGANISATION_FILE = CONFIG_DIR / "organisation.toml"
ENV_PREFIX = "HOTLINE_"


class ConfigError(Exception):
    """A setting is missing, unknown or invalid; the message names the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WebSettings(_Strict):
    """The citizen web channel and, later, the desks."""

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    secret_key: str = ""
    # Behind HTTPS in production: mark cookies Secure so browsers never send them in clear.
    secure_cookies: bool = False
    max_attachments: int = Field(5, ge=0, le=20)
    max_attachment_bytes: int = Field(10_485_760, gt=0)
    allowed_attachment_types: tuple[str, ...] = ()


class WorkerSettings(_Strict):
    """The background jobs: outbox delivery and the deadline sweeper."""

    outbox_enabled: bool = True
    outbox_interval_s: float = Field(5.0, gt=0)
    sweeper_enabled: bool = True
    sweeper_interval_s: float = Field(60.0, gt=0)
    # Phone contacts of web and phone items get their notices by this SMS channel.
    sms_channel: Literal["sms_modem", "sms_twilio"] = "sms_modem"


class IntakeSettings(_Strict):
    """How intake writes: group commit lets concurrent items share one transaction and fsync."""

    group_commit: bool = True
    batch_max_items: int = Field(64, ge=1, le=1000)
    # Bounded wait for more items before a batch commits: latency traded for fewer fsyncs.
    batch_wait_ms: float = Field(2.0, ge=0, le=5)


class Settings(_Strict):
    """Everything the service reads at start."""

    database_url: str
    data_dir: Path
    timezone: str = "Asia/Shanghai"
    case_prefix: str = Field("FZ12345", pattern=r"^[A-Z0-9]{2,12}$")
    organisation_file: str = ""
    calendar_file: str = ""
    web: WebSettings = WebSettings()
    worker: WorkerSettings = WorkerSettings()
    intake: IntakeSettings = IntakeSettings()
    fax: FaxSettings = FaxSettings()
    gammu: GammuSettings = GammuSettings()
    twilio: TwilioSettings = TwilioSettings()
    email: EmailSettings = EmailSettings()

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return known_zone(value)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def organisation_path(self) -> Path:
        return Path(self.organisation_file) if self.organisation_file else DEMO_ORGANISATION_FILE

    @property
    def calendar_path(self) -> Path | None:
        return Path(self.calendar_file) if self.calendar_file else None

    @property
    def attachments_dir(self) -> Path:
        return self.data_dir / "attachments"


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    """``HOTLINE_WEB__PORT=9000`` → ``{"web": {"port": "9000"}}`` (pydantic coerces)."""
    out: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name == ENV_PREFIX + "CONFIG":
            continue
        path = name[len(ENV_PREFIX):].lower().split("__")
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
        if value.startswith("[") and path[-1].endswith("types"):
            node[path[-1]] = [v.strip().strip("'\"") for v in value.strip("[]").split(",") if v.strip()]
        else:
            node[path[-1]] = value
    return out


def load_settings(environ: Mapping[str, str] | None = None, *,
                  overrides: Mapping[str, Any] | None = None) -> Settings:
    """Load and validate settings; raise ``ConfigError`` naming the bad key."""
    env = os.environ if environ is None else environ
    data = _read_toml(DEFAULTS_FILE)
    site = env.get(ENV_PREFIX + "CONFIG")
    if site:
        data = _merge(data, _read_toml(Path(site)))
    data = _merge(data, _from_env(env))
    if overrides:
        data = _merge(data, overrides)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from exc
