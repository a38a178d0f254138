"""API clients of the Open311 channel: one row per partner app, its key stored only hashed.

Kept beside the other models (imported by ``registrar.models``) so Alembic and
the migration test see the table; the channel itself never reads it: the
composition root checks keys for it through the ``ApiKeys`` port.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from registrar.models import Base, BigId


class Open311Client(Base):
    """A partner app allowed to file requests through Open311; ``key_sha256`` of its key only,
    so a leaked database does not leak working keys. Revoked rows stay for the record."""

    __tablename__ = "open311_client"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    key_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
