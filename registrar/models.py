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
    ColumnElement,
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
    and_,
    false,
    literal_column,
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
    """In the city bureau's queue, not yet screened (R5.2)."""
    NOT_ACCEPTED = "not_accepted"
    """Screened out under Article 3 (R3.1–R3.9); final."""
    ACCEPTED = "accepted"
    """Screened in; to be classified (R4.3) and dispatched (R4.1)."""
    DISPATCHED = "dispatched"
    """At least one unit is handling it."""
    SPLIT = "split"
    """Divided into parts for several units (R8.7); waits for all parts."""
    ANSWERED = "answered"
    """Review passed (R8.4); waits for the publication decision (R9)."""
    CLOSED = "closed"
    """The result went to the citizen (and, if public, was published)."""
    STOPPED = "stopped"
    """Repeat item the city bureau stopped dispatching (R8.5b); final."""


class AssignmentState(StrEnum):
    """One unit's duty on a case (see DESIGN.md, the case and its assignments)."""

    QUEUED = "queued"
    """A bureau's copy of the item, waiting for its screening or dispatch."""
    DISPATCHED = "dispatched"
    READ = "read"
    DRAFTED = "drafted"
    APPROVED = "approved"
    """The unit leader approved the draft (R8.2c)."""
    SUBMITTED = "submitted"
    """Answer sent to the bureau, under review (R8.4a)."""
    PASSED = "passed"
    REDO = "redo"
    """Review failed; being redone (R8.4b)."""
    CONTRIBUTED = "contributed"
    """A co-handling unit gave its part to the lead unit (R8.6)."""
    RETURN_REQUESTED = "return_requested"
    DONE = "done"
    """A bureau's part is finished (dispatched onward, screened out, …)."""
    WITHDRAWN = "withdrawn"
    """Taken back from the unit (return accepted, case stopped, …)."""


class NoticeStatus(StrEnum):
    """Delivery state of one outbox row."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Classification(StrEnum):
    """R4.3: every accepted item is internal or public."""

    INTERNAL = "internal"
    PUBLIC = "public"
    CONSULTATION = "consultation"
    """A consultation the agent answered on the call from the knowledge base (咨询直办):
    registered like any item (R5), closed at once, never dispatched."""


class AssignmentRole(StrEnum):
    BUREAU = "bureau"
    """The city bureau's queue or a district bureau's copy."""
    LEAD = "lead"
    """The unit that answers (the only one, or the lead of several, R8.6)."""
    CO = "co"
    """A co-handling unit (R8.6)."""
    COORDINATION = "coordination"
    """The government office asked to coordinate a hard item (R8.8)."""


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
    leader_submits: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """The unit's setting: its leader's approval also sends the answer on (one step, R8.2c)."""


class Duty(StrEnum):
    """A person's duty in a unit (Article 10)."""

    PRINCIPAL = "principal"
    """主要领导: the unit's head, charged when responsibilities were not assigned (R10.3)."""
    LEADER = "leader"
    """分管领导: the leader in charge, approves answers (R8.2c, R10.1)."""
    HANDLER = "handler"
    """经办人: reads items and drafts answers (R8.1, R10.1)."""


