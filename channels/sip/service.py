"""The service's side of the phone line: what the workers ask, answered with the ports.

Workers know no database; this does the work that needs the service: it
writes each recording's metadata (stamped with ``ports.clock``), registers
finished recordings through ``ports.sink`` (the spool keeps them until a case
holds them), tells a case's status through ``ports.commands`` (to the number
that filed it only), chooses free agents in opening hours and pops the call
on the consoles (``ports.announce``). Tested with a recording sink, no SIP.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import subprocess
from datetime import datetime, time
from enum import StrEnum
from functools import partial
from pathlib import Path

from channels.sip import audio, prompts
from channels.sip.link import Message
from channels.sip.settings import SipSettings
from channels.sip.spool import Meta, Spool, fsync_file, voicemail
from contract.channel import ChannelPorts
from contract.envelope import Channel, TryLater

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    """What became of a finished recording."""

    REGISTERED = "registered"
    KEPT = "kept"
    """The store could not take it: it waits in the spool for the next retry."""
    DISCARDED = "discarded"
    """Nothing was said (too short or no sound): no case."""


def agents_open(settings: SipSettings, now: datetime) -> bool:
    """Whether agents answer at ``now`` (the city's local time)."""
    if now.weekday() not in settings.agent_weekdays:
        return False
    opens, closes = settings.agent_hours
    current = now.time().replace(tzinfo=None)
    after_open = current >= time.fromisoformat(opens)
    before_close = closes == "24:00" or current < time.fromisoformat(closes)
    return after_open and before_close


def _load(path: Path) -> bytes:
    """The worker's recording, flushed to disk, its header made whole (b"" if unreadable)."""
    fsync_file(path)
    try:
        return audio.repair(path.read_bytes())
    except audio.NotWav:
        return b""


class LineService:
    """Answers the workers' requests; one per channel start, shared by every worker."""

    def __init__(self, settings: SipSettings, ports: ChannelPorts, spool: Spool, tts_dir: Path) -> None:
        self.settings, self.ports, self.spool, self.tts_dir = settings, ports, spool, tts_dir
        self.active: dict[str, int] = {}
        """Recordings in progress: key → worker index (not to be registered behind its back)."""
        self.busy_agents: set[str] = set()
        self._lock = asyncio.Lock()

    async def handle(self, worker: int, message: Message) -> Message | None:
        """One message from worker ``worker``; returns the answer to send back, if any."""
        op = message.get("op")
        if op == "record_start":
            self._record_start(worker, message)
            return None
        if op == "agent_busy":
            agent = str(message.get("agent", ""))
            (self.busy_agents.add if message.get("busy") else self.busy_agents.discard)(agent)
            return None
        answer: Message
        if op == "record_done":
            key = str(message.get("call", ""))
            self.active.pop(key, None)
            # The number is read back only to a caller still on the line.
            outcome, number = await self.register(key, told_in_call=message.get("listening") is True)
            answer = {"result": outcome.value, "case": number}
        elif op == "status":
            answer = await self._status(str(message.get("digits", "")), message.get("caller"))
        elif op == "agents":
            answer = {"agents": await self._agents(str(message.get("caller", "")))}
        else:
            return None
        return {"op": "answer", "id": message.get("id"), **answer}

    def _record_start(self, worker: int, message: Message) -> None:
        key = str(message.get("call", ""))
        if not key.isalnum():
            return
        caller, name = message.get("caller"), message.get("display_name")
        self.active[key] = worker
        self.spool.write_meta(Meta(
            key=key, sip_call_id=str(message.get("sip_call_id", ""))[:1000],
            caller=str(caller) if caller else None, display_name=str(name) if name else None,
            worker=worker, received_at=self.ports.clock.now().isoformat()))

    async def register(self, key: str, *, told_in_call: bool = False) -> tuple[Outcome, str]:
        """Register one spooled recording; the spool lets go of it only once a case holds it.

        ``told_in_call`` only when the caller waits on the line to hear the number:
        everything the sweep or a restart registers gets its receipt by SMS.
        """
        async with self._lock:  # the retry sweep and a worker's request never race on one file
            return await self._register(key, told_in_call)

    async def _register(self, key: str, told_in_call: bool) -> tuple[Outcome, str]:
        wav_path = self.spool.wav(key)
        meta = self.spool.read_meta(key)
        if not wav_path.exists():
            if meta is not None:
                self.spool.remove(key)  # a call that ended before its recorder wrote anything
            return Outcome.DISCARDED, ""
        wav = await asyncio.to_thread(_load, wav_path)
        if not audio.has_message(wav, min_seconds=self.settings.min_message_s):
            self.spool.remove(key)
            return Outcome.DISCARDED, ""
        if meta is None:  # the service died between the worker's start and our metadata
            meta = Meta(key=key, sip_call_id=key, caller=None, display_name=None, worker=-1,
                        received_at=self.ports.clock.now().isoformat())
        received_at = datetime.fromisoformat(meta.received_at).astimezone(self.ports.tz)
        try:
            receipt = await self.ports.sink(voicemail(meta, wav, received_at=received_at,
                                                      told_in_call=told_in_call))
        except TryLater as exc:
            log.warning("sip: recording %s kept in the spool: %s", key, exc)
            return Outcome.KEPT, ""
        self.spool.remove(key)
        return Outcome.REGISTERED, receipt.case_number

    async def recover(self, *, worker: int | None = None) -> int:
        """Register every spooled recording no live call is writing (all of a dead worker's).

        Returns how many were registered now.
        """
        if worker is not None:
            self.active = {k: w for k, w in self.active.items() if w != worker}
        done = 0
        for key in self.spool.waiting():
            if key in self.active:
                continue
            outcome, _ = await self.register(key)
            done += outcome is Outcome.REGISTERED
        return done

    async def _status(self, digits: str, caller: object) -> Message:
        if not (digits.isdigit() and len(digits) == 14) or not isinstance(caller, str) or not caller:
            return {"text": "", "wav": None}
        number = f"{self.settings.case_prefix}-{digits[:8]}-{digits[8:]}"
        try:
            # Spoken in the call itself: recorded as an answer given in reply.
            text = await self.ports.commands.case_status(number, caller, channel=Channel.PHONE,
                                                         in_reply=True) or ""
        except TryLater:
            return {"text": "", "wav": None}
        return {"text": text, "wav": await self.speak(text)}

    async def speak(self, text: str) -> str | None:
        """``text`` (a status, a notice) as a WAV the worker can play (espeak-ng with
        ``tts_voice``), cached by its words; None when no speech engine works here."""
        voice = self.settings.tts_voice
        key = hashlib.sha256(f"{voice}\n{text}".encode()).hexdigest()[:24]
        target = self.tts_dir / f"{key}.wav"
        if target.exists():
            return str(target)
        try:
            await asyncio.to_thread(partial(prompts.synthesize, text, target, voice=voice))
        except (OSError, subprocess.SubprocessError) as exc:
            log.warning("sip: cannot speak %r… (%s)", text[:20], exc)
            return None
        return str(target)

    async def _agents(self, caller: str) -> list[str]:
        if not agents_open(self.settings, self.ports.clock.now().astimezone(self.ports.tz)):
            return []
        free = [uri for uri in self.settings.agents if uri not in self.busy_agents]
        if free:
            reached = await self.ports.announce(caller)
            log.info("sip: call from %s popped on %d console(s)", caller, reached)
        return free
