"""Settings: ``config/defaults.toml``, then a site file, then ``HOTLINE_*`` variables.

Validated once at start; a bad value stops the service with an error that names
the key, so a site administrator never has to guess which line is wrong.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from datetime import time
from pathlib import Path
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from config.validators import known_zone

CONFIG_DIR = Path(__file__).resolve().parent
DEFAULTS_FILE = CONFIG_DIR / "defaults.toml"
DEMO_ORGANISATION_FILE = CONFIG_DIR / "organisation.toml"
DEFAULT_REGULATION_FILE = CONFIG_DIR / "regulation.toml"
ENV_PREFIX = "HOTLINE_"


M = TypeVar("M", bound=BaseModel)


class ConfigError(Exception):
    """A setting is missing, unknown or invalid; the message names the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WebSettings(_Strict):
    """The HTTP server every page and webhook is served on, and the site's secret."""

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    secret_key: str = ""
    # Behind HTTPS in production: mark cookies Secure so browsers never send them in clear.
    secure_cookies: bool = False
    # A connection idle this long between requests (or before its first) is closed;
    # aiohttp's own default is an hour.
    keepalive_timeout_s: float = Field(60.0, gt=0, le=3600)
    header_timeout_s: float = Field(30.0, gt=0, le=600)
    """A request head (request line and headers) not complete this long after its first
    byte gets 408 and the connection is closed (slowloris; ``intake.serving``)."""
    body_window_s: float = Field(60.0, gt=0, le=3600)
    body_min_bytes_per_s: int = Field(256, ge=1)
    """While a request body arrives, each ``body_window_s`` must bring at least this many
    bytes a second on average, or the connection is closed: a slow but steady upload
    completes, a trickle does not hold the connection forever."""
    # One line per request from aiohttp (~15–25 µs of CPU each, a tenth of a form GET). Behind
    # nginx, which logs every request already, turn it off (docs/production.md).
    access_log: bool = True


class WorkerSettings(_Strict):
    """The background jobs: outbox delivery and the deadline sweeper."""

    outbox_enabled: bool = True
    outbox_interval_s: float = Field(5.0, gt=0)
    outbox_max_attempts: int = Field(8, ge=1, le=100)
    outbox_retry_base_s: float = Field(30.0, gt=0)
    """Wait after a notice's first failed attempt; doubles with each further one (≤ 1 h)."""
    outbox_lease_s: float = Field(300.0, gt=0)
    """A notice claimed by a worker that died is taken again after this long: longer
    than any channel's own send timeout, or a slow send goes out twice."""
    sweeper_enabled: bool = True
    sweeper_interval_s: float = Field(60.0, gt=0)
    # Phone contacts of web and phone items get their notices by this SMS channel.
    sms_channel: Literal["sms_modem", "sms_twilio"] = "sms_modem"
    # Landlines (which take no SMS) get their notices as a phone call on this channel: the SIP
    # line's workers (``phone``) or Twilio (``twilio_voice``); empty: SMS as for mobiles.
    voice_channel: Literal["", "phone", "twilio_voice"] = ""
    # A call nobody answers (busy, no answer, hung up early) is tried at most this often,
    # then the next contact the citizen left is tried (the outbox's fallback).
    call_attempts: int = Field(3, ge=1, le=10)
    # Calls go out only on working days of the deadlines' calendar, between these hours
    # (the city's local time); one due outside them waits for the next opening.
    call_hours: tuple[str, str] = ("09:00", "20:00")
    # A call the provider took but whose end it never reported (a lost Twilio status callback)
    # counts as unanswered after this long: tried again, or the next contact.
    call_status_timeout_s: float = Field(1800.0, ge=60, le=86400)

    @field_validator("call_hours")
    @classmethod
    def _call_hours(cls, value: tuple[str, str]) -> tuple[str, str]:
        try:
            opens, closes = (time.fromisoformat(v) for v in value)
        except ValueError as exc:
            raise ValueError("call_hours are two times HH:MM") from exc
        if opens >= closes:
            raise ValueError("call_hours must open before they close")
        return value


class IntakeSettings(_Strict):
    """How intake writes: group commit lets concurrent items share one transaction and fsync."""

    group_commit: bool = True
    batch_max_items: int = Field(64, ge=1, le=1000)
    # Bounded wait for more items before a batch commits: latency traded for fewer fsyncs.
    batch_wait_ms: float = Field(2.0, ge=0, le=5)
    # Batches in flight at once on PostgreSQL (the next one writes while the last one
    # waits for its fsync); SQLite serialises writers and always uses 1.
    batch_pipeline: int = Field(1, ge=1, le=8)


