"""An outbound call (an answer spoken, or a 回访 keypad menu) as a pure state machine.

The line calls a citizen to read a notice: who calls and the case number digit
by digit, the notice's text (synthesised), then either "press 1 to hear it
again" (an answer) or the rating menu (按1满意，按2基本满意，按3不满意). What the
call came to is its ``Outcome``, which the outbox turns into delivered, a
retry later or, with a key, a rating. Like ``menu.Menu`` it takes events and
returns actions with tokens (a stale timer or prompt is ignored), so every
turn of a call is tested without SIP (``tests/channels/sip/test_outcall.py``);
``outcall.py`` is the thin pjsua2 side.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from channels.sip.menu import (
    Action,
    Answered,
    Digit,
    Event,
    HangUp,
    Hangup,
    Play,
    PromptDone,
    StartTimer,
    Timeout,
    case_digits,
    spoken_digits,
)

ANSWER, RATING = "answer", "rating"
"""What a call asks for after the message: a key to hear it again, or a rating key."""
RATING_KEYS = "123"
HEARD_SHARE = 0.8
"""A callee who hangs up after this share of the message heard most of it: delivered."""


class Result(StrEnum):
    """How an outbound call ended (the worker's answer to the service)."""

    HEARD = "heard"
    """Answered and the message played to the end (or most of it); a rating key, if asked."""
    UNHEARD = "unheard"
    """Answered, but hung up early in the message: tried again later."""
    NO_KEY = "no_key"
    """A rating call heard to the end, but no rating key pressed: tried again later."""
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    FAILED = "failed"
    """Refused for good (a number that does not exist, a trunk that will not take it)."""


def outcome_for_status(code: int) -> Result:
    """A call that ended before it was answered, by its final SIP status."""
    if code in (486, 600):
        return Result.BUSY
    if code in (0, 408, 480, 487, 503, 603):
        # 487: we cancelled it after ``ring_s``; 603 and 503 are a person or line that may
        # take the call later; 0: no final answer at all (timer B).
        return Result.NO_ANSWER
    return Result.FAILED


def message_items(case_number: str, spoken_text: str) -> tuple[str, ...]:
    """Who calls, the case number (date and sequence apart) and the notice's text."""
    digits = case_digits(case_number)
    number = (*spoken_digits(digits[:8]), "pause", *spoken_digits(digits[8:]))
    return ("outcall_intro", *number, "pause", spoken_text)


class Step(StrEnum):
    RINGING = "ringing"
    MESSAGE = "message"
    WAITING = "waiting"
    CLOSING = "closing"
    ENDED = "ended"


@dataclass
class OutScript:
    """One outbound call's decisions; ``result`` and ``key`` say how it ended."""

    message: tuple[str, ...]
    ask: str = ANSWER
    key_timeout_s: float = 6.0
    replays: int = 2
    """How often the message may be played again (on key 1, or once more for a silent rater)."""
    step: Step = Step.RINGING
    result: Result | None = None
    key: str = ""
    _token: int = 0
    _played: int = 0

    def _next(self) -> int:
        self._token += 1
        return self._token

    def _play_message(self) -> list[Action]:
        self.step = Step.MESSAGE
        self._played += 1
        return [Play(self.message, self._next())]

    def _close(self, result: Result, prompt: str) -> list[Action]:
        self.step, self.result = Step.CLOSING, result
        return [Play((prompt,), self._next())]

    def handle(self, event: Event, *, heard_share: float = 0.0) -> list[Action]:
        """The actions for ``event``; ``heard_share`` (0–1) is how much of the message played
        before a ``Hangup`` in it."""
        if self.step is Step.ENDED:
            return []
        if isinstance(event, Hangup):
            return self._hung_up(heard_share)
        if isinstance(event, Answered) and self.step is Step.RINGING:
            return self._play_message()
        stale = isinstance(event, PromptDone | Timeout) and event.token != self._token
        if stale:
            return []
        if isinstance(event, PromptDone):
            return self._prompt_done()
        if isinstance(event, Timeout) and self.step is Step.WAITING:
            return self._no_key()
        if isinstance(event, Digit) and self.step in (Step.MESSAGE, Step.WAITING):
            return self._digit(event.digit)
        return []

    def _hung_up(self, heard_share: float) -> list[Action]:
        if self.result is None:
            if self.step is Step.MESSAGE and self._played == 1:
                self.result = Result.HEARD if heard_share >= HEARD_SHARE else Result.UNHEARD
                if self.ask == RATING and self.result is Result.HEARD:
                    self.result = Result.NO_KEY
            elif self.step in (Step.MESSAGE, Step.WAITING):
                self.result = Result.NO_KEY if self.ask == RATING else Result.HEARD
        self.step = Step.ENDED
        return []

    def _prompt_done(self) -> list[Action]:
        if self.step is Step.CLOSING:
            self.step = Step.ENDED
            return [HangUp()]
        if self.step is Step.MESSAGE:
            self.step = Step.WAITING
            token = self._next()
            if self.ask == RATING:  # the menu was the message's end: wait for the key
                return [StartTimer(self.key_timeout_s, token)]
            return [Play(("outcall_repeat",), token)]
        if self.step is Step.WAITING:  # "press 1 to hear it again" played: wait for the key
            return [StartTimer(self.key_timeout_s, self._token)]
        return []

    def _no_key(self) -> list[Action]:
        if self.ask == RATING and self._played <= self.replays:
            return self._play_message()  # ask once more before giving up
        if self.ask == RATING:
            return self._close(Result.NO_KEY, "goodbye")
        return self._close(Result.HEARD, "goodbye")

    def _digit(self, digit: str) -> list[Action]:
        if self.ask == RATING and digit in RATING_KEYS:
            self.key = digit
            return self._close(Result.HEARD, "rating_thanks")
        if self.ask == ANSWER and digit == "1" and self._played <= self.replays:
            return self._play_message()
        return []
