"""The outbound contract every channel implements: a notice in, a reference or a typed error out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from contract.envelope import Attachment, Channel

RATING_REQUEST = "rating_request"
"""The kind of a 回访 rating request: a call asks it with a keypad menu (按1满意…)."""


@dataclass(frozen=True, slots=True)
class Notice:
    """One message for a citizen (or unit) on one channel, already rendered."""

    notice_id: int
    channel: Channel
    address: str
    text: str
    case_number: str
    subject: str = ""
    attachments: tuple[Attachment, ...] = ()
    kind: str = ""
    """The notice's kind (``answer``, ``rating_request``…): a call asks for keys only for some."""


@dataclass(frozen=True, slots=True)
class Heard:
    """A call the callee answered and heard to its end, and the key pressed in its menu.

    A deliverer that waits for the end of its call returns this instead of a
    bare reference: the outbox records the notice as delivered at once. ``key``
    is the digit a keypad call-back (回访) got, empty when none was asked for.
    """

    ref: str
    key: str = ""


class SendError(Exception):
    """A delivery failed; ``retryable`` says whether trying again later can help."""

    def __init__(self, message: str, *, retryable: bool, code: str = "") -> None:
        super().__init__(message)
        self.retryable = retryable
        self.code = code


class Deliverer(Protocol):
    """An outbound adapter: returns the provider's reference for the sent notice (``Heard``
    for a call it saw to the end)."""

    channel: Channel

    async def deliver(self, notice: Notice) -> str | Heard: ...
