"""What the agent console needs from the composition root, under its own ``web.AppKey``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contract.channel import CallControl
from contract.clock import Clock
from contract.envelope import Sink
from forwarder.screening import EmergencyRule
from forwarder.workflow_base import Context
from registrar.agents import AgentPresence
from registrar.attachments import AttachmentStore


@dataclass(frozen=True, slots=True)
class ConsoleDeps:
    """The database, the intake sink an agent's call goes into, and the R3.8 rules."""

    sessionmaker: async_sessionmaker[AsyncSession]
    sink: Sink
    clock: Clock
    attachments: AttachmentStore
    tz: ZoneInfo
    districts: tuple[str, ...]
    emergency_rules: tuple[EmergencyRule, ...] = ()
    district_keys: dict[str, str] = field(default_factory=dict)
    """District → the word an agent may type for it (yongtai for 永泰县)."""
    workflow: Callable[[], Context] | None = None
    """The workflow's context, for closing a consultation on the call and recording a chase."""
    presence: AgentPresence | None = None
    """Agents' SIP addresses and status for the phone line (``desks.console.presence``)."""
    calls: CallControl | None = None
    """Reaches the process holding a live call (the emergency key); None: no phone line here."""


CONSOLE = web.AppKey("console", ConsoleDeps)
