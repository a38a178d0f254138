"""The service's side of the phone line: what the workers ask, answered with the ports.

Workers know no database; this does the work that needs the service: it
writes each recording's metadata (stamped with ``ports.clock``), registers
finished recordings through ``ports.sink`` (the spool keeps them until a case
holds them), tells a case's status through ``ports.commands`` (to the number
that filed it only), chooses free agents in opening hours and pops the call
on the console of the agent whose phone rings (``ports.announce``). Agents who
gave their SIP address on the console (``ports.agents``) come first, one at a
time, each held "on a call" under a lease the service renews while the call
goes on and drops when the worker holding it dies; the fixed ``agents`` list
(PBX extensions) only when none of them is free. Tested with a recording sink, no SIP.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import subprocess
from collections.abc import Callable
from datetime import datetime, time, timedelta
from enum import StrEnum
from functools import partial
from pathlib import Path

from channels.sip import audio, prompts
from channels.sip.link import Message
from channels.sip.settings import SipSettings
from channels.sip.spool import Meta, Spool, fsync_file, voicemail
from contract.agents import OfferedAgent
from contract.channel import CallAnswer, CallRequest, ChannelPorts
from contract.envelope import Channel, TryLater

log = logging.getLogger(__name__)


TRIED_KEPT = 1000
"""Calls whose tried agents are remembered (a call asks again within seconds of its start)."""


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
        """Fixed-list agents (``settings.agents``) bridged now."""
        self.holds: dict[str, tuple[int, OfferedAgent]] = {}
        """Calls holding an agent from the console's presence: call key → (worker, agent)."""
        self.tried: dict[str, set[str]] = {}
        """Per call, the agents already offered it (a second one rings if the first does not answer)."""
        self._lock = asyncio.Lock()
        self.live: dict[str, int] = {}
        """Calls handed to agents, by the id the console got in the screen pop → worker index."""
        self.popped: dict[str, str] = {}
        """Calls rung to a console agent → that agent's username: the only one whose emergency
        key may move the call (the last one rung; kept after the hold ends, until the call does)."""
        self.to_worker: Callable[[int, Message], bool] | None = None
        """Sends a message to worker ``index`` (set by the pool); False when it is not running."""
        self._rescues: dict[int, asyncio.Future[Message]] = {}
        self._refs = itertools.count(1)

    async def handle(self, worker: int, message: Message) -> Message | None:
        """One message from worker ``worker``; returns the answer to send back, if any."""
        op = message.get("op")
        if op == "record_start":
            self._record_start(worker, message)
            return None
        if op == "call_ended":
            self.live.pop(str(message.get("call", "")), None)
            self.popped.pop(str(message.get("call", "")), None)
            return None
        if op == "emergency_result":
            waiting = self._rescues.get(int(message.get("ref", 0) or 0))
            if waiting is not None and not waiting.done():
                waiting.set_result(message)
            return None
        if op == "agent_busy":
            await self._agent_busy(message)
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
        elif op in ("agents", "agent_next"):
            if str(message.get("call", "")).isalnum():  # the emergency key finds it here
                self.live[str(message["call"])] = worker
            answer = await self._agents(worker, str(message.get("call", "")),
                                        str(message.get("caller", "")), first=op == "agents")
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
            self.live = {k: w for k, w in self.live.items() if w != worker}  # no emergency key
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

    async def _agents(self, worker: int, call: str, caller: str, *, first: bool) -> Message:
        """The agents to ring for ``call``: one from the consoles' presence (held for it, its
        console popped; ``more``: ask again if it does not answer), else the fixed list."""
        if first and not agents_open(self.settings, self.ports.clock.now().astimezone(self.ports.tz)):
            return {"agents": []}
        roster = self.ports.agents
        if roster is not None and call.isalnum():
            tried = self.tried.setdefault(call, set())
            while len(self.tried) > TRIED_KEPT:  # calls that ended long ago
                del self.tried[next(iter(self.tried))]
            offered = await roster.claim(
                call, skip=tried, console_grace=timedelta(seconds=self.settings.agent_console_grace_s),
                lease=timedelta(seconds=self.settings.agent_lease_s))
            if offered is not None:
                tried.add(offered.username)
                self.holds[call] = (worker, offered)
                self.popped[call] = offered.username
                reached = await self.ports.announce(caller, agent=offered.username, call=call)
                log.info("sip: call %s from %s rings agent %s (%d console(s) popped)", call, caller,
                         offered.username, reached)
                return {"agents": [offered.sip_uri], "more": True}
            self.tried.pop(call, None)
            self.popped.pop(call, None)  # the fixed list's pop goes to every console
        free = [uri for uri in self.settings.agents if uri not in self.busy_agents]
        if free:
            reached = await self.ports.announce(caller, call=call if call.isalnum() else "")
            log.info("sip: call from %s popped on %d console(s)", caller, reached)
        return {"agents": free}

    async def _agent_busy(self, message: Message) -> None:
        """A worker bridged an agent (busy) or is done with one (never answered, or hung up)."""
        agent, call, busy = str(message.get("agent", "")), str(message.get("call", "")), \
            bool(message.get("busy"))
        held = self.holds.get(call)
        if held is not None and held[1].sip_uri == agent:
            if not busy:
                del self.holds[call]
                await self._release(held[1], call)
            return
        (self.busy_agents.add if busy else self.busy_agents.discard)(agent)

    async def _release(self, agent: OfferedAgent, call: str) -> None:
        if self.ports.agents is None:
            return
        try:
            await self.ports.agents.release(agent.username, call)
        except Exception:  # the lease runs out instead: the agent is free again then
            log.exception("sip: could not release agent %s from call %s", agent.username, call)

    async def worker_gone(self, worker: int) -> None:
        """A worker died: the agents its calls held are free again at once."""
        for call, (index, agent) in list(self.holds.items()):
            if index == worker:
                del self.holds[call]
                self.tried.pop(call, None)
                await self._release(agent, call)

    async def renew_holds(self) -> None:
        """Extend the leases of the agents this service's calls hold (run every third of one)."""
        if self.ports.agents is None or not self.holds:
            return
        live = {call: agent.username for call, (_, agent) in self.holds.items()}
        await self.ports.agents.renew(live, timedelta(seconds=self.settings.agent_lease_s))

    async def control(self, request: CallRequest) -> CallAnswer | None:
        """A console's request on a live call (``ports.calls``); None unless a worker here holds it.

        ``{"op": "emergency", "call": id, "service": "120"}``: the worker dials the
        service's line and, once it answers, bridges the caller there and drops the
        agent's leg (R3.8). Returns how it ended: ``ok``, the SIP ``code``, a ``reason``
        (``refused``, ``no_answer``, ``not_configured``, ``not_with_agent``, ``call_ended`` …),
        and the caller's number and name from the worker, for the case it is logged on.

        ``agent`` is who pressed the key. A call rung to a console agent moves only by
        that agent's key (``not_your_call`` for anyone else, before anything is dialled):
        the key ends the agent's leg, so another console must not cut a conversation it
        is not in. A call rung to the fixed list popped on every console and the line
        cannot see which extension picked up, so there any agent may press it.
        """
        if request.get("op") != "emergency":
            return None
        call, service = str(request.get("call", "")), str(request.get("service", ""))
        worker = self.live.get(call)
        if worker is None:
            return None
        answer: CallAnswer = {"ok": False, "service": service, "code": 0, "uri": ""}
        owner = self.popped.get(call)
        if owner is not None and owner != request.get("agent"):
            return {**answer, "reason": "not_your_call"}
        uri = self.settings.emergency_uri(service)
        if uri is None:
            return {**answer, "reason": "not_configured"}
        ref = next(self._refs)
        waiting: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._rescues[ref] = waiting
        try:
            if self.to_worker is None or not self.to_worker(
                    worker, {"op": "emergency", "ref": ref, "call": call, "uri": uri}):
                return {**answer, "uri": uri, "reason": "line_down"}
            async with asyncio.timeout(self.settings.emergency_ring_s + 5):
                result = await waiting
        except TimeoutError:
            return {**answer, "uri": uri, "reason": "no_report"}
        finally:
            del self._rescues[ref]
        return {**answer, "uri": uri, "ok": result.get("ok") is True,
                "code": int(result.get("code") or 0), "reason": str(result.get("reason") or ""),
                "caller": result.get("caller"), "display_name": result.get("display_name")}
