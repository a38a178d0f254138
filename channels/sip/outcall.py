"""One outbound call in pjsua2 (an answer read to a landline, a 回访 keypad menu): thin.

What to play and when to hang up is ``outcall_script.OutScript``'s decision;
this dials (``makeCall``, through the trunk URI the service built), lets it
ring at most ``ring_s``, plays, collects keys and reports the end to the line,
which tells the service. Same rules as ``call.py``: everything runs in the
Endpoint's thread, ``ci`` is bound before its media are read, players are kept
referenced while they play.
"""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pjsua2 as pj

from channels.sip import prompts
from channels.sip.media_call import MediaCall
from channels.sip.menu import Action, Answered, Digit, Event, HangUp, Hangup, Play, PromptDone, StartTimer
from channels.sip.outcall_script import OutScript, Result, outcome_for_status

if TYPE_CHECKING:
    from channels.sip.worker import Line

log = logging.getLogger(__name__)


def resolve(item: str) -> str:
    """A WAV to play: a prompt's name, or a path the service synthesised."""
    return item if Path(item).is_absolute() else str(prompts.path(item))


class OutboundCall(MediaCall):
    """A call the line places for the service; ``request`` is the service's request id."""

    def __init__(self, line: Line, request: int, script: OutScript) -> None:
        super().__init__(line.account)
        self.line, self.request, self.script = line, request, script
        self.key = f"out{request}"
        self.ended = False
        self.message_at = 0.0
        self.message_s = 0.0

    def dial(self, uri: str, ring_s: float) -> None:
        """Place the call; cancelled if nobody answers within ``ring_s``."""
        self.makeCall(uri, pj.CallOpParam(True))
        self.line.timer(ring_s, self, ("ring", 0))

    # pjsua2 callbacks ------------------------------------------------------------------------
    def onCallState(self, prm: Any) -> None:
        ci = self.getInfo()
        if ci.state == pj.PJSIP_INV_STATE_DISCONNECTED and not self.ended:
            self._finish(int(ci.lastStatusCode))

    def _finish(self, code: int) -> None:
        """The call is over: decide how it ended and tell the line (once)."""
        self.ended = True
        answered = self.media is not None
        share = (time.monotonic() - self.message_at) / self.message_s if self.message_s else 0.0
        self.feed(Hangup(), heard_share=share)
        self.stop_player()
        self.media = None
        result = self.script.result or (Result.UNHEARD if answered else outcome_for_status(code))
        log.info("outcall %s ended: %s (SIP %d)%s", self.key, result, code,
                 f" key {self.script.key}" if self.script.key else "")
        self.line.outcall_ended(self, result, code)

    def answered(self) -> None:
        self.feed(Answered())

    def onDtmfDigit(self, prm: Any) -> None:
        digit = str(prm.digit)[:1]
        log.info("outcall %s key %s", self.key, digit)
        if digit:
            self.feed(Digit(digit))

    # Events and actions ----------------------------------------------------------------------
    def feed(self, event: Event, *, heard_share: float = 0.0) -> None:
        self.carry_out(self.script.handle(event, heard_share=heard_share))

    def do(self, action: Action) -> None:
        if isinstance(action, Play):
            self._play(action)
        elif isinstance(action, StartTimer):
            self.line.timer(action.seconds, self, ("timeout", action.token))
        elif isinstance(action, HangUp) and not self.ended:
            try:
                self.hangup(pj.CallOpParam(True))
            except pj.Error as exc:
                # Seen when four calls end and start at once: the session ended without this
                # object's DISCONNECTED callback. Finish it here, or the service waits in vain.
                log.warning("outcall %s: hang-up refused (%s); the call is over", self.key,
                            exc.info())
                self._finish(0)

    def _play(self, action: Play) -> None:
        paths = [resolve(item) for item in action.items]
        seconds = sum(self.line.seconds(p) for p in paths)
        if action.items == self.script.message:
            self.message_at, self.message_s = time.monotonic(), seconds
        log.info("outcall %s plays %s", self.key, " ".join(Path(p).stem for p in paths))
        self.start_player(paths)
        self.line.timer(seconds + 0.1, self, ("prompt", action.token))

    # What the line's timers call -----------------------------------------------------------
    def prompt_done(self, token: int) -> None:
        self.feed(PromptDone(token))

    def ring_timeout(self, token: int) -> None:
        """Nobody answered within ``ring_s``: cancel (the end reads 487: no answer)."""
        if self.media is None and not self.ended:
            with contextlib.suppress(pj.Error):
                self.hangup(pj.CallOpParam(True))

    def poll_silence(self, now: float, *, level: int, after_s: float) -> None:
        """Nothing is recorded on an outbound call."""
