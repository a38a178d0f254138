"""The phone line's agents: who may be offered a call, and the line's hold on them.

Agents give their phone's SIP address on the console and say whether they take
calls (available / away); the phone line marks an agent "on a call" while it
rings or bridges a call to them. Presence lives in the database
(``registrar.agents``) so every SIP worker pool and every web process sees the
same agents; a channel reaches it only through ``AgentLine``. A hold is a
lease: a line that dies holding an agent lets go of them when the lease runs
out, so nobody stays "on a call" forever.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Protocol

SIP_URI_MAX = 200
SIP_URI = re.compile(
    r"sips?:[A-Za-z0-9._~+!$&'()*,=%-]+@[A-Za-z0-9.\-]+(:[0-9]{1,5})?(;[A-Za-z0-9._=-]+)*")
"""``sip:user@host[:port][;param=value…]``: no spaces, quotes or angle brackets (it is shown
on pages and dialled by the workers), hosts by name or IPv4."""


def sip_uri_problem(text: str) -> str | None:
    """Why ``text`` is no SIP address an agent's phone can be called at (None: it is one)."""
    if len(text) > SIP_URI_MAX:
        return f"SIP 地址太长（最多 {SIP_URI_MAX} 个字符）"
    if not SIP_URI.fullmatch(text):
        return "不是有效的 SIP 地址，应形如 sip:agent1@10.0.0.21:5060"
    return None


def checked_sip_uri(value: object) -> tuple[str, str | None]:
    """The address an agent typed, trimmed, and why it cannot be used (None: it can).

    The one check for every place an agent gives their phone (the console's field,
    the sign-in form), so both accept and refuse the same addresses in the same words.
    """
    if not isinstance(value, str):
        return "", "SIP 地址应为文字"
    text = value.strip()
    return text, sip_uri_problem(text)


class AgentStatus(StrEnum):
    """What an agent is doing, as the console shows it."""

    AVAILABLE = "available"
    ON_CALL = "on_call"
    AWAY = "away"


STATUS_TEXT = {AgentStatus.AVAILABLE: "空闲（可接来电）", AgentStatus.ON_CALL: "通话中",
               AgentStatus.AWAY: "离开（暂不接来电）"}


@dataclass(frozen=True, slots=True)
class OfferedAgent:
    """An agent the line holds for one call: whose console pops, which phone rings."""

    username: str
    sip_uri: str


class AgentLine(Protocol):
    """The line's side of agent presence (``registrar.agents.AgentPresence``)."""

    async def claim(self, call: str, *, skip: Collection[str], console_grace: timedelta,
                    lease: timedelta) -> OfferedAgent | None:
        """Hold the agent idle longest for ``call``: available (or on a lapsed lease), with a
        SIP address, a console seen within ``console_grace``, not in ``skip``. None: nobody."""
        ...

    async def release(self, username: str, call: str) -> None:
        """The call is over (or the agent never answered): available again, unless the agent
        went away meanwhile or another call holds them now."""
        ...

    async def renew(self, holds: Mapping[str, str], lease: timedelta) -> None:
        """Extend the leases of the calls still going (call → username)."""
        ...
