"""Typed SQLAlchemy models. Invariants are database constraints where a database can hold them.

Datetimes are stored timezone-aware; SQLite hands them back naive (UTC), so
``UTCDateTime`` normalises at the model edge and every value read is aware.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite's INTEGER PRIMARY KEY is its rowid; BIGINT elsewhere.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use an aware one")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime, dict[str, Any]: JSON, list[str]: JSON,
    }


def _values(enum: type[StrEnum]) -> str:
    return ", ".join(f"'{m.value}'" for m in enum)


class CaseStatus(StrEnum):
    """The case as a whole; the workflow refines it through assignments."""

    REGISTERED = "registered"
    NOT_ACCEPTED = "not_accepted"
    OPEN = "open"
    ANSWERED = "answered"
    PUBLISHED = "published"
    CLOSED = "closed"


class AssignmentState(StrEnum):
    """One unit's duty on a case (see DESIGN.md, the case and its assignments)."""

    QUEUED = "queued"
    DISPATCHED = "dispatched"
    READ = "read"
    DRAFTED = "drafted"
    APPROVED = "approved"
    ANSWERED = "answered"
    UNDER_REVIEW = "under_review"
    PASSED = "passed"
    REDO = "redo"
    RETURN_REQUESTED = "return_requested"
    RETURNED = "returned"
    DONE = "done"
    WITHDRAWN = "withdrawn"


class NoticeStatus(StrEnum):
    """Delivery state of one outbox row."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Unit(Base):
    """A bureau, department or office (config/organisation.toml is the source)."""

    __tablename__ = "unit"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    district: Mapped[str | None] = mapped_column(String(64))
    parent_code: Mapped[str | None] = mapped_column(String(64))
    keywords: Mapped[list[str]] = mapped_column(default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class RosterEntry(Base):
    """Who held which duty in a unit, and when (R10.1, R10.2): history, never overwritten."""

    __tablename__ = "roster_entry"
    __table_args__ = (
        CheckConstraint("duty IN ('leader', 'handler')", name="duty"),
        CheckConstraint("valid_to IS NULL OR valid_to > valid_from", name="period"),
        Index("ix_roster_entry_unit_current", "unit_id", "valid_to"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    person_name: Mapped[str] = mapped_column(String(100))
    duty: Mapped[str] = mapped_column(String(16))
    valid_from: Mapped[datetime]
    valid_to: Mapped[datetime | None]
    reported_by: Mapped[str | None] = mapped_column(String(100))


class Contact(Base):
    """A way to reach a citizen (phone, email, fax); a citizen may leave several."""

    __tablename__ = "contact"
    __table_args__ = (
        UniqueConstraint("kind", "address", name="uq_contact_kind_address"),
        CheckConstraint("kind IN ('phone', 'email', 'fax')", name="kind"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(320))
    display_name: Mapped[str | None] = mapped_column(String(100))
    opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]


class CaseContact(Base):
    """Every way the citizen of a case can be reached, in the order to try them."""

    __tablename__ = "case_contact"

    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"), primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contact.id"), primary_key=True)
    rank: Mapped[int] = mapped_column(Integer)


class CaseSequence(Base):
    """The last case number given on one local day; a row lock makes numbers gap-free."""

    __tablename__ = "case_sequence"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    last: Mapped[int] = mapped_column(Integer)


class Case(Base):
    """One citizen item as registered (R5.1): one record per item, on any channel."""

    __tablename__ = "case"
    __table_args__ = (
        UniqueConstraint("channel", "external_id", name="uq_case_channel_external_id"),
        CheckConstraint(f"status IN ({_values(CaseStatus)})", name="status"),
        Index("ix_case_registered_at", "registered_at"),
        Index("ix_case_sender", "sender"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    query_code: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(255))
    received_at: Mapped[datetime]
    registered_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(32), default=CaseStatus.REGISTERED)
    text: Mapped[str] = mapped_column(Text)
    sender: Mapped[str | None] = mapped_column(String(320))
    reply_address: Mapped[str | None] = mapped_column(String(320))
    display_name: Mapped[str | None] = mapped_column(String(100))
    language: Mapped[str] = mapped_column(String(16))
    public_allowed: Mapped[bool] = mapped_column(Boolean)
    district_hint: Mapped[str | None] = mapped_column(String(64))
    location_hint: Mapped[str | None] = mapped_column(String(500))
    notes: Mapped[list[str]] = mapped_column(default=list)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contact.id"))

    attachments: Mapped[list[AttachmentRecord]] = relationship(lazy="raise", order_by="AttachmentRecord.id")


class AttachmentRecord(Base):
    """A stored file of a case; the bytes live on disk under their sha256."""

    __tablename__ = "attachment"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)


class Assignment(Base):
    """One unit's duty on a case, with its own state and clocks (DESIGN.md)."""

    __tablename__ = "assignment"
    __table_args__ = (
        CheckConstraint(f"state IN ({_values(AssignmentState)})", name="state"),
        Index("ix_assignment_unit_state", "unit_id", "state"),
        Index("ix_assignment_due_at", "due_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    role: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]
    due_at: Mapped[datetime | None]
    due_provisional: Mapped[bool] = mapped_column(Boolean, default=False)


class Event(Base):
    """Append-only log of everything that happened to a case (triggers refuse UPDATE/DELETE)."""

    __tablename__ = "event"
    __table_args__ = (Index("ix_event_case_id_at", "case_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"))
    assignment_id: Mapped[int | None] = mapped_column(ForeignKey("assignment.id"))
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    from_state: Mapped[str | None] = mapped_column(String(32))
    to_state: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)
    deadline: Mapped[datetime | None]
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Notice(Base):
    """The outbox: one message to send, with its delivery history."""

    __tablename__ = "notice"
    __table_args__ = (
        CheckConstraint(f"status IN ({_values(NoticeStatus)})", name="status"),
        Index("ix_notice_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(32))
    address: Mapped[str | None] = mapped_column(String(320))
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=NoticeStatus.PENDING)
    essential: Mapped[bool] = mapped_column(Boolean, default=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    provider_ref: Mapped[str | None] = mapped_column(String(255), index=True)
    last_error: Mapped[str | None] = mapped_column(Text)