class SupervisionSettings(_Strict):
    """The efficiency office's procedure where the regulation is silent (local policy)."""

    # A unit contests a notice or warning within this many working days of it (issue 15.3).
    contest_days: int = Field(5, ge=1, le=30)
    # 回访 (R12): days a citizen may answer an SMS rating request after it was sent; a bare
    # "1"/"2"/"3" from that number is a rating only within them (issue 14.4).
    callback_window_days: int = Field(7, ge=1, le=60)


class TranscriptionSettings(_Strict):
    """Speech to text for recordings (``intake.transcribe``); off while ``model_dir`` is empty.

    Production: ``vosk-model-cn-0.22`` (1.3 GB, ~4 GB of memory per worker) or, on a
    small machine, ``vosk-model-small-cn-0.22`` (42 MB, ~300 MB). Without a model the
    recordings simply wait for an agent to listen.
    """

    model_dir: str = ""
    # One process per worker, each holding its own copy of the model.
    workers: int = Field(1, ge=1, le=32)
    # Recordings waiting beyond the busy workers; the rest stay in the database for later.
    max_queue: int = Field(8, ge=0, le=1000)
    # A job's limit: this much, plus twice the recording's length.
    timeout_s: float = Field(120.0, gt=0)
    model_load_timeout_s: float = Field(300.0, gt=0)
    # How often the worker looks for recordings awaiting transcription.
    interval_s: float = Field(30.0, gt=0)
    # A recording that failed this often (timeouts, crashes) is left to the agent.
    max_attempts: int = Field(3, ge=1, le=20)


class Settings(_Strict):
    """Everything the service reads at start."""

    database_url: str
    data_dir: Path
    timezone: str = "Asia/Shanghai"
    case_prefix: str = Field("FZ12345", pattern=r"^[A-Z0-9]{2,12}$")
    organisation_file: str = ""
    calendar_file: str = ""
    regulation_file: str = ""
    """The regulation's clock counts by revision (R13.1); empty: config/regulation.toml."""
    web: WebSettings = WebSettings()
    worker: WorkerSettings = WorkerSettings()
    intake: IntakeSettings = IntakeSettings()
    supervision: SupervisionSettings = SupervisionSettings()
    transcription: TranscriptionSettings = TranscriptionSettings()
    channel_sections: dict[str, Any] = Field(default_factory=dict)
    """Each channel's own section, validated by its own model (see ``load_settings``)."""

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
    def regulation_path(self) -> Path:
        return Path(self.regulation_file) if self.regulation_file else DEFAULT_REGULATION_FILE

    @property
    def attachments_dir(self) -> Path:
        return self.data_dir / "attachments"

    def channel(self, name: str, model: type[M]) -> M:
        """The section ``[name]`` as ``model``; its defaults when the file has none."""
        section = self.channel_sections.get(name)
        if section is None:
            return model()
        if not isinstance(section, model):
            raise ConfigError(f"[{name}] was loaded as {type(section).__name__}, not {model.__name__}")
        return section


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
                  overrides: Mapping[str, Any] | None = None,
                  sections: Mapping[str, type[BaseModel]] | None = None) -> Settings:
    """Load and validate settings; raise ``ConfigError`` naming the bad key.

    ``sections`` are the channels' own settings models by section name (the
    composition root passes the channel registry's); each section is validated
    by its model, and a section no channel claims is an unknown key.
    """
    env = os.environ if environ is None else environ
    data = _read_toml(DEFAULTS_FILE)
    site = env.get(ENV_PREFIX + "CONFIG")
    if site:
        data = _merge(data, _read_toml(Path(site)))
    data = _merge(data, _from_env(env))
    if overrides:
        data = _merge(data, overrides)
    problems: list[str] = []
    channel_sections: dict[str, BaseModel] = {}
    for name, model in (sections or {}).items():
        raw = data.pop(name, {})
        try:
            if not isinstance(raw, Mapping):
                raise ConfigError(f"{name}: must be a section")
            channel_sections[name] = model.model_validate(raw)
        except ValidationError as exc:
            problems.extend(_problems(exc, prefix=(name,)))
        except ConfigError as exc:
            problems.append(str(exc))
    try:
        settings = Settings.model_validate({**data, "channel_sections": {}})
    except ValidationError as exc:
        problems[:0] = _problems(exc)
    if problems:
        raise ConfigError(f"invalid settings: {'; '.join(problems)}")
    return settings.model_copy(update={"channel_sections": channel_sections})


def _problems(exc: ValidationError, prefix: tuple[str, ...] = ()) -> list[str]:
    return [f"{'.'.join((*prefix, *(str(p) for p in err['loc'])))}: {err['msg']}"
            for err in exc.errors()]
