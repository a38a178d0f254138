"""A SIP worker process: one pjsua2 Endpoint, at most four calls, talking to the service by a socket.

Run by the service (``supervisor.py``) as ``python -m channels.sip.worker
CONFIG_JSON FD``; never imported by it. A native abort here (pjsua2 aborts the
process on misuse) ends only this worker, and the service restarts it. The
Endpoint lives in this process's main thread with ``threadCnt = 0`` and
``mainThreadOnly``: the loop below polls SIP and media events, the service's
answers (queued by the link's reader thread), the calls' timers and, while a
call records, its voice level. Nothing else calls pjsua2.
"""

from __future__ import annotations

import contextlib
import gc
import heapq
import itertools
import logging
import queue
import signal
import socket
import sys
import time
import weakref
from pathlib import Path
from typing import Any

import pjsua2 as pj

from channels.sip import audio
from channels.sip.call import AgentLeg, PhoneCall
from channels.sip.gate import Refused, SetupGate, release
from channels.sip.link import Message, WorkerConfig, WorkerLink
from channels.sip.menu import AgentsOffered, Discarded, Kept, Registered, StatusText, Timeout
from channels.sip.outcall import OutboundCall
from channels.sip.outcall_script import OutScript, Result

log = logging.getLogger("channels.sip.worker")
MAX_CALLS = 4
"""pjsua's compiled-in limit; a fifth INVITE is answered 486 by pjsua itself."""



class Account(pj.Account):  # type: ignore[misc]
    """Our SIP identity: takes every incoming call (pjsua answers 486 beyond four)."""

    def __init__(self, line: Line) -> None:
        super().__init__()
        self.line = line

    def onIncomingCall(self, prm: Any) -> None:
        self.line.incoming(prm.callId, prm.rdata)


