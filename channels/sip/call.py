"""One caller's call in pjsua2: callbacks become menu events, menu actions become media operations.

Thin on purpose: what to do is ``menu.Menu``'s decision; this only plays,
records, bridges (or refers) and hangs up. Every method runs in the Endpoint's thread
(``threadCnt = 0``, ``mainThreadOnly``), so none of it needs a lock. pjsua2
traps kept in mind here: ``ci = self.getInfo()`` is bound before iterating its
media (iterating the temporary reads freed memory); players, recorders and
agent legs are kept referenced while in use and dropped only from the loop.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

import pjsua2 as pj

from channels.sip import caller, prompts, spool
from channels.sip.media_call import MediaCall
from channels.sip.menu import (
    Action,
    Answered,
    AskAgent,
    AskStatus,
    Digit,
    Event,
    HangUp,
    Hangup,
    Menu,
    Play,
    PromptDone,
    Record,
    Silence,
    StartTimer,
    StopRecord,
    Transfer,
    TransferDone,
)

if TYPE_CHECKING:
    from channels.sip.worker import Line

log = logging.getLogger(__name__)


class AgentLeg(pj.Call):  # type: ignore[misc]
    """The outbound call to an agent's phone, bridged to the caller once it answers."""

    def __init__(self, account: Any, owner: PhoneCall, uri: str) -> None:
        super().__init__(account)
        self.owner, self.uri = owner, uri
        self.media: Any = None
        self.ended = False

    def onCallState(self, prm: Any) -> None:
        ci = self.getInfo()
        if ci.state == pj.PJSIP_INV_STATE_DISCONNECTED and not self.ended:
            self.ended = True
            self.owner.line.gate.ended()
            self.owner.agent_ended(self)

    def onCallMediaState(self, prm: Any) -> None:
        ci = self.getInfo()
        for index, media in enumerate(ci.media):
            if media.type == pj.PJMEDIA_TYPE_AUDIO and media.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                self.media = self.getAudioMedia(index)
                self.owner.agent_answered(self)
                return


