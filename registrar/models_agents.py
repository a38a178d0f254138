"""Agents' presence for the phone line: each agent's SIP address, status and console liveness.

One row per agent who has opened the console. Shared through the database so
that a pool of SIP workers in other processes (``hotline serve --only sip``)
and every web process holding a console see the same agents. Imported by
``registrar.models`` so Alembic and the migration test see the table.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from contract.agents import AgentStatus
from registrar.models import Base


class AgentPresenceRecord(Base):
    """An agent's phone and whether the line may ring it."""

    __tablename__ = "agent_presence"
    __table_args__ = (CheckConstraint(
        "status IN (" + ", ".join(f"'{s.value}'" for s in AgentStatus) + ")", name="status"),)

    username: Mapped[str] = mapped_column(String(64), ForeignKey("account.username"),
                                          primary_key=True)
    sip_uri: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(16))
    since: Mapped[datetime]
    """When the status last changed: the available agent with the oldest one is offered first."""
    call_key: Mapped[str | None] = mapped_column(String(64))
    """The call that holds the agent (status ``on_call``)."""
    lease_until: Mapped[datetime | None]
    """``on_call`` counts only until then; the line renews it while the call goes on."""
    console_seen: Mapped[datetime | None]
    """Last time a web process saw the agent's console connected (renewed while it is)."""
