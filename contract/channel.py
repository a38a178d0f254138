"""What a channel is to the service: a ``ChannelSpec`` started with ``ChannelPorts``.

Every channel folder under ``channels/`` exports one ``SPEC``; the registry
tuple in ``channels/__init__.py`` lists them, and the composition root
(``intake/wiring.py``) loops over it. A channel therefore never learns how the
service is put together: it gets its own settings section (validated by its
own model), the ports below, and the process roles running here, and it
yields what it offers the outbox (its deliverers) and what it bound.

Process roles: ``web`` (HTTP routes) and ``worker`` (outbox, sweeper, channel
jobs) always exist; a channel with a listener of its own names a role for it
(``smtp``, ``gammu``, ``sip``), which becomes a ``hotline serve --only`` choice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import BaseModel

from contract.agents import AgentLine
from contract.clock import Clock
from contract.envelope import Sink
from contract.notice import Deliverer
from contract.public_cases import ApiKeys, PublicCases
from contract.signing import CitizenCsrf, Signer
from contract.sms_keywords import SmsCommands

WEB = "web"
"""The role that serves HTTP: channels add their webhook routes there."""
WORKER = "worker"
"""The role that sends notices and runs background jobs (outbox, sweeper, reconciliation)."""

class Announce(Protocol):
    """Screen pop: ``announce(caller_e164)`` shows an incoming call on the agents' consoles
    (``agent=``: only on that agent's, the one whose phone rings); returns how many consoles
    it reached (0: nobody is signed in). ``call``: the line's id for the live call, which
    the console sends back to act on it (the emergency key)."""

    def __call__(self, caller: str, *, agent: str | None = None, call: str = "") -> Awaitable[int]: ...


CallRequest = Mapping[str, Any]
CallAnswer = dict[str, Any]
CallHandler = Callable[[CallRequest], Awaitable[CallAnswer | None]]
"""Answers a request about a live call, or None when this process does not hold that call."""


class CallControl(Protocol):
    """Requests from the consoles to the process that holds a live call (the SIP workers' service).

    The web process does not know which process runs the phone line: it ``ask``s, and
    the one whose ``serve``d handler holds the call answers (in-process on SQLite,
    LISTEN/NOTIFY between the processes sharing PostgreSQL).
    """

    def serve(self, handler: CallHandler) -> Callable[[], None]:
        """Take requests with ``handler`` until the returned function is called."""
        ...

    async def ask(self, request: CallRequest, *, timeout_s: float) -> CallAnswer | None:
        """The first answer of a handler that holds the call; None when nobody does (or in time)."""
        ...


StatusRecorder = Callable[[str, str, str | None], Awaitable[None]]
"""``(notice_ref_or_provider_id, status, error_code)``: a provider's report on a send."""


S = TypeVar("S", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class ChannelPorts:
    """Everything a channel may use of the service, injected at start."""

    sink: Sink
    """Register an envelope; returns only after commit (or raises ``TryLater``)."""
    clock: Clock
    """The service's clock: channels stamp ``received_at`` with it, never with their own."""
    announce: Announce
    data_dir: Path
    """Where a channel keeps state of its own (``data_dir / <channel name>``)."""
    tz: ZoneInfo
    commands: SmsCommands
    """Answers to keyword texts (``CX``, ``TD``), for channels that take them."""
    record_status: StatusRecorder
    signer: Signer
    """The site's secret, for tokens a channel signs (receipt links)."""
    csrf: CitizenCsrf
    """The citizen pages' one CSRF check."""
    districts: tuple[str, ...] = ()
    """The city's districts, for forms and voice menus that ask for one."""
    public_cases: PublicCases | None = None
    """Public cases only, for channels that answer status queries (Open311); None in narrow tests."""
    api_keys: ApiKeys | None = None
    """API clients' keys and rate limits, for channels that take calls from apps (Open311)."""
    agents: AgentLine | None = None
    """Agents' presence (SIP addresses, available / on a call / away), for the phone line."""
    calls: CallControl | None = None
    """Where a channel holding live calls serves the consoles' requests on them (the phone
    line's emergency transfer); None where no console can reach it (narrow tests)."""
    calls_out: bool = False
    """The site answers by call (``worker.voice_channel`` set): forms offer 答复方式：电话."""


@dataclass(frozen=True, slots=True)
class Started:
    """What a started channel offers: deliverers for the outbox, and what it bound."""

    deliverers: tuple[Deliverer, ...] = ()
    listening: tuple[str, ...] = ()
    """One line per listener for the operator (``fax-to-email SMTP on 127.0.0.1:2525``)."""
    ports: Mapping[str, int] = field(default_factory=dict)
    """Bound port numbers by purpose (``{"smtp": 2525}``), useful when configured as 0."""


Start = Callable[[Any, ChannelPorts, frozenset[str]], AbstractAsyncContextManager[Started]]
Routes = Callable[[web.Application, Any, ChannelPorts, frozenset[str]], None]


@dataclass(frozen=True, slots=True)
class ChannelSpec(Generic[S]):
    """One channel: its name (= its settings section), role, settings model and how to start it."""

    name: str
    title: str
    settings_model: type[S]
    start: Start
    """Runs the channel's long-lived parts for the roles present; yields ``Started``."""
    role: str | None = None
    """The process role of its own listener, if it has one (a ``serve --only`` choice)."""
    routes: Routes | None = None
    """Adds HTTP routes (webhooks, pages) where the ``web`` role runs, before the app starts."""
    templates: Path | None = None
    """A folder of Jinja2 templates its pages render."""

    def enabled(self, settings: BaseModel) -> bool:
        """A channel runs only when its section says ``enabled = true`` (or has no switch)."""
        return bool(getattr(settings, "enabled", True))