class PhoneCall(MediaCall):
    """A caller on the line, driven by its ``Menu``."""

    def __init__(self, line: Line, call_id: int, asserted: str) -> None:
        super().__init__(line.account, call_id)
        ci = self.getInfo()
        self.line = line
        self.caller = caller.parse(ci.remoteUri, asserted=asserted)
        self.sip_call_id: str = ci.callIdString
        self.key = spool.key_for(self.sip_call_id)
        cfg = line.config
        self.menu = Menu(anonymous=self.caller.anonymous, choice_timeout_s=cfg.choice_timeout_s,
                         digit_timeout_s=cfg.digit_timeout_s, max_record_s=cfg.max_record_s,
                         readback_times=cfg.readback_times)
        self.recorder: Any = None
        self.record_started = 0.0
        self.last_voice = 0.0
        self.ended = False
        self.agents: list[str] = []
        self.agent: AgentLeg | None = None
        self.referring = ""
        """The agent a REFER is out to (``transfer = "refer"``), until its final NOTIFY."""
        self.spoken: dict[str, str] = {}
        """Status text → its synthesized WAV, for ``say:`` prompts."""

    # pjsua2 callbacks ------------------------------------------------------------------------
    def onCallState(self, prm: Any) -> None:
        ci = self.getInfo()
        if ci.state == pj.PJSIP_INV_STATE_DISCONNECTED and not self.ended:
            self.ended = True
            self.feed(Hangup())
            self._release_media()
            if self.agent is not None and not self.agent.ended:
                self._hangup_leg(self.agent)
            self.line.call_ended(self)

    def answered(self) -> None:
        self.feed(Answered())

    def onDtmfDigit(self, prm: Any) -> None:
        digit = str(prm.digit)[:1]
        log.info("call %s key %s", self.key, digit)
        if digit in "0123456789*#" and digit:
            self.feed(Digit(digit))

    # Events and actions ----------------------------------------------------------------------
    def feed(self, event: Event) -> None:
        """Hand ``event`` to the menu and carry out what it decides."""
        self.carry_out(self.menu.handle(event))

    def do(self, action: Action) -> None:
        if isinstance(action, Play):
            self._play(action)
        elif isinstance(action, StartTimer):
            self.line.timer(action.seconds, self, ("timeout", action.token))
        elif isinstance(action, Record):
            self._record()
        elif isinstance(action, StopRecord):
            self._stop_record()
        elif isinstance(action, AskStatus):
            self.line.ask(self, {"op": "status", "digits": action.case_digits,
                                 "caller": self.caller.number})
        elif isinstance(action, AskAgent):
            self.line.ask(self, {"op": "agents", "caller": self.caller.number or "anonymous"})
        elif isinstance(action, Transfer):
            self._next_agent()
        elif isinstance(action, HangUp) and not self.ended:
            self.hangup(pj.CallOpParam(True))

    def _play(self, action: Play) -> None:
        paths: list[str] = []
        for item in action.items:
            if item.startswith("say:"):
                spoken = self.spoken.get(item[4:])
                paths.append(spoken or str(prompts.path("status_unavailable")))
            else:
                paths.append(str(prompts.path(item)))
        seconds = sum(self.line.seconds(p) for p in paths)
        log.info("call %s plays %s", self.key, " ".join(action.items))
        self.start_player(paths)
        # The prompt's end is known from the WAVs' lengths: no callback from the media thread.
        self.line.timer(seconds + 0.1, self, ("prompt", action.token))

    def _record(self) -> None:
        self.stop_player()
        self.line.send({"op": "record_start", "call": self.key, "sip_call_id": self.sip_call_id,
                        "caller": self.caller.number, "display_name": self.caller.display_name})
        recorder = pj.AudioMediaRecorder()
        recorder.createRecorder(str(self.line.config.spool_dir / f"{self.key}.wav"))
        if self.media is not None:
            self.media.startTransmit(recorder)
        self.recorder = recorder
        self.record_started = self.last_voice = time.monotonic()

    def _stop_record(self) -> None:
        if self.recorder is not None:
            if self.media is not None:
                with contextlib.suppress(pj.Error):
                    self.media.stopTransmit(self.recorder)
            self.recorder = None  # the recorder's destructor writes the WAV header and closes
        # ``listening``: the caller is still here to hear the number (else it goes by SMS).
        self.line.ask(self, {"op": "record_done", "call": self.key, "listening": not self.ended})

    def poll_silence(self, now: float, *, level: int, after_s: float) -> None:
        """While recording, end the message after ``after_s`` without voice."""
        if self.recorder is None or self.media is None or self.ended:
            return
        try:
            heard = self.media.getTxLevel()  # what the caller sends into the bridge
        except pj.Error:
            return
        if heard > level:
            self.last_voice = now
        elif now - self.last_voice >= after_s:
            self.feed(Silence())

    def _release_media(self) -> None:
        self.stop_player()
        self.media = None

    # Agents ------------------------------------------------------------------------------------
    def _next_agent(self) -> None:
        if self.line.config.transfer == "refer":
            self._refer_next()
            return
        while self.agents:
            uri = self.agents.pop(0)
            leg = AgentLeg(self.line.account, self, uri)
            try:
                leg.makeCall(uri, pj.CallOpParam(True))
            except pj.Error as exc:
                log.warning("agent %s: %s", uri, exc.info())
                continue
            self.agent = leg
            self.line.legs.append(leg)
            self.line.timer(self.line.config.agent_ring_s, self, ("ring", id(leg)))
            return
        self.feed(TransferDone(connected=False))

    def ring_timeout(self, leg_id: int) -> None:
        """An agent let it ring too long: try the next one."""
        if self.referring and leg_id == id(self):
            # The caller's side accepted the REFER but never reported the end: it carries the
            # call now (RFC 3515 leaves the transfer to the transferee); free the slot.
            log.warning("call %s: no final NOTIFY for the REFER to %s; leaving", self.key, self.referring)
            self.referring = ""
            if not self.ended:
                self.hangup(pj.CallOpParam(True))
            return
        if self.agent is not None and id(self.agent) == leg_id and self.agent.media is None:
            self._hangup_leg(self.agent)

    # REFER transfer: the caller's side calls the agent, this worker's slot is freed ---------
    def _refer_next(self) -> None:
        while self.agents:
            uri = self.agents.pop(0)
            try:
                self.xfer(uri, pj.CallOpParam(True))
            except pj.Error as exc:
                log.warning("call %s: REFER to %s: %s", self.key, uri, exc.info())
                continue
            self.referring = uri
            log.info("call %s refers to %s", self.key, uri)
            self.line.timer(self.line.config.agent_ring_s, self, ("ring", id(self)))
            return
        self.feed(TransferDone(connected=False))

    def onCallTransferStatus(self, prm: Any) -> None:
        """The caller's side reports on the REFER (its response, then NOTIFYs with the agent's)."""
        if not self.referring or self.ended:
            return
        code, final = int(prm.statusCode), bool(prm.finalNotify)
        log.info("call %s transfer to %s: %d%s", self.key, self.referring, code, " (final)" if final else "")
        if not final:
            return
        uri, self.referring = self.referring, ""
        if 200 <= code < 300:  # the agent answered the caller: our part is done
            prm.cont = False
            self.feed(TransferDone(connected=True))
            self.hangup(pj.CallOpParam(True))
        else:  # REFER refused, or the agent busy or not answering: the next agent, then a message
            log.info("call %s: agent %s not reached by REFER (%d)", self.key, uri, code)
            self._refer_next()

    def agent_answered(self, leg: AgentLeg) -> None:
        if leg is not self.agent or self.media is None or self.ended:
            return
        self.stop_player()
        self.media.startTransmit(leg.media)
        leg.media.startTransmit(self.media)
        self.line.send({"op": "agent_busy", "agent": leg.uri, "busy": True})
        self.feed(TransferDone(connected=True))

    def agent_ended(self, leg: AgentLeg) -> None:
        if leg is not self.agent:
            return
        was_connected = leg.media is not None
        self.agent = None
        if was_connected:
            self.line.send({"op": "agent_busy", "agent": leg.uri, "busy": False})
            if not self.ended:
                self.hangup(pj.CallOpParam(True))
        elif not self.ended:
            self._next_agent()

    def _hangup_leg(self, leg: AgentLeg) -> None:
        with contextlib.suppress(pj.Error):
            leg.hangup(pj.CallOpParam(True))

    def prompt_done(self, token: int) -> None:
        self.feed(PromptDone(token))
