"""The voice menu as a pure state machine: events in, actions out, no SIP, no clock.

The pjsua2 adapter (``call.py``) turns what happens on a call into ``Event``s
and carries out the ``Action``s this returns; everything a caller can do
(keys, silence, hanging up at any step) is decided here, so it is tested
without a phone (``tests/channels/sip/test_menu.py``). Timers and prompts carry
a token: an event for an older token (a prompt cut short, a timer of a state
already left) is ignored, so the adapter never has to cancel anything.

1 — leave a message: record until ``#``, silence or the maximum, then the
case number is read back. 2 — key a case number's date and sequence digits and
hear its status. 0 or no key — an agent; none free: leave a message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

MAX_CASE_DIGITS = 14
"""``YYYYMMDD`` plus a six-digit sequence: ``FZ12345-20261124-000017`` keyed as 20261124000017."""
MIN_CASE_DIGITS = 9
MAX_TRIES = 3


class Step(StrEnum):
    """Where a call is in the menu."""

    GREETING = "greeting"
    CHOOSING = "choosing"
    RECORD_INTRO = "record_intro"
    RECORDING = "recording"
    REGISTERING = "registering"
    KEYING = "keying"
    STATUS_WAIT = "status_wait"
    AGENT_WAIT = "agent_wait"
    TRANSFERRING = "transferring"
    CONNECTED = "connected"
    CLOSING = "closing"
    ENDED = "ended"


# Events ---------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Answered:
    """Media is up: the caller can hear us."""


@dataclass(frozen=True, slots=True)
class Digit:
    digit: str


@dataclass(frozen=True, slots=True)
class PromptDone:
    token: int


@dataclass(frozen=True, slots=True)
class Timeout:
    token: int


@dataclass(frozen=True, slots=True)
class Silence:
    """The caller said nothing for ``silence_s`` while recording."""


@dataclass(frozen=True, slots=True)
class Hangup:
    pass


@dataclass(frozen=True, slots=True)
class Registered:
    case_number: str


@dataclass(frozen=True, slots=True)
class Kept:
    """The store is down: the recording waits in the spool and is registered later."""


@dataclass(frozen=True, slots=True)
class Discarded:
    """The recording held no message (too short, no sound)."""


@dataclass(frozen=True, slots=True)
class StatusText:
    text: str
    """What to say; empty when the service could not answer now."""


@dataclass(frozen=True, slots=True)
class AgentsOffered:
    available: bool


@dataclass(frozen=True, slots=True)
class TransferDone:
    connected: bool


Event = (Answered | Digit | PromptDone | Timeout | Silence | Hangup | Registered | Kept | Discarded
         | StatusText | AgentsOffered | TransferDone)


# Actions --------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Play:
    """Stop what plays and play these prompts (names, or ``say:<text>``); ``PromptDone(token)`` after."""

    items: tuple[str, ...]
    token: int


@dataclass(frozen=True, slots=True)
class StartTimer:
    seconds: float
    token: int


@dataclass(frozen=True, slots=True)
class Record:
    """Start recording the caller (and watching for silence)."""


@dataclass(frozen=True, slots=True)
class StopRecord:
    """Close the recording and hand it to the service; the answer comes back as an event."""


@dataclass(frozen=True, slots=True)
class AskStatus:
    case_digits: str
    """``YYYYMMDD`` + sequence, padded to six digits."""


@dataclass(frozen=True, slots=True)
class AskAgent:
    pass


@dataclass(frozen=True, slots=True)
class Transfer:
    pass


@dataclass(frozen=True, slots=True)
class HangUp:
    pass


Action = Play | StartTimer | Record | StopRecord | AskStatus | AskAgent | Transfer | HangUp


def spoken_digits(digits: str) -> tuple[str, ...]:
    """Prompt names that read ``digits`` one by one (一二三…; 零 for 0)."""
    return tuple(f"digit_{d}" for d in digits if d.isdigit())


def case_digits(case_number: str) -> str:
    """The part of a case number a caller keys: date and sequence (``20261124000017``)."""
    return "".join(c for c in case_number if c.isdigit())[-MAX_CASE_DIGITS:]


def readback(case_number: str, *, anonymous: bool, times: int = 2) -> tuple[str, ...]:
    """The case number read ``times`` times, date and sequence apart, then what comes next."""
    digits = case_digits(case_number)
    number = (*spoken_digits(digits[:8]), "pause", *spoken_digits(digits[8:]))
    again = ("repeat", *number) * (times - 1)
    after = ("anonymous_call_back",) if anonymous else ("reply_by_sms",)
    return ("registered", *number, *again, *after, "goodbye")


@dataclass
class Menu:
    """One call's menu. ``handle(event)`` returns what to do; it never raises on odd input."""

    anonymous: bool
    choice_timeout_s: float
    digit_timeout_s: float
    max_record_s: float
    readback_times: int = 2
    step: Step = Step.GREETING
    token: int = 0
    keyed: str = ""
    tries: int = 0
    recorded: bool = field(default=False)

    def _next(self) -> int:
        self.token += 1
        return self.token

    def _play(self, step: Step, *items: str) -> list[Action]:
        self.step = step
        return [Play(tuple(items), self._next())]

    def _close(self, *items: str) -> list[Action]:
        return self._play(Step.CLOSING, *items, "goodbye")

    def handle(self, event: Event) -> list[Action]:
        """Advance on ``event``; events that do not apply to the current step change nothing."""
        if self.step is Step.ENDED:
            return []
        if isinstance(event, Hangup):
            return self._hangup()
        if isinstance(event, PromptDone | Timeout) and event.token != self.token:
            return []  # a prompt cut short or a timer of a step already left
        handler = getattr(self, f"_on_{self.step.value}")
        actions: list[Action] = handler(event)
        return actions

    def _hangup(self) -> list[Action]:
        was_recording = self.step is Step.RECORDING
        self.step = Step.ENDED
        # What was said before the hang-up is a message: keep it and register it.
        return [StopRecord()] if was_recording else []

    def _on_greeting(self, event: Event) -> list[Action]:
        if isinstance(event, Answered):
            return self._play(Step.GREETING, "welcome", "menu")
        if isinstance(event, PromptDone):
            self.step = Step.CHOOSING
            return [StartTimer(self.choice_timeout_s, self._next())]
        if isinstance(event, Digit):
            return self._choose(event.digit)
        return []

    def _on_choosing(self, event: Event) -> list[Action]:
        if isinstance(event, Timeout):
            return self._to_agent()  # no input: a person takes the call
        if isinstance(event, Digit):
            return self._choose(event.digit)
        return []

    def _choose(self, digit: str) -> list[Action]:
        if digit == "1":
            return self._play(Step.RECORD_INTRO, "record_intro")
        if digit == "2":
            if self.anonymous:  # a withheld number cannot prove it filed the case
                return self._close("status_needs_number")
            self.keyed, self.tries = "", 0
            return self._play(Step.KEYING, "key_case_number")
        if digit == "0":
            return self._to_agent()
        self.tries += 1
        if self.tries >= MAX_TRIES:
            return self._close("invalid_choice")
        return self._play(Step.GREETING, "invalid_choice", "menu")

    def _to_agent(self) -> list[Action]:
        self.step = Step.AGENT_WAIT
        self._next()
        return [AskAgent()]

    def _on_record_intro(self, event: Event) -> list[Action]:
        if isinstance(event, PromptDone) or (isinstance(event, Digit) and event.digit == "#"):
            self.step = Step.RECORDING
            self.recorded = True
            return [Record(), StartTimer(self.max_record_s, self._next())]
        return []

    def _on_recording(self, event: Event) -> list[Action]:
        if isinstance(event, Timeout | Silence) or (isinstance(event, Digit) and event.digit == "#"):
            self.step = Step.REGISTERING
            self._next()
            return [StopRecord()]
        return []

    def _on_registering(self, event: Event) -> list[Action]:
        if isinstance(event, Registered):
            return self._play(Step.CLOSING, *readback(
                event.case_number, anonymous=self.anonymous, times=self.readback_times))
        if isinstance(event, Kept):
            return self._close("message_kept")
        if isinstance(event, Discarded):
            return self._close("no_message")
        return []

    def _on_keying(self, event: Event) -> list[Action]:
        if isinstance(event, Digit):
            if event.digit == "*":  # start over
                self.keyed = ""
                return self._play(Step.KEYING, "key_case_number")
            if event.digit == "#":
                return self._submit()
            self.keyed += event.digit
            if len(self.keyed) == MAX_CASE_DIGITS:
                return self._submit()
            return [StartTimer(self.digit_timeout_s, self._next())]
        if isinstance(event, PromptDone):
            return [StartTimer(self.digit_timeout_s, self._next())]
        if isinstance(event, Timeout):
            return self._submit()
        return []

    def _submit(self) -> list[Action]:
        digits, self.keyed = self.keyed, ""
        if digits.isdigit() and MIN_CASE_DIGITS <= len(digits) <= MAX_CASE_DIGITS:
            self.step = Step.STATUS_WAIT
            self._next()
            return [AskStatus(digits[:8] + digits[8:].rjust(6, "0"))]
        self.tries += 1
        if self.tries >= MAX_TRIES:
            return self._close("invalid_number")
        return self._play(Step.KEYING, "invalid_number", "key_case_number")

    def _on_status_wait(self, event: Event) -> list[Action]:
        if isinstance(event, StatusText):
            return self._close(f"say:{event.text}" if event.text else "status_unavailable")
        return []

    def _on_agent_wait(self, event: Event) -> list[Action]:
        if isinstance(event, AgentsOffered):
            if event.available:
                self.step = Step.TRANSFERRING
                self._next()
                return [Transfer()]
            return self._play(Step.RECORD_INTRO, "agents_busy", "record_intro")
        return []

    def _on_transferring(self, event: Event) -> list[Action]:
        if isinstance(event, TransferDone):
            if event.connected:
                self.step = Step.CONNECTED
                return []
            return self._play(Step.RECORD_INTRO, "agents_busy", "record_intro")
        return []

    def _on_connected(self, event: Event) -> list[Action]:
        return []

    def _on_closing(self, event: Event) -> list[Action]:
        if isinstance(event, PromptDone):
            self.step = Step.ENDED
            return [HangUp()]
        return []

    def _on_ended(self, event: Event) -> list[Action]:
        return []