class Line:
    """The Endpoint, the account, the calls and the loop that drives them."""

    def __init__(self, config: WorkerConfig, sock: socket.socket) -> None:
        self.config = config
        self.inbox: queue.SimpleQueue[Message | None] = queue.SimpleQueue()
        self.link = WorkerLink(sock, self.inbox.put)
        self.calls: dict[str, PhoneCall | OutboundCall] = {}
        """Calls alive, callers' and the line's own outbound ones (``outcall.py``)."""
        self.legs: list[AgentLeg] = []
        self.gate = SetupGate()
        self.parked: list[Refused] = []
        """Calls above the set-up gate, held unanswered until it lets them be refused (gate.py)."""
        self.dead: list[Any] = []
        """Ended calls' objects. pjsua2's ``~Call`` hangs up whatever call holds its pjsua slot
        (its id stays set after the end), so one dropped while the slot is reused by a new call
        cut that call off (603 Decline, or a BYE right after 200) under fast churn: they are
        dropped only while their slot is free (``_bury``)."""
        self.timers: list[tuple[float, int, str, tuple[str, int]]] = []
        self.pending: dict[int, tuple[str, str]] = {}
        self.ids = itertools.count(1)
        self.durations: dict[str, float] = {}
        self.running = True
        self.ep = pj.Endpoint()
        self.account: Account | None = None

    # Start and stop ----------------------------------------------------------------------------
    def start(self) -> int:
        ep, cfg = self.ep, pj.EpConfig()
        ep.libCreate()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = True
        cfg.uaConfig.maxCalls = MAX_CALLS
        cfg.uaConfig.userAgent = "hotline12345"
        cfg.logConfig.level = cfg.logConfig.consoleLevel = self.config.log_level
        cfg.medConfig.noVad = True
        ep.libInit(cfg)
        transport = pj.TransportConfig()
        transport.port = self.config.port
        transport.boundAddress = transport.publicAddress = self.config.host
        tid = ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, transport)
        port = int(ep.transportGetInfo(tid).localName.rsplit(":", 1)[1])
        ep.audDevManager().setNullDev()
        ep.libStart()
        acc = pj.AccountConfig()
        acc.idUri = f"sip:{self.config.number}@{self.config.host}:{port}"
        acc.mediaConfig.transportConfig.port = self.config.rtp_port
        acc.mediaConfig.transportConfig.portRange = self.config.rtp_range if self.config.rtp_port else 0
        acc.mediaConfig.transportConfig.boundAddress = self.config.host
        acc.mediaConfig.transportConfig.publicAddress = self.config.host
        if self.config.registrar:  # a PBX or trunk: REGISTER there as our user
            host = self.config.registrar.split(":", 1)[1]
            acc.idUri = f"sip:{self.config.username}@{host}"
            acc.regConfig.registrarUri = self.config.registrar
            acc.sipConfig.authCreds.append(pj.AuthCredInfo(
                "digest", self.config.realm, self.config.username, 0, self.config.password))
        self.account = Account(self)
        self.account.create(acc)
        self.link.start()
        self.send({"op": "hello", "port": port, "worker": self.config.index})
        return port

    def stop(self) -> None:
        """Tear down in the order pjsua2 survives: drop calls, collect, hang up, destroy."""
        self.calls.clear()
        self.legs.clear()
        self.parked.clear()
        self.dead.clear()
        gc.collect()
        self.ep.hangupAllCalls()
        if self.account is not None:
            self.account.shutdown()
        self.account = None
        gc.collect()
        self.ep.libDestroy()

    # The loop ----------------------------------------------------------------------------------
    def run(self) -> None:
        last_poll = 0.0
        while self.running:
            self.ep.libHandleEvents(10)
            self._drain()
            now = time.monotonic()
            self._fire(now)
            if self.parked:
                self.parked = release(self, self.parked)
            if now - last_poll >= 0.1:
                last_poll = now
                self._poll(now)
            if self.dead or any(leg.ended for leg in self.legs):
                self._bury()

    def _poll(self, now: float) -> None:
        """Each call's silence check, in a frame of its own.

        Never inline this loop in ``run``: its loop variable outlived the loop and held the
        last call polled until the next poll (100 ms or more), so an ended call's object was
        freed then, not at ``_bury``. By that time a new call could hold its pjsua slot, and
        ``~Call`` cleared that call's user data (it never heard DISCONNECTED; its own hang-up
        failed with ``PJSIP_ESESSIONTERMINATED``) and hung it up (our BYE right after our 200,
        crossing the caller's, about one call in seventy under churn through Kamailio).
        """
        for call in list(self.calls.values()):
            call.poll_silence(now, level=self.config.silence_level, after_s=self.config.silence_s)

    def _bury(self) -> None:
        """Drop ended calls' objects, outside their own callbacks, while their slot is free."""
        self.dead += [leg for leg in self.legs if leg.ended]
        self.legs = [leg for leg in self.legs if not leg.ended]
        dropped = [weakref.ref(call) for call in self.dead if not _slot_taken(call)]
        self.dead = [call for call in self.dead if _slot_taken(call)]
        unfreed = sum(ref() is not None for ref in dropped)
        if unfreed:  # referenced from somewhere: freed later, maybe while its slot is reused
            log.warning("%d ended call object(s) outlived their burial (pjsua slot may be reused)",
                        unfreed)

    def _drain(self) -> None:
        while True:
            try:
                message = self.inbox.get_nowait()
            except queue.Empty:
                return
            if message is None or message.get("op") == "stop":
                self.running = False
                return
            if message.get("op") == "dial":
                self._dial(message)
                continue
            if message.get("op") == "emergency":
                self._emergency(message)
                continue
            self._answer(message)

    def _answer(self, message: Message) -> None:
        request = self.pending.pop(int(message.get("id", 0)), None)
        if request is None:
            return
        key, op = request
        call = self.calls.get(key)
        if call is None:  # the caller hung up meanwhile: an agent held for it is free again
            for uri in message.get("agents", []) if op in ("agents", "agent_next") else []:
                self.send({"op": "agent_busy", "agent": str(uri), "busy": False, "call": key})
            return
        if not isinstance(call, PhoneCall):
            return  # an outbound call asks the service nothing
        if op == "record_done":
            result = message.get("result")
            call.feed(Registered(str(message.get("case", ""))) if result == "registered"
                      else Kept() if result == "kept" else Discarded())
        elif op == "status":
            text, wav = str(message.get("text") or ""), message.get("wav")
            if text and wav:
                call.spoken[text] = str(wav)
            call.feed(StatusText(text))
        elif op in ("agents", "agent_next"):
            call.agents = [str(uri) for uri in message.get("agents", [])]
            call.more_agents = message.get("more") is True
            if op == "agents":
                call.feed(AgentsOffered(available=bool(call.agents)))
            else:
                call.next_agent()

    def _emergency(self, message: Message) -> None:
        """The service asks to hand a live call to an emergency line (the agent's key, R3.8)."""
        ref, key = int(message.get("ref", 0)), str(message.get("call", ""))
        call = self.calls.get(key)
        if call is None:
            self.send({"op": "emergency_result", "ref": ref, "call": key, "ok": False, "code": 0,
                       "reason": "call_ended"})
            return
        call.emergency(ref, str(message.get("uri", "")))

    def _fire(self, now: float) -> None:
        while self.timers and self.timers[0][0] <= now:
            _, _, key, (kind, token) = heapq.heappop(self.timers)
            call = self.calls.get(key)
            if call is None:
                continue
            if kind == "prompt":
                call.prompt_done(token)
            elif kind == "ring":
                call.ring_timeout(token)
            elif kind == "rescue":
                call.rescue_timeout(token)
            else:
                call.feed(Timeout(token))

    # What calls ask of the line --------------------------------------------------------------
    def timer(self, seconds: float, call: PhoneCall | OutboundCall, what: tuple[str, int]) -> None:
        heapq.heappush(self.timers, (time.monotonic() + seconds, next(self.ids), call.key, what))

    def send(self, message: Message) -> None:
        self.link.send(message)

    def ask(self, call: PhoneCall, message: Message) -> None:
        request = next(self.ids)
        self.pending[request] = (call.key, str(message["op"]))
        self.link.send({**message, "id": request})

    def seconds(self, path: str) -> float:
        if path not in self.durations:
            try:
                self.durations[path] = audio.info(Path(path).read_bytes()).seconds
            except (OSError, audio.NotWav):
                self.durations[path] = 0.0
        return self.durations[path]

    def alive(self) -> int:
        """Calls holding media sockets now: callers, parked refusals and agent legs."""
        return (len(self.calls) + sum(not c.ended for c in self.parked)
                + sum(not leg.ended for leg in self.legs))

    def incoming(self, call_id: int, rdata: Any) -> None:
        if self.gate.full(self.alive() + 1, time.monotonic()):
            # Its sockets exist already; holding its slot makes pjsua 486 the next ones for free.
            self.parked.append(Refused(self, call_id))
            return
        asserted = ""
        try:
            for header in ("P-Asserted-Identity", "Remote-Party-ID"):
                found = self._header(rdata.wholeMsg, header)
                if found:
                    asserted = found
                    break
        except (AttributeError, pj.Error):
            pass
        call = PhoneCall(self, call_id, asserted)
        self.calls[call.key] = call
        self.send({"op": "call", "calls": len(self.calls)})
        try:
            call.answer(self._ok())
        except pj.Error as exc:  # an offer we cannot take (no codec we speak, broken SDP)
            log.warning("refusing call %s: %s", call.key, exc.info())
            refuse = pj.CallOpParam()
            refuse.statusCode = pj.PJSIP_SC_NOT_ACCEPTABLE_HERE
            with contextlib.suppress(pj.Error):
                call.hangup(refuse)

    @staticmethod
    def _ok() -> Any:
        prm = pj.CallOpParam()
        prm.statusCode = 200
        return prm

    @staticmethod
    def _header(whole: str, name: str) -> str:
        for raw in whole.split("\r\n"):
            head, _, value = raw.partition(":")
            if head.strip().lower() == name.lower():
                return value.strip()
        return ""

    def _dial(self, message: Message) -> None:
        """The service asks for an outbound call: place it, answer ``dialed`` when it ends."""
        request = int(message.get("id", 0))
        if self.alive() >= MAX_CALLS or self.gate.full(self.alive() + 1, time.monotonic()):
            self.send({"op": "dialed", "id": request, "result": "line_full", "code": 0})
            return
        script = OutScript(message=tuple(str(i) for i in message.get("items", ())),
                           ask=str(message.get("ask", "answer")),
                           key_timeout_s=float(message.get("key_timeout_s", 6.0)))
        call = OutboundCall(self, request, script)
        try:
            call.dial(str(message.get("uri", "")), float(message.get("ring_s", 30.0)))
        except pj.Error as exc:  # a URI pjsua cannot take, or no slot after all
            log.warning("outcall %s to %s: %s", call.key, message.get("uri"), exc.info())
            self.send({"op": "dialed", "id": request, "result": Result.FAILED, "code": 0})
            return
        self.calls[call.key] = call
        self.send({"op": "call", "calls": len(self.calls)})

    def outcall_ended(self, call: OutboundCall, result: Result, code: int) -> None:
        self.send({"op": "dialed", "id": call.request, "result": result, "key": call.script.key,
                   "code": code})
        self.call_ended(call)

    def call_ended(self, call: PhoneCall | OutboundCall) -> None:
        self.gate.ended()
        self.calls.pop(call.key, None)
        self.dead.append(call)
        self.send({"op": "call", "calls": len(self.calls)})
        self.send({"op": "call_ended", "call": call.key})


def _slot_taken(call: Any) -> bool:
    """Whether the pjsua slot an ended call object still names is in use (by a newer call)."""
    try:
        return bool(call.isActive())
    except pj.Error:
        return False


def main(argv: list[str]) -> int:
    """``python -m channels.sip.worker CONFIG_JSON FD``."""
    logging.basicConfig(level=logging.INFO, format="sip-worker %(levelname)s %(message)s")
    config = WorkerConfig.from_json(argv[1])
    sock = socket.socket(fileno=int(argv[2]))
    line = Line(config, sock)
    signal.signal(signal.SIGTERM, lambda *_: line.inbox.put(None))
    line.start()
    try:
        line.run()
    finally:
        line.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
