"""Test peers for the modem channel: Gammu's dummy phone, a deduplicating sink, a clock.

The dummy driver is the real libGammu reading a directory, so reads and
deletes are real; it stores nothing it sends, so ``ScriptedPort`` records
every send and can fail any operation on cue (the modem vanishing mid-read,
a busy network, a number the SMSC refuses).
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from channels.sms_gammu.adapter import GammuSmsChannel, gammu_sms_channel
from channels.sms_gammu.modem import GammuPort, ModemPort
from channels.sms_gammu.settings import GammuSettings
from contract.envelope import Envelope, Receipt, TryLater
from contract.sms_keywords import QUERY_HELP_TEXT, RatingTaken

FIXTURES = Path(__file__).parent / "fixtures"


class Clock:
    """Wall clock and monotonic clock that only move when a test (or a fake sleep) says."""

    def __init__(self) -> None:
        self.wall = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
        self.mono = 1000.0
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)
        self.mono += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)


class FakeSink:
    """Stands in for intake: unique ``(channel, external_id)``, can be 'down'."""

    def __init__(self) -> None:
        self.cases: dict[tuple[str, str], tuple[str, Envelope]] = {}
        self.calls = 0
        self.down = False
        self.broken_on: str | None = None
        self.committed: list[Envelope] = []

    async def __call__(self, envelope: Envelope) -> Receipt:
        self.calls += 1
        if self.down:
            raise TryLater("database unavailable")
        if self.broken_on is not None and self.broken_on in envelope.text:
            raise RuntimeError("bug in the registrar")
        key = (envelope.channel.value, envelope.external_id)
        if key in self.cases:
            return Receipt(case_number=self.cases[key][0], created=False)
        number = f"FZ12345-20261124-{len(self.cases) + 1:06d}"
        self.cases[key] = (number, envelope)
        self.committed.append(envelope)
        return Receipt(case_number=number, created=True)

    @property
    def envelopes(self) -> list[Envelope]:
        return list(self.committed)


class FakeCommands:
    """The lead's SmsCommands, recorded: answers about a case go to the outbox (``queued``),
    as ``intake.sms_commands`` does (every answer: the modem sends none itself)."""

    def __init__(self) -> None:
        self.queries: list[tuple[str, str]] = []
        self.unsubscribed: list[str] = []
        self.queued: list[tuple[str, str, str]] = []
        """(channel, address, text) of each answer left to the outbox."""
        self.down = False

    def _answer(self, channel: str, sender: str, text: str, in_reply: bool) -> str | None:
        if in_reply:
            return text
        self.queued.append((channel, sender, text))
        return None

    async def case_status(self, case_number: str, sender_e164: str, *, channel: str,
                          in_reply: bool) -> str | None:
        if self.down:
            raise TryLater("database unavailable")
        self.queries.append((case_number, sender_e164))
        return self._answer(channel, sender_e164, f"【12345】{case_number} 正在办理。", in_reply)

    async def query_help(self, sender_e164: str, *, channel: str,
                         in_reply: bool) -> str | None:
        if self.down:
            raise TryLater("database unavailable")
        return self._answer(channel, sender_e164, QUERY_HELP_TEXT, in_reply)

    async def unsubscribe(self, sender_e164: str, *, channel: str,
                          in_reply: bool) -> str | None:
        self.unsubscribed.append(sender_e164)
        return self._answer(channel, sender_e164, "【12345】已退订通知短信。", in_reply)

    async def rate(self, choice: int, sender_e164: str, *, channel: str,
                   in_reply: bool) -> RatingTaken:
        """No rating request is ever open here: a bare "1" stays an item."""
        return RatingTaken(taken=False)


@dataclass
class Script:
    """Faults to raise, per operation, in order; and every send seen."""

    faults: dict[str, list[BaseException | None]] = field(default_factory=dict)
    """Per operation, what its next calls do: raise the exception, or (None) succeed."""
    sent: list[dict[str, Any]] = field(default_factory=list)
    opened: int = 0

    def fault(self, op: str) -> None:
        queue = self.faults.get(op)
        if queue:
            exc = queue.pop(0)
            if exc is not None:
                raise exc


class ScriptedPort:
    """A real dummy-phone port with sends captured and faults injected."""

    def __init__(self, inner: ModemPort, script: Script) -> None:
        self._inner = inner
        self._script = script

    def read_inbox(self) -> list[dict[str, Any]]:
        self._script.fault("read")
        return self._inner.read_inbox()

    def delete(self, location: int) -> None:
        self._script.fault("delete")
        self._inner.delete(location)

    def send(self, message: dict[str, Any]) -> int:
        self._script.fault("send")
        reference = self._inner.send(message)  # the dummy accepts and forgets it
        self._script.sent.append(message)
        return reference

    def close(self) -> None:
        self._inner.close()


@pytest.fixture
def phone(tmp_path: Path) -> Path:
    device = tmp_path / "phone"
    (device / "sms" / "1").mkdir(parents=True)
    return device


@pytest.fixture
def settings(phone: Path, tmp_path: Path) -> GammuSettings:
    return GammuSettings(enabled=True, device=str(phone), state_dir=str(tmp_path / "parts"),
                         reconnect_delay_s=0, parts_timeout_s=3600)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sink() -> FakeSink:
    return FakeSink()


@pytest.fixture
def commands() -> FakeCommands:
    return FakeCommands()


@pytest.fixture
def script() -> Script:
    return Script()


def port_factory(settings: GammuSettings, script: Script) -> Callable[[], ModemPort]:
    def factory() -> ModemPort:
        script.opened += 1
        script.fault("open")
        return ScriptedPort(GammuPort(settings), script)
    return factory


@pytest.fixture
async def channel(settings: GammuSettings, sink: FakeSink, commands: FakeCommands,
                  clock: Clock, script: Script) -> AsyncIterator[GammuSmsChannel]:
    async with gammu_sms_channel(settings, sink, commands,
                                 port_factory=port_factory(settings, script),
                                 now=clock.now, monotonic=clock.monotonic, sleep=clock.sleep,
                                 poll=False) as ch:
        yield ch


def load_fixture(name: str, phone: Path, *, only: list[str] | None = None) -> list[Path]:
    """Copy a recorded situation's files into the dummy phone's inbox, in order."""
    source = FIXTURES / name
    inbox = phone / "sms" / "1"
    taken = [p for p in sorted(source.iterdir(), key=lambda p: int(p.name))
             if only is None or p.name in only]
    start = max((int(p.name) for p in inbox.iterdir() if p.name.isdigit()), default=0)
    copied = []
    for offset, path in enumerate(taken, start=1):
        target = inbox / str(start + offset)
        shutil.copyfile(path, target)
        copied.append(target)
    return copied


def inbox_files(phone: Path) -> list[str]:
    """What is still on the dummy phone."""
    return sorted(p.name for p in (phone / "sms" / "1").iterdir())


def stored_groups(channel: GammuSmsChannel) -> list[str]:
    """Group folders in the channel's partial store."""
    root = Path(channel.settings.state_dir)
    return sorted(p.name for p in root.iterdir()) if root.is_dir() else []
