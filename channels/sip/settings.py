"""Settings of the phone line (section ``[sip]``): where it answers, how many workers, the menu.

One pjsua2 process holds at most four calls (``PJSUA_MAX_CALLS``), so capacity
is a pool of worker processes, worker ``i`` on SIP port ``port + i`` and RTP
ports from ``rtp_port_start + i * rtp_ports_per_worker``. With one worker the
line is served directly; with several, Kamailio's dispatcher sits in front
(``hotline sip kamailio-config``) on ``kamailio_port``.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import time
from typing import Literal

from pydantic import Field, field_validator, model_validator

from config.validators import StrictSettings, split_csv
from contract.agents import SIP_URI
from contract.emergency import EMERGENCY_SERVICES


class SipSettings(StrictSettings):
    """The phone line: SIP workers, the voice menu, agents, an optional trunk and Kamailio."""

    enabled: bool = False
    host: str = "127.0.0.1"
    """Address the workers bind (SIP and RTP)."""
    port: int = Field(5060, ge=0, le=65535)
    """SIP port of worker 0 (UDP); worker ``i`` uses ``port + i``. 0: any free port (tests)."""
    workers: int = Field(1, ge=1, le=64)
    rtp_port_start: int = Field(40000, ge=0, le=65000)
    """First RTP port of worker 0; 0: any free ports (tests)."""
    rtp_ports_per_worker: int = Field(100, ge=8, le=10000)
    number: str = "12345"
    """The user part we answer as (``sip:12345@host``)."""
    case_prefix: str = "FZ12345"
    """Must equal the top-level ``case_prefix``: callers key only the digits of a case number."""

    # The menu.
    max_record_s: float = Field(120.0, gt=0, le=600)
    silence_s: float = Field(8.0, gt=0, le=120)
    """A message ends after this long without voice."""
    silence_level: int = Field(3, ge=0, le=255)
    """pjmedia signal level (0–255) at or below which the caller counts as silent."""
    choice_timeout_s: float = Field(6.0, gt=0, le=60)
    """No key this long after the menu: the caller goes to an agent."""
    digit_timeout_s: float = Field(6.0, gt=0, le=60)
    readback_times: int = Field(2, ge=1, le=3)
    """How often the case number is read back."""
    min_message_s: float = Field(1.0, ge=0, le=30)
    """Shorter recordings, or ones with no sound, are no message."""

    # Agents and their hours in the city's zone. Agents who gave their SIP address on the
    # console are offered calls first (available, console open, longest idle first); the fixed
    # list ``agents`` (PBX extensions, tried in order) only when none of them is free.
    agents: tuple[str, ...] = ()
    agent_console_grace_s: float = Field(30.0, ge=15, le=3600)
    """An agent whose console has been closed (websocket gone) this long is offered no calls;
    open consoles are marked seen every 10 s."""
    agent_lease_s: float = Field(60.0, ge=5, le=3600)
    """How long "on a call" holds without the line renewing it (every third of it, while the
    call goes on): a line that crashed lets its agents go within this."""
    agent_ring_s: float = Field(20.0, gt=0, le=120)
    agent_hours: tuple[str, str] = ("00:00", "24:00")
    """Opening and closing time (``"08:30"``, ``"17:30"``); outside them callers leave a message."""
    agent_weekdays: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6)
    """ISO weekdays minus one (0 = Monday) on which agents answer."""
    transfer: Literal["bridge", "refer"] = "bridge"
    """``bridge``: the worker calls the agent and bridges both legs (works with any caller,
    but holds two of the worker's four call slots for the whole conversation). ``refer``:
    the worker sends the caller's side a REFER to the agent and leaves the call once the
    agent answers (one slot, only while ringing; the trunk or PBX must accept REFER)."""

    # R3.8: the agent's one key that hands a live call to the emergency services.
    emergency: dict[str, str] = Field(default_factory=dict)
    """Service → where to dial it: ``{"110" = "sip:110@trunk.example:5060", "120" = "120"}``.
    A bare number goes through the trunk (``sip:<number>@<registrar's host>``), so it needs
    ``registrar``. Services: 110 police, 119 fire, 120 ambulance, 122 traffic accidents."""
    emergency_transfer: Literal["bridge", "refer"] = "bridge"
    """``bridge``: the worker calls the service and bridges the caller to it, then drops the
    agent's leg. ``refer``: the worker REFERs the caller's side (trunk, PBX) to the service."""
    emergency_ring_s: float = Field(30.0, gt=0, le=120)
    """How long the service's line may ring before the key reports it unanswered."""

    # Registration to a PBX or carrier trunk (empty registrar: answer directly).
    registrar: str = ""
    """``sip:pbx.example.com`` — REGISTER there as ``username``."""
    username: str = ""
    password: str = ""
    realm: str = "*"
    trunk_address: str = ""
    """The trunk's or PBX's IP: Kamailio never rate-limits it."""

    # Outbound calls: answers read to landlines and 回访 keypad menus ([worker] voice_channel
    # = "phone"). Empty outbound_uri: the line places no calls.
    outbound_uri: str = ""
    """Where a citizen's number is dialled: ``sip:{national}@trunk.example.cn:5060``
    (``{national}``: 059187654321, ``{e164}``: +8659187654321), through the trunk or PBX."""
    outbound_ring_s: float = Field(30.0, ge=5, le=120)
    """Let it ring this long; then the call counts as unanswered and is tried again later."""
    tts_voice: str = "cmn-latn-pinyin"
    """The espeak-ng voice that speaks a notice's text (offline); a site with another engine
    records its prompts itself and replaces ``espeak-ng`` on the PATH."""

    # Kamailio's dispatcher in front of a pool.
    kamailio_port: int = Field(5060, ge=1, le=65535)
    kamailio_invites_per_2s: int = Field(30, ge=1, le=10000)
    """pike: more INVITEs or REGISTERs than this per 2 s from one source IP are dropped."""
    kamailio_setups_per_worker_s: int = Field(15, ge=1, le=1000)
    """pipelimit: INVITEs a second the whole pool takes, per worker (from the trunk too); above
    it Kamailio answers 503 with Retry-After. Below each worker's own set-up gate (gate.py),
    so fast churn is turned away in Kamailio before it costs a worker any sockets."""
    kamailio_calls_per_number: int = Field(2, ge=1, le=100)
    """Concurrent calls one caller number may hold."""

    retry_s: float = Field(30.0, gt=0, le=3600)
    """How often recordings the store could not take are offered again."""
    restart_delay_s: float = Field(1.0, ge=0, le=60)
    log_level: int = Field(1, ge=0, le=6)
    """pjsua log level in the workers' stderr."""

    @field_validator("agents", "agent_weekdays", mode="before")
    @classmethod
    def _from_csv(cls, value: object) -> object:
        return split_csv(value)

    @field_validator("agents")
    @classmethod
    def _sip_uris(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for uri in value:
            if not SIP_URI.fullmatch(uri):
                raise ValueError(f"not a SIP URI: {uri!r} (want sip:user@host[:port])")
        return value

    @field_validator("emergency")
    @classmethod
    def _emergency(cls, value: dict[str, str]) -> dict[str, str]:
        for service, target in value.items():
            if service not in EMERGENCY_SERVICES:
                raise ValueError(f"not an emergency service: {service!r} "
                                 f"(want one of {', '.join(EMERGENCY_SERVICES)})")
            if not (SIP_URI.fullmatch(target) or re.fullmatch(r"\+?[0-9]{2,20}", target)):
                raise ValueError(f"emergency {service}: not a SIP URI or a number: {target!r}")
        return value

    @field_validator("agent_hours")
    @classmethod
    def _hours(cls, value: tuple[str, str]) -> tuple[str, str]:
        for text in value:
            if text != "24:00":
                try:
                    time.fromisoformat(text)
                except ValueError as exc:
                    raise ValueError(f"not a time of day: {text!r} (want HH:MM)") from exc
        return value

    @field_validator("host", "trunk_address")
    @classmethod
    def _ip(cls, value: str) -> str:
        if value:
            try:
                ipaddress.ip_address(value)
            except ValueError as exc:
                raise ValueError(f"not an IP address: {value!r}") from exc
        return value

    @field_validator("outbound_uri")
    @classmethod
    def _outbound(cls, value: str) -> str:
        if value and not (value.startswith(("sip:", "sips:"))
                          and ("{national}" in value or "{e164}" in value)):
            raise ValueError("outbound_uri must be a sip: URI with {national} or {e164}")
        if value:
            try:
                value.format(national="0", e164="+0")
            except (KeyError, IndexError, ValueError) as exc:
                raise ValueError(f"outbound_uri: {exc}") from exc
        return value

    @model_validator(mode="after")
    def _consistent(self) -> SipSettings:
        if self.registrar and not (self.username and self.password):
            raise ValueError("registrar needs username and password")
        if any(not SIP_URI.fullmatch(t) for t in self.emergency.values()) and not self.registrar:
            raise ValueError("an emergency number without a SIP URI is dialled through the trunk: "
                             "it needs registrar (or write sip:110@trunk-host)")
        if self.port and self.port + self.workers - 1 > 65535:
            raise ValueError("port + workers exceeds 65535")
        if self.rtp_port_start and (
                self.rtp_port_start + self.workers * self.rtp_ports_per_worker > 65535):
            raise ValueError("rtp_port_start + workers * rtp_ports_per_worker exceeds 65535")
        return self

    def emergency_uri(self, service: str) -> str | None:
        """Where ``service`` (``"120"``) is dialled, or None when this site has not set it."""
        target = self.emergency.get(service)
        if target is None or SIP_URI.fullmatch(target):
            return target
        return f"sip:{target}@{self.registrar.split(':', 1)[1]}"

    def worker_sip_port(self, index: int) -> int:
        """SIP port of worker ``index`` (0 stays 0: a free port chosen by the worker)."""
        return self.port + index if self.port else 0

    def worker_rtp_port(self, index: int) -> int:
        """First RTP port of worker ``index``."""
        return self.rtp_port_start + index * self.rtp_ports_per_worker if self.rtp_port_start else 0
