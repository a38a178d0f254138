"""Agents' presence over the database: the console's side and the phone line's (``AgentLine``).

The console sets an agent's SIP address and status (available / away) and
marks the console seen while its websocket is open; the phone line claims the
agent idle longest for a call, renews the claim's lease while the call goes on
and releases it at the end. Every change is one conditional ``UPDATE`` (no
read-then-write), so two SIP processes never claim one agent for two calls,
on SQLite as on PostgreSQL. A claim whose lease ran out (its line crashed)
counts as available: nobody stays "on a call" forever.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contract.agents import AgentStatus, OfferedAgent
from contract.clock import Clock
from registrar.models_agents import AgentPresenceRecord as Row

log = logging.getLogger(__name__)

Sessions = Callable[[], async_sessionmaker[AsyncSession]]
OnChange = Callable[[str, AgentStatus], Awaitable[None]]
"""Told ``(username, status)`` after each change, to update that agent's open consoles."""

CLAIM_TRIES = 5
"""Candidates tried when others' claims win the race for the first ones."""


@dataclass(frozen=True, slots=True)
class Presence:
    """An agent's presence as the console shows it (the status with lapsed leases read)."""

    username: str
    sip_uri: str
    status: AgentStatus
    since: datetime


def _free(now: datetime) -> ColumnElement[bool]:
    """Available, or held by a call whose line stopped renewing its lease."""
    return or_(Row.status == AgentStatus.AVAILABLE.value,
               and_(Row.status == AgentStatus.ON_CALL.value, Row.lease_until < now))


class AgentPresence:
    """``contract.agents.AgentLine`` plus what the console needs; sessions made on demand."""

    def __init__(self, sessions: Sessions, clock: Clock, on_change: OnChange | None = None) -> None:
        self._sessions, self._clock, self._on_change = sessions, clock, on_change

    async def _told(self, username: str, status: AgentStatus) -> None:
        if self._on_change is None:
            return
        try:
            await self._on_change(username, status)
        except Exception:  # the console catches up on its next poll; the call goes on
            log.exception("agent %s: could not tell the console it is %s", username, status)

    def _view(self, row: Row, now: datetime) -> Presence:
        status = AgentStatus(row.status)
        if status is AgentStatus.ON_CALL and row.lease_until is not None and row.lease_until < now:
            status = AgentStatus.AVAILABLE
        return Presence(row.username, row.sip_uri, status, row.since)

    # The console -------------------------------------------------------------------------------

    async def get(self, username: str) -> Presence | None:
        async with self._sessions()() as session:
            row = await session.get(Row, username)
            return None if row is None else self._view(row, self._clock.now())

    async def set_address(self, username: str, sip_uri: str) -> Presence:
        """Remember the agent's phone; a first address makes the agent available."""
        now = self._clock.now()
        for _ in range(2):  # two tabs saving at once: the second insert finds the first's row
            try:
                async with self._sessions().begin() as session:
                    row = await session.get(Row, username, with_for_update=True)
                    if row is None:
                        row = Row(username=username, sip_uri=sip_uri, since=now, console_seen=now,
                                  status=AgentStatus.AVAILABLE.value)
                        session.add(row)
                    else:
                        row.sip_uri = sip_uri
                    view = self._view(row, now)
                break
            except IntegrityError:
                continue
        await self._told(username, view.status)
        return view

    async def set_status(self, username: str, status: AgentStatus) -> Presence | None:
        """The agent's own choice, available or away; None before they gave an address.

        Going away during a call keeps the call (the line releases it into "away");
        coming back while a call still holds the agent changes nothing.
        """
        if status is AgentStatus.ON_CALL:
            raise ValueError("only the phone line puts an agent on a call")
        now = self._clock.now()
        async with self._sessions().begin() as session:
            row = await session.get(Row, username, with_for_update=True)
            if row is None:
                return None
            held = self._view(row, now).status is AgentStatus.ON_CALL
            if status is AgentStatus.AWAY or not held:
                row.status, row.since = status.value, now
                row.call_key = row.lease_until = None
            view = self._view(row, now)
        await self._told(username, view.status)
        return view

    async def seen(self, usernames: Collection[str]) -> None:
        """These agents' consoles are connected now (a web process renews this while they are)."""
        if not usernames:
            return
        async with self._sessions().begin() as session:
            await session.execute(update(Row).where(Row.username.in_(list(usernames)))
                                  .values(console_seen=self._clock.now()))

    # The phone line (``AgentLine``) -------------------------------------------------------------

    async def claim(self, call: str, *, skip: Collection[str], console_grace: timedelta,
                    lease: timedelta) -> OfferedAgent | None:
        now = self._clock.now()
        wanted = (_free(now), Row.sip_uri != "", Row.console_seen >= now - console_grace)
        async with self._sessions()() as session:
            candidates = (await session.execute(
                select(Row.username, Row.sip_uri).where(*wanted, Row.username.not_in(list(skip)))
                .order_by(Row.since, Row.username).limit(CLAIM_TRIES))).all()
        for username, sip_uri in candidates:
            async with self._sessions().begin() as session:
                won = (await session.execute(
                    update(Row).where(Row.username == username, *wanted)
                    .values(status=AgentStatus.ON_CALL.value, since=now, call_key=call,
                            lease_until=now + lease).returning(Row.username))).scalar_one_or_none()
            if won is not None:
                await self._told(username, AgentStatus.ON_CALL)
                return OfferedAgent(username, sip_uri)
        return None

    async def release(self, username: str, call: str) -> None:
        now = self._clock.now()
        async with self._sessions().begin() as session:
            done = (await session.execute(
                update(Row).where(Row.username == username, Row.call_key == call,
                                  Row.status == AgentStatus.ON_CALL.value)
                .values(status=AgentStatus.AVAILABLE.value, since=now, call_key=None,
                        lease_until=None).returning(Row.username))).scalar_one_or_none()
        if done is not None:
            await self._told(username, AgentStatus.AVAILABLE)

    async def renew(self, holds: Mapping[str, str], lease: timedelta) -> None:
        if not holds:
            return
        until = self._clock.now() + lease
        async with self._sessions().begin() as session:
            for call, username in holds.items():
                await session.execute(update(Row).where(
                    Row.username == username, Row.call_key == call,
                    Row.status == AgentStatus.ON_CALL.value).values(lease_until=until))
