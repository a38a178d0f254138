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
    """An outbound call (an agent's phone, or an emergency line), bridged to the caller once it answers.

    ``confirmed_only``: answered means the final 2xx, not early media (a carrier's 183
    with ringback would otherwise take the caller away from the agent too soon).
    """

    def __init__(self, account: Any, owner: PhoneCall, uri: str, *, confirmed_only: bool = False) -> None:
        super().__init__(account)
        self.owner, self.uri = owner, uri
        self.media: Any = None
        self.ended = False
        self.confirmed_only = confirmed_only
        self.confirmed = False
        self.status = 0
        """The final SIP status once the leg ended (486 busy, 603 declined …)."""

    def onCallState(self, prm: Any) -> None:
        ci = self.getInfo()
        if ci.state == pj.PJSIP_INV_STATE_CONFIRMED and not self.confirmed:
            self.confirmed = True
            if self.confirmed_only and self.media is not None:
                self.owner.agent_answered(self)
        if ci.state == pj.PJSIP_INV_STATE_DISCONNECTED and not self.ended:
            self.ended = True
            self.status = int(ci.lastStatusCode)
            self.owner.line.gate.ended()
            self.owner.agent_ended(self)

    def onCallMediaState(self, prm: Any) -> None:
        ci = self.getInfo()
        for index, media in enumerate(ci.media):
            if media.type == pj.PJMEDIA_TYPE_AUDIO and media.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                self.media = self.getAudioMedia(index)
                if self.confirmed or not self.confirmed_only:
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
        self.more_agents = False
        """The service may have another agent once these are tried (``agent_next``)."""
        self.agent: AgentLeg | None = None
        self.referring = ""
        """The agent a REFER is out to (``transfer = "refer"``), until its final NOTIFY."""
        self.spoken: dict[str, str] = {}
        """Status text → its synthesized WAV, for ``say:`` prompts."""
        self.rescue: AgentLeg | None = None
        """R3.8: the leg to an emergency line, while it rings and once it holds the caller."""
        self.rescue_ref = 0
        """The service's request the emergency transfer in progress answers (0: none)."""
        self.rescue_refer = ""
        """The emergency line a REFER is out to (``emergency_transfer = "refer"``)."""
        self.rescue_late = False

    # pjsua2 callbacks ------------------------------------------------------------------------
    def onCallState(self, prm: Any) -> None:
        ci = self.getInfo()
        if ci.state == pj.PJSIP_INV_STATE_DISCONNECTED and not self.ended:
            self.ended = True
            self.feed(Hangup())
            self._release_media()
            if self.agent is not None and not self.agent.ended:
                self._hangup_leg(self.agent)
            if self.rescue is not None and not self.rescue.ended:
                self._hangup_leg(self.rescue)
            if self.rescue_ref:
                self._emergency_result(ok=False, code=0, reason="caller_gone")
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
            self.line.ask(self, {"op": "agents", "call": self.key,
                                 "caller": self.caller.number or "anonymous"})
        elif isinstance(action, Transfer):
            self.next_agent()
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
    def next_agent(self) -> None:
        """Ring (or refer to) the next agent; ask the service for more, or give up."""
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
                self._agent_done(uri)
                continue
            self.agent = leg
            self.line.legs.append(leg)
            self.line.timer(self.line.config.agent_ring_s, self, ("ring", id(leg)))
            return
        self._no_more_agents()

    def _no_more_agents(self) -> None:
        if self.more_agents and not self.ended:
            self.more_agents = False
            self.line.ask(self, {"op": "agent_next", "call": self.key,
                                 "caller": self.caller.number or "anonymous"})
            return
        self.feed(TransferDone(connected=False))

    def _agent_done(self, uri: str) -> None:
        """Tell the service this call is done with agent ``uri`` (never reached, or hung up)."""
        self.line.send({"op": "agent_busy", "agent": uri, "busy": False, "call": self.key})

    def ring_timeout(self, leg_id: int) -> None:
        """An agent let it ring too long: try the next one."""
        if self.referring and leg_id == id(self):
            # The caller's side accepted the REFER but never reported the end: it carries the
            # call now (RFC 3515 leaves the transfer to the transferee); free the slot.
            log.warning("call %s: no final NOTIFY for the REFER to %s; leaving", self.key, self.referring)
            self._agent_done(self.referring)
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
                self._agent_done(uri)
                continue
            self.referring = uri
            log.info("call %s refers to %s", self.key, uri)
            self.line.timer(self.line.config.agent_ring_s, self, ("ring", id(self)))
            return
        self._no_more_agents()

    def onCallTransferStatus(self, prm: Any) -> None:
        """The caller's side reports on the REFER (its response, then NOTIFYs with the agent's)."""
        if self.rescue_refer and not self.ended:
            self._rescue_refer_status(prm)
            return
        if not self.referring or self.ended:
            return
        code, final = int(prm.statusCode), bool(prm.finalNotify)
        log.info("call %s transfer to %s: %d%s", self.key, self.referring, code, " (final)" if final else "")
        if not final:
            return
        uri, self.referring = self.referring, ""
        self._agent_done(uri)  # the line cannot follow a referred call: the agent is free to it
        if 200 <= code < 300:  # the agent answered the caller: our part is done
            prm.cont = False
            self.feed(TransferDone(connected=True))
            self.hangup(pj.CallOpParam(True))
        else:  # REFER refused, or the agent busy or not answering: the next agent, then a message
            log.info("call %s: agent %s not reached by REFER (%d)", self.key, uri, code)
            self._refer_next()

    def agent_answered(self, leg: AgentLeg) -> None:
        if leg is self.rescue:
            self._rescue_answered(leg)
            return
        if leg is not self.agent or self.media is None or self.ended:
            return
        self.stop_player()
        self.media.startTransmit(leg.media)
        leg.media.startTransmit(self.media)
        self.line.send({"op": "agent_busy", "agent": leg.uri, "busy": True, "call": self.key})
        self.feed(TransferDone(connected=True))

    def agent_ended(self, leg: AgentLeg) -> None:
        if leg is self.rescue:
            self._rescue_ended(leg)
            return
        if leg is not self.agent:
            return
        was_connected = leg.media is not None
        self.agent = None
        self._agent_done(leg.uri)
        if was_connected:
            if not self.ended:
                self.hangup(pj.CallOpParam(True))
        elif not self.ended:
            self.next_agent()

    def _hangup_leg(self, leg: AgentLeg) -> None:
        with contextlib.suppress(pj.Error):
            leg.hangup(pj.CallOpParam(True))

    def prompt_done(self, token: int) -> None:
        self.feed(PromptDone(token))

    # Emergency transfer (R3.8): the agent's key hands the caller to 110/119/120/122 ------------
    def emergency(self, ref: int, uri: str) -> None:
        """Hand the caller to ``uri``; the agent stays on until the emergency line answers."""
        problem = self._emergency_blocked()
        if problem:
            self.line.send(self._result(ref, ok=False, code=0, reason=problem))
            return
        self.rescue_ref, self.rescue_late = ref, False
        log.info("call %s: emergency transfer to %s (%s)", self.key, uri, self.line.config.emergency_transfer)
        try:
            if self.line.config.emergency_transfer == "refer":
                self.xfer(uri, pj.CallOpParam(True))
                self.rescue_refer = uri
            else:
                leg = AgentLeg(self.line.account, self, uri, confirmed_only=True)
                leg.makeCall(uri, pj.CallOpParam(True))
                self.rescue = leg
                self.line.legs.append(leg)
        except pj.Error as exc:  # no slot left, an unroutable URI: the caller stays with the agent
            log.warning("call %s: emergency transfer to %s: %s", self.key, uri, exc.info())
            self._emergency_result(ok=False, code=0, reason="not_dialled")
            return
        self.line.timer(self.line.config.emergency_ring_s, self, ("rescue", ref))

    def _emergency_blocked(self) -> str:
        if self.ended or self.media is None:
            return "call_ended"
        if self.rescue_ref:
            return "in_progress"
        if self.agent is None or self.agent.media is None:
            return "not_with_agent"
        return ""

    def _result(self, ref: int, *, ok: bool, code: int, reason: str) -> dict[str, Any]:
        return {"op": "emergency_result", "ref": ref, "call": self.key, "ok": ok, "code": code,
                "reason": reason, "caller": self.caller.number,
                "display_name": self.caller.display_name}

    def _emergency_result(self, *, ok: bool, code: int, reason: str) -> None:
        ref, self.rescue_ref = self.rescue_ref, 0
        if ref:
            log.info("call %s: emergency transfer %s (%d %s)", self.key, "done" if ok else "failed",
                     code, reason)
            self.line.send(self._result(ref, ok=ok, code=code, reason=reason))

    def rescue_timeout(self, ref: int) -> None:
        """The emergency line rang ``emergency_ring_s`` unanswered: give up; the agent keeps the caller."""
        if ref != self.rescue_ref:
            return
        self.rescue_late = True
        if self.rescue is not None and self.rescue.media is None:
            self._hangup_leg(self.rescue)  # its end reports the failure
        elif self.rescue_refer:
            self.rescue_refer = ""
            self._emergency_result(ok=False, code=408, reason="no_answer")

    def _leave_agent(self) -> None:
        """Take the caller off the agent's leg and hang that leg up (the transfer succeeded)."""
        agent, self.agent = self.agent, None
        if agent is None:
            return
        if agent.media is not None and self.media is not None:
            with contextlib.suppress(pj.Error):
                self.media.stopTransmit(agent.media)
                agent.media.stopTransmit(self.media)
        self._agent_done(agent.uri)  # free for the next call (their console's status follows)
        self._hangup_leg(agent)

    def _rescue_answered(self, leg: AgentLeg) -> None:
        if not self.rescue_ref:
            return  # bridged already (a re-INVITE's media update)
        if self.ended or self.media is None:
            self._hangup_leg(leg)
            return
        self._leave_agent()
        self.media.startTransmit(leg.media)
        leg.media.startTransmit(self.media)
        self._emergency_result(ok=True, code=200, reason="")

    def _rescue_ended(self, leg: AgentLeg) -> None:
        self.rescue = None
        if leg.media is not None and leg.confirmed and not self.rescue_ref:
            if not self.ended:  # the emergency line hung up after taking the call: it is over
                self.hangup(pj.CallOpParam(True))
            return
        code = 408 if self.rescue_late else leg.status
        self._emergency_result(ok=False, code=code, reason="no_answer" if self.rescue_late else "refused")

    def _rescue_refer_status(self, prm: Any) -> None:
        code, final = int(prm.statusCode), bool(prm.finalNotify)
        log.info("call %s emergency REFER to %s: %d%s", self.key, self.rescue_refer, code,
                 " (final)" if final else "")
        if not final and code < 300:
            return
        self.rescue_refer = ""
        if 200 <= code < 300:  # the emergency line answered the caller: agent and worker leave
            prm.cont = False
            self._leave_agent()
            self._emergency_result(ok=True, code=code, reason="")
            self.hangup(pj.CallOpParam(True))
        else:
            self._emergency_result(ok=False, code=code, reason="refused")
