"""The efficiency office's findings (R11.2b) and its decisions on them, with history.

A finding is one charge: a unit (and the person responsible in it) charged
for 逾期办理 or 过期未处理, or a notice (通报) the office issued by hand. R11.2b
charges only failures caused by people (因人为原因), which someone must judge,
so the sweeper's charge is provisional: the office confirms or waives it with a
reason, and for a joint item judges whether the lead unit's refusal had good
reason. The charged unit may contest a finding once, within a configurable number
of working days; its contest is a decision row like the office's, and the
office's answer (uphold or withdraw) follows it. Every decision is a
``FindingDecision`` row, never an overwrite; the finding keeps only the outcome
the figures read.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from registrar.models import Base, BigId, _values


class FindingStatus(StrEnum):
    """Where the office stands on a finding."""

    CHARGED = "charged"
    """Charged by the rules, not judged yet (provisional)."""
    CONFIRMED = "confirmed"
    """Judged caused by people (因人为原因): the charge stands."""
    WAIVED = "waived"
    """Judged not caused by people: no charge, left out of figures and ranking."""
    CONTESTED = "contested"
    """The unit contested it in time; it stands until the office upholds or withdraws it."""
    WITHDRAWN = "withdrawn"
    """Withdrawn by the office on the unit's contest: out of figures, ranking and reports."""


class FindingKind(StrEnum):
    R11_2B = "R11.2b"
    """逾期办理 or 过期未处理, charged by the rules."""
    NOTICE = "notice"
    """A notice (通报) the efficiency office issued by hand (R11.1, R11.2)."""
    CALLBACK = "callback"
    """A dissatisfied call-back (回访不满意) the city bureau submitted to the office (R12)."""


class Decision(StrEnum):
    CONFIRM = "confirm"
    WAIVE = "waive"
    LEAD_UNJUSTIFIED = "lead_unjustified"
    """The lead unit refused the joint item without good reason: it is charged."""
    LEAD_JUSTIFIED = "lead_justified"
    """The lead unit's refusal had good reason: the unit that was late is charged."""
    ISSUE = "issue"
    """The office issued the finding itself (a hand notice)."""
    CONTEST = "contest"
    """The charged unit contests the notice or warning, with its reason (by the unit)."""
    UPHOLD = "uphold"
    """The office rejects the contest: the finding stands, confirmed."""
    WITHDRAW = "withdraw"
    """The office accepts the contest: the finding is withdrawn."""


class Finding(Base):
    """One charge against a unit; its status is the latest decision's outcome."""

    __tablename__ = "finding"
    __table_args__ = (
        CheckConstraint(f"status IN ({_values(FindingStatus)})", name="status"),
        CheckConstraint(f"kind IN ({_values(FindingKind)})", name="kind"),
        UniqueConstraint("assignment_id", "kind", name="uq_finding_assignment_id_kind"),
        Index("ix_finding_unit_id_status", "unit_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case.id"), index=True)
    assignment_id: Mapped[int | None] = mapped_column(ForeignKey("assignment.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    """The unit charged (the lead unit of a joint item it refused, R11.2b)."""
    late_unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"))
    """The unit whose clock ran out, when another (the lead) is charged instead."""
    status: Mapped[str] = mapped_column(String(16))
    persons: Mapped[list[str]] = mapped_column(default=list)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]


class FindingDecision(Base):
    """A decision on a finding, who took it and why: the history, append-only."""

    __tablename__ = "finding_decision"
    __table_args__ = (CheckConstraint(f"decision IN ({_values(Decision)})", name="decision"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    finding_id: Mapped[int] = mapped_column(ForeignKey("finding.id"), index=True)
    decision: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    decided_by: Mapped[str] = mapped_column(String(100))
    """``name@unit``: an office's staff member, or the unit's for a contest."""
    office_unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"))
    at: Mapped[datetime]
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
