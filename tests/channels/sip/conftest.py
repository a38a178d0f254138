"""The phone line's test peers: a recording sink and status answers, the line itself on free ports.

The line is started the way the service starts it (``SPEC.start`` with
``ChannelPorts`` and the ``sip`` role): real worker processes, real pjsua2,
SIPp as the caller. Prompts and timers are the shipped ones with short
timeouts, so a call through the whole menu takes seconds, not minutes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from channels.sip.settings import SipSettings
from channels.sip.spec import SPEC
from contract.channel import ChannelPorts, Started
from contract.clock import FixedClock
from contract.envelope import Envelope, Receipt, TryLater
from contract.signing import CitizenCsrf, Signer
from contract.sms_keywords import QUERY_HELP_TEXT, RatingTaken
from intake.call_control import LocalCalls
from tests.channels.sip.pool import Kamailio, kamailio_binary, pool_settings, running_kamailio

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 2, 10, 0, tzinfo=TZ)


@dataclass
class Service:
    """The sink, the SMS-style commands and the screen pop, recording what the line asked."""

    envelopes: list[Envelope] = field(default_factory=list)
    down: bool = False
    queries: list[tuple[str, str]] = field(default_factory=list)
    pops: list[str] = field(default_factory=list)
    popped_to: list[str | None] = field(default_factory=list)
    """Per pop, the agent whose console it was for (None: every console)."""
    calls: list[str] = field(default_factory=list)
    """The live call's id each pop carried (what the console's emergency key sends back)."""
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    control: LocalCalls = field(default_factory=LocalCalls)
    """``ports.calls``: what the consoles' emergency key asks (as on SQLite, in-process)."""

    async def __call__(self, envelope: Envelope) -> Receipt:
        if self.down:
            raise TryLater("store down")
        for number, earlier in enumerate(self.envelopes, 1):
            if earlier.external_id == envelope.external_id:
                return Receipt(f"FZ12345-20261202-{number:06d}", created=False)
        self.envelopes.append(envelope)
        self.changed.set()
        return Receipt(f"FZ12345-20261202-{len(self.envelopes):06d}", created=True)

    async def case_status(self, case_number: str, sender_e164: str, *, channel: str,
                          in_reply: bool) -> str:
        self.queries.append((case_number, sender_e164))
        self.changed.set()
        return f"【12345】您的诉求{case_number}：办理中。"

    async def query_help(self, sender_e164: str, *, channel: str, in_reply: bool) -> str:
        return QUERY_HELP_TEXT

    async def unsubscribe(self, sender_e164: str, *, channel: str,
                          in_reply: bool) -> str:
        return "已退订"

    async def rate(self, choice: int, sender_e164: str, *, channel: str,
                   in_reply: bool) -> RatingTaken:
        """No rating request is ever open here: a bare "1" stays an item."""
        return RatingTaken(taken=False)

    async def announce(self, caller: str, *, agent: str | None = None, call: str = "") -> int:
        self.pops.append(caller)
        self.popped_to.append(agent)
        self.calls.append(call)
        self.changed.set()
        return 1

    async def wait_for(self, condition: Callable[[], bool], timeout_s: float = 60) -> None:
        """Wait until ``condition()`` holds (checked whenever the line reached the service)."""
        async with asyncio.timeout(timeout_s):
            while not condition():
                self.changed.clear()
                try:
                    async with asyncio.timeout(0.5):
                        await self.changed.wait()
                except TimeoutError:
                    pass


def make_ports(service: Service, data_dir: Path) -> ChannelPorts:
    signer = Signer(b"sip-test-secret-0123456789abcdef")

    async def record_status(ref: str, status: str, error_code: str | None) -> None:
        return None

    return ChannelPorts(sink=service, clock=FixedClock(NOW), announce=service.announce,
                        data_dir=data_dir, tz=TZ, commands=service, record_status=record_status,
                        signer=signer, csrf=CitizenCsrf(signer), calls=service.control)


def line_settings(**overrides: Any) -> SipSettings:
    """Free ports, short timers: a whole call takes seconds."""
    values: dict[str, Any] = {
        "enabled": True, "port": 0, "rtp_port_start": 0, "choice_timeout_s": 2.0,
        "digit_timeout_s": 2.0, "silence_s": 3.0, "max_record_s": 20.0, "readback_times": 1,
        "retry_s": 0.5, "restart_delay_s": 0.2, "min_message_s": 1.0, **overrides}
    return SipSettings(**values)


@pytest.fixture
def service() -> Service:
    return Service()


@pytest.fixture
def start_line(service: Service, tmp_path: Path) -> Callable[..., Any]:
    """``async with start_line(**settings) as started:`` runs the line; ``started.ports["sip"]``."""

    @asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[Started]:
        async with SPEC.start(line_settings(**overrides), make_ports(service, tmp_path / "data"),
                              frozenset({"sip"})) as started:
            yield started

    return start


@dataclass(frozen=True)
class Pool:
    """A running pool behind Kamailio: where to call, the settings it runs with, what started."""

    kamailio: Kamailio
    settings: SipSettings
    started: Started

    @property
    def target(self) -> str:
        return self.kamailio.target


@pytest.fixture
def start_pool(service: Service, tmp_path: Path) -> Callable[..., Any]:
    """``async with start_pool(workers=N, **settings) as pool:``: workers and Kamailio in front.

    The workers start through the channel's spec, as the service starts them; the
    configuration is the one ``hotline sip kamailio-config`` writes for them.
    """

    @asynccontextmanager
    async def start(*, workers: int, **overrides: Any) -> AsyncIterator[Pool]:
        kamailio_binary()
        settings = pool_settings(line_settings(**overrides), workers=workers)
        async with SPEC.start(settings, make_ports(service, tmp_path / "data"),
                              frozenset({"sip"})) as started, \
                running_kamailio(settings, tmp_path / "kamailio") as proxy:
            yield Pool(proxy, settings, started)

    return start


@pytest.fixture
def worker_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """The workers' own log lines (what each call played), forwarded by the supervisor."""
    caplog.set_level(logging.INFO, logger="channels.sip")
    return caplog
