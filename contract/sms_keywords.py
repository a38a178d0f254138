"""Keywords citizens text to the hotline, shared by every SMS channel.

``CX <case number>`` (or ``查询 <case number>``) asks for the status of a case;
``TD`` (or ``退订``) stops non-essential notices for the sending number.
Anything else is an item for the hotline. Parsing is strict on purpose: only
a message that is *nothing but* the keyword (plus a case number for a query)
is a command, so "查询一下社保怎么交" stays a citizen's question and becomes
a case. Full-width letters, digits and punctuation are folded first (NFKC),
because Chinese input methods produce ``ＣＸ　ＦＺ１２３４５``.

The answers themselves come from an ``SmsCommands`` object the composition
root supplies; a channel never reads cases itself.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class CaseQuery:
    """``CX FZ12345-20261124-000017``: the citizen asks about one case."""

    case_number: str


@dataclass(frozen=True, slots=True)
class QueryHelp:
    """``CX`` or ``查询`` without a usable case number: answer how to ask."""


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    """``TD`` / ``退订``: no more non-essential notices to this number."""


Keyword = CaseQuery | QueryHelp | Unsubscribe


@dataclass(frozen=True, slots=True)
class RatingTaken:
    """What ``SmsCommands.rate`` made of a possible rating reply.

    ``taken`` False: the number has no open rating request, so the message is an
    ordinary item and the channel registers it. Otherwise ``reply`` is as for the
    other commands (the text to answer in reply, or None when queued).
    """

    taken: bool
    reply: str | None = None

QUERY_HELP_TEXT = (
    "【12345】查询办理进度请发送“CX 受理编号”，例如：CX FZ12345-20261124-000017。"
    "退订通知请回复 TD。"
)

# Case numbers look like FZ12345-20261124-000017; older or other cities' ones
# may lack dashes. A token qualifies when it has at least four digits.
_CASE_NUMBER = re.compile(r"[A-Z]{0,12}[0-9][0-9A-Z-]{3,39}")
_QUERY = re.compile(r"(?:CX|查询)[\s:：#＃]*(?P<rest>.*)", re.DOTALL)
_UNSUBSCRIBE = frozenset({"TD", "退订", "T D"})
_TRAILING = " \t\r\n.。!！?？,，;；"


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().strip(_TRAILING).upper()


def parse_keyword(text: str) -> Keyword | None:
    """Return the command an SMS carries, or None when it is an ordinary item."""
    folded = _fold(text)
    if not folded:
        return None
    if " ".join(folded.split()) in _UNSUBSCRIBE:
        return Unsubscribe()
    match = _QUERY.fullmatch(folded)
    if match is None:
        return None
    rest = match.group("rest").strip()
    if not rest:
        return QueryHelp()
    number = rest.replace(" ", "")
    if _CASE_NUMBER.fullmatch(number) and sum(c.isdigit() for c in number) >= 4:
        return CaseQuery(case_number=number)
    # "查询社保缴费" or "CX road is broken": words after the keyword make it an item.
    return None


#: A reply to a rating request (R12 回访): the choice 1 满意, 2 基本满意, 3 不满意.
_RATINGS = {"1": 1, "2": 2, "3": 3, "满意": 1, "滿意": 1, "基本满意": 2, "基本滿意": 2,
            "不满意": 3, "不滿意": 3}


def parse_rating(text: str) -> int | None:
    """The choice (1–3) a message that is *only* a rating reply carries, else None.

    Kept apart from ``parse_keyword`` on purpose: a bare "1" is a rating only when
    the number was asked for one, which the channel cannot know; it asks
    ``SmsCommands.rate`` and registers the message as an item when that declines.
    """
    return _RATINGS.get(_fold(text).replace(" ", ""))


class SmsCommands(Protocol):
    """Answers to keyword messages; implemented by the composition root.

    Every reply is recorded in the outbox like every notice, on its case when it
    concerns one and case-less otherwise (an unknown number, the help text,
    nothing filed from this phone). With ``in_reply`` the channel answers in its
    response (Twilio's TwiML): the reply is returned and recorded as sent in
    reply. Without it (the modem) the reply is queued for the outbox and
    ``None`` is returned: the channel never sends a reply itself, so a modem that
    is down delays the answer instead of losing it. All may raise
    ``contract.envelope.TryLater`` when the store is down (the SMS is then kept
    and handled again later).
    """

    async def case_status(self, case_number: str, sender_e164: str, *, channel: str,
                          in_reply: bool) -> str | None:
        """Status of ``case_number``, revealed only to the number that filed it."""
        ...

    async def query_help(self, sender_e164: str, *, channel: str,
                         in_reply: bool) -> str | None:
        """How to ask (``QUERY_HELP_TEXT``) for a bare ``CX``; returned or queued as above."""
        ...

    async def unsubscribe(self, sender_e164: str, *, channel: str,
                          in_reply: bool) -> str | None:
        """Stop non-essential notices to ``sender_e164``; the confirmation, as above."""
        ...

    async def rate(self, choice: int, sender_e164: str, *, channel: str,
                   in_reply: bool) -> RatingTaken:
        """Record ``choice`` on the case ``sender_e164`` was asked to rate, if one is open."""
        ...