class RosterEntry(Base):
    """Who held which duty in a unit, and when (R10.1, R10.2): history, never overwritten."""

    __tablename__ = "roster_entry"
    __table_args__ = (
        CheckConstraint(f"duty IN ({_values(Duty)})", name="duty"),
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
    prefers_call: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """答复方式：电话 — notices to this mobile are calls when the site calls out
    (``worker.voice_channel``); a landline is called whatever this says."""


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
        # Lists of one status in registration order stop after their page (bench/pages.py).
        Index("ix_case_status_registered_at", "status", "registered_at", "id"),
        Index("ix_case_sender", "sender"),
        Index("ix_case_reply_address", "reply_address"),
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
    emergency: Mapped[str | None] = mapped_column(String(64))
    screening_reason: Mapped[str | None] = mapped_column(String(8))
    classification: Mapped[str | None] = mapped_column(String(16))
    internal_reason: Mapped[str | None] = mapped_column(String(8))
    reserved: Mapped[bool] = mapped_column(Boolean, default=False)
    parent_case_id: Mapped[int | None] = mapped_column(ForeignKey("case.id"), index=True)
    unit_proposes_private: Mapped[bool] = mapped_column(Boolean, default=False)
    publication: Mapped[str | None] = mapped_column(String(16))
    answer_text: Mapped[str | None] = mapped_column(Text)
    published_text: Mapped[str | None] = mapped_column(Text)
    published_summary: Mapped[str | None] = mapped_column(Text)
    """The complaint as the public reads it (masked, edited by the bureau); the only text
    ``/answers`` shows or searches besides ``published_text``."""
    published_at: Mapped[datetime | None] = mapped_column(index=True)
    closed_at: Mapped[datetime | None]

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


OWING_STATES = (AssignmentState.DISPATCHED, AssignmentState.READ, AssignmentState.DRAFTED,
                AssignmentState.APPROVED, AssignmentState.REDO, AssignmentState.RETURN_REQUESTED)
"""What a unit still owes on a non-bureau assignment: the states its inbox lists."""


def inline(value: str) -> ColumnElement[str]:
    """``value`` written into the SQL, not bound: a partial index's predicate must be seen
    as such by the planner, which a parameter of a generic (prepared) plan is not."""
    return literal_column(f"'{value}'", String)


class Assignment(Base):
    """One unit's duty on a case, with its own state; its clocks are ``Deadline`` rows."""

    __tablename__ = "assignment"
    __table_args__ = (
        CheckConstraint(f"state IN ({_values(AssignmentState)})", name="state"),
        CheckConstraint(f"role IN ({_values(AssignmentRole)})", name="role"),
        Index("ix_assignment_unit_state", "unit_id", "state"),
        Index("ix_assignment_state", "state"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("assignment.id"))
    role: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]
    dispatched_by: Mapped[str | None] = mapped_column(String(64))
    return_until: Mapped[datetime | None]
    return_refused: Mapped[bool] = mapped_column(Boolean, default=False)
    return_reason: Mapped[str | None] = mapped_column(Text)
    proposed_unit: Mapped[str | None] = mapped_column(String(64))
    late_read: Mapped[bool] = mapped_column(Boolean, default=False)
    overdue_handling: Mapped[bool] = mapped_column(Boolean, default=False)
    expired_unhandled: Mapped[bool] = mapped_column(Boolean, default=False)
    answer_text: Mapped[str | None] = mapped_column(Text)
    answer_done: Mapped[str | None] = mapped_column(Text)
    answer_problems: Mapped[str | None] = mapped_column(Text)
    answer_measures: Mapped[str | None] = mapped_column(Text)
    proposes_private: Mapped[bool] = mapped_column(Boolean, default=False)
    approved_by: Mapped[str | None] = mapped_column(String(100))
    review_failures: Mapped[int] = mapped_column(Integer, default=0)
    review_comment: Mapped[str | None] = mapped_column(Text)


#: The inbox's rows (``desks.staff.pages_cases``): a unit's open non-bureau assignments, and its
#: drafts awaiting the leader. Each is the predicate of a partial index on (unit, created_at, id)
#: (migration 0022) that holds only open work, so a page is a walk of its first entries whatever
#: the history behind it; a query uses the index by repeating the predicate, values inline.
ASSIGNMENT_OWING = and_(Assignment.role != inline(AssignmentRole.BUREAU),
                        Assignment.state.in_([inline(s) for s in OWING_STATES]))
ASSIGNMENT_DRAFTED = and_(Assignment.role != inline(AssignmentRole.BUREAU),
                          Assignment.state == inline(AssignmentState.DRAFTED))
for _name, _where in (("ix_assignment_owing", ASSIGNMENT_OWING),
                      ("ix_assignment_drafted", ASSIGNMENT_DRAFTED)):
    Index(_name, Assignment.unit_id, Assignment.created_at, Assignment.id,
          postgresql_where=_where, sqlite_where=_where)

#: Consultations answered on the call (咨询直办), which the supervision desk counts apart by the
#: day they closed: the predicate of a partial index on ``closed_at`` (migration 0025), a few
#: rows a day, where an index on every case's ``closed_at`` would hold the whole history.
CASE_CONSULTATION = Case.classification == inline(Classification.CONSULTATION)
Index("ix_case_consultation_closed_at", Case.closed_at, postgresql_where=CASE_CONSULTATION,
      sqlite_where=CASE_CONSULTATION)


class DeadlineKind(StrEnum):
    """The clocks of the regulation, each stored as a row the sweeper checks."""

    DISPATCH = "dispatch"
    """R7.2 / R7.3: a bureau dispatches within 1 working day."""
    READ = "read"
    """R8.1: the unit reads and passes on within 2 working days."""
    ANSWER = "answer"
    """R8.2a: the unit answers within 10 working days of dispatch."""
    REVIEW = "review"
    """R8.4a: the bureau reviews within 2 working days."""
    REDO = "redo"
    """R8.4b: a failed answer is redone within 3 working days."""
    RETURN_DECISION = "return_decision"
    """R8.3d: the city bureau accepts a district's return within 1 working day, or it stays."""


class Deadline(Base):
    """One clock on one assignment: due, warned, met or missed (DESIGN.md: deadlines are data)."""

    __tablename__ = "deadline"
    __table_args__ = (
        CheckConstraint(f"kind IN ({_values(DeadlineKind)})", name="kind"),
        CheckConstraint("NOT cancelled OR (met_at IS NOT NULL AND NOT missed)", name="cancelled"),
        Index("ix_deadline_open_due", "met_at", "missed", "due_at"),
        Index("ix_deadline_open_warn", "met_at", "warned", "warn_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"), index=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignment.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    rule: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime]
    working_days: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[datetime]
    provisional: Mapped[bool] = mapped_column(Boolean, default=False)
    warn_at: Mapped[datetime]
    warned: Mapped[bool] = mapped_column(Boolean, default=False)
    met_at: Mapped[datetime | None]
    """When the clock stopped: the duty was done, or (``cancelled``) it went away."""
    missed: Mapped[bool] = mapped_column(Boolean, default=False)
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """Closed because the duty went away (withdrawn, released, taken back): neither met nor
    missed, so left out of every timeliness figure."""


#: The sweeper's claims (``forwarder.sweeper``): open clocks in order of ``due_at``, and those
#: not yet warned in order of ``warn_at``. Each is the predicate of a partial index on that
#: order (migration 0026): the planner cannot tell from its statistics that, of a history of
#: millions of clocks, only the last run's few open ones are due, and sorted all the open (or
#: all the past) ones; a walk of the index stops after a batch. A query repeats the predicate.
DEADLINE_OPEN = and_(Deadline.met_at.is_(None), Deadline.missed.is_(False))
DEADLINE_UNWARNED = and_(DEADLINE_OPEN, Deadline.warned.is_(False))
Index("ix_deadline_due_open", Deadline.due_at, Deadline.id,
      postgresql_where=DEADLINE_OPEN, sqlite_where=DEADLINE_OPEN)
Index("ix_deadline_warn_open", Deadline.warn_at, Deadline.id,
      postgresql_where=DEADLINE_UNWARNED, sqlite_where=DEADLINE_UNWARNED)

#: The bureau's queue (``desks.staff.pages_cases``): each section lists its assignments by their
#: unmet clock of one kind, most urgent first (a missed clock is unmet and still shown). The
#: predicate of a partial index on (kind, due_at, assignment_id) (migration 0027) that holds
#: only those clocks, so a section walks its kind in page order and stops at the page instead
#: of reading and sorting every open item in its state.
DEADLINE_UNMET = Deadline.met_at.is_(None)
Index("ix_deadline_unmet_kind_due", Deadline.kind, Deadline.due_at, Deadline.assignment_id,
      postgresql_where=DEADLINE_UNMET, sqlite_where=DEADLINE_UNMET)


class Event(Base):
    """Append-only log of everything that happened to a case (triggers refuse UPDATE/DELETE)."""

    __tablename__ = "event"
    __table_args__ = (Index("ix_event_case_id_at", "case_id", "at"),
                      Index("ix_event_action_at", "action", "at"))

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


EFFICIENCY_ACTIONS = ("late_read", "overdue_handling", "expired_unhandled", "unit_notified",
                      "efficiency_warning")
"""The events that charge a unit: the sweeper's consequences and the office's notices and
warnings (``forwarder.sweeper_consequences``, ``forwarder.charges``)."""
#: The supervision desk lists them newest first, 200 at most: the predicate of a partial index
#: on ``(at, id)`` (migration 0025) that a page walks backwards and stops at the limit, however
#: many the period holds (with ``(action, at)`` every one of the period was read and sorted).
EVENT_EFFICIENCY = Event.action.in_([inline(action) for action in EFFICIENCY_ACTIONS])
Index("ix_event_efficiency_at", Event.at, Event.id, postgresql_where=EVENT_EFFICIENCY,
      sqlite_where=EVENT_EFFICIENCY)


class Notice(Base):
    """The outbox: one message to send, with its delivery history."""

    __tablename__ = "notice"
    __table_args__ = (
        CheckConstraint(f"status IN ({_values(NoticeStatus)})", name="status"),
        Index("ix_notice_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case.id"), index=True)
    """None only for an SMS keyword answer that concerns no case ("not found", the help
    text, ``TD`` from a number that filed nothing): it still goes through the outbox
    so it is retried and leaves a trace, but has no case events and no fallback."""
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
    template_values: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    """The values ``text`` was rendered with from the ``kind`` template; a fallback to
    another channel renders them again. None for text not from a template."""


class Role(StrEnum):
    """What a person may do; checked together with the unit they belong to."""

    AGENT = "agent"
    CITY_BUREAU = "city_bureau"
    DISTRICT_BUREAU = "district_bureau"
    UNIT_HANDLER = "unit_handler"
    UNIT_LEADER = "unit_leader"
    DISCIPLINE = "discipline"
    EFFICIENCY = "efficiency"
    ADMIN = "admin"


class Account(Base):
    """A person who signs in to the desks or calls the API."""

    __tablename__ = "account"
    __table_args__ = (CheckConstraint(f"role IN ({_values(Role)})", name="role"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(32))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]


class ApiToken(Base):
    """A bearer token for the JSON API; only its SHA-256 is stored."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    label: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class Rating(Base):
    """A citizen's satisfaction with the answer to their own case (R12.1)."""

    __tablename__ = "rating"
    __table_args__ = (CheckConstraint("score BETWEEN 1 AND 5", name="score"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"), unique=True)
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]


class DeskSessionRecord(Base):
    """A signed-in desk session, so that logout, a password change or a deactivation ends
    every copy of its cookie; only the SHA-256 of the cookie's secret is stored."""

    __tablename__ = "desk_session"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    revoked_at: Mapped[datetime | None]


class ThrottleRecord(Base):
    """Attempts counted under one key (a sign-in address, an account, a case number), shared
    by every web process; rows expire, so the table stays bounded by recent traffic."""

    __tablename__ = "throttle"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    window_start: Mapped[datetime] = mapped_column(index=True)
    blocked_until: Mapped[datetime | None]


# The efficiency office's findings live in their own module; importing it here puts
# their tables on ``Base.metadata`` for every user of the models (and for Alembic).
# The Open311 channel's API clients likewise, the cockpit's summaries and bulletins, and the
# knowledge base, and the phone line's agents.
from registrar import (  # noqa: E402, F401
    models_agents,
    models_cockpit,
    models_knowledge,
    models_open311,
    models_supervision,
)
