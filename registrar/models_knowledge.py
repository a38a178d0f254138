"""The knowledge base agents answer consultations from (咨询直办, issue 13 item 2).

Policy entries the city bureau maintains on its desk: a title, the answer to read out,
its category, the document or office it rests on, and the days it is valid. Published
answers are the other half of the knowledge base; they stay where they are (the
``case`` table) and are searched there. Imported by ``registrar.models`` so Alembic
and the migration test see the table.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from registrar.models import Base, BigId


class KnowledgeEntry(Base):
    """One policy answer; an entry past ``valid_until`` or retired is kept but never offered."""

    __tablename__ = "knowledge_entry"
    __table_args__ = (
        CheckConstraint("valid_until IS NULL OR valid_until >= valid_from", name="period"),
        Index("ix_knowledge_entry_category", "category"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(200))
    """What the answer rests on: a document's name and number, or the office that said so."""
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    """The unit that maintains the entry (the city bureau)."""
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    retired_at: Mapped[datetime | None]
