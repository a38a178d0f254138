"""The outbound contract every channel implements: a notice in, a reference or a typed error out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from contract.envelope import Attachment, Channel


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


class SendError(Exception):
    """A delivery failed; ``retryable`` says whether trying again later can help."""

    def __init__(self, message: str, *, retryable: bool, code: str = "") -> None:
        super().__init__(message)
        self.retryable = retryable
        self.code = code


class Deliverer(Protocol):
    """An outbound adapter: returns the provider's reference for the sent notice."""

    channel: Channel

    async def deliver(self, notice: Notice) -> str: ...
