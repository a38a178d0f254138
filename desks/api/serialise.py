"""Rows → JSON-ready dicts. Times are ISO 8601 with offset, in UTC as stored.

Only what the desks need is exposed: a case's identity fields are shown, since
every caller of the API is an authenticated member of the organisation who may
see the case (desks.access.permissions); nothing here is for the public.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from forwarder.allowed import Allowed
from registrar.models import Assignment, Case, Deadline, Event, Notice, Unit

Json = dict[str, Any]


def _t(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def case_summary(case: Case) -> Json:
    """One line of a search result."""
    return {
        "number": case.number, "status": case.status, "channel": case.channel,
        "received_at": _t(case.received_at), "registered_at": _t(case.registered_at),
        "classification": case.classification, "reserved": case.reserved,
        "district_hint": case.district_hint, "excerpt": case.text[:120],
    }


def case_full(case: Case) -> Json:
    """Everything stored on the case row that the desks use."""
    return {
        **case_summary(case),
        "text": case.text, "query_code": case.query_code, "sender": case.sender,
        "reply_address": case.reply_address, "display_name": case.display_name,
        "language": case.language, "public_allowed": case.public_allowed,
        "location_hint": case.location_hint, "notes": list(case.notes), "emergency": case.emergency,
        "screening_reason": case.screening_reason, "internal_reason": case.internal_reason,
        "unit_proposes_private": case.unit_proposes_private, "publication": case.publication,
        "answer_text": case.answer_text, "published_text": case.published_text,
        "published_at": _t(case.published_at), "closed_at": _t(case.closed_at),
    }


def assignment_json(assignment: Assignment, unit: Unit) -> Json:
    return {
        "id": assignment.id, "case_id": assignment.case_id,
        "unit": {"code": unit.code, "name": unit.name, "kind": unit.kind},
        "parent_id": assignment.parent_id, "role": assignment.role, "state": assignment.state,
        "created_at": _t(assignment.created_at), "dispatched_by": assignment.dispatched_by,
        "return_until": _t(assignment.return_until), "return_refused": assignment.return_refused,
        "return_reason": assignment.return_reason, "proposed_unit": assignment.proposed_unit,
        "late_read": assignment.late_read, "overdue_handling": assignment.overdue_handling,
        "expired_unhandled": assignment.expired_unhandled,
        "answer": {"text": assignment.answer_text, "done": assignment.answer_done,
                   "problems": assignment.answer_problems, "measures": assignment.answer_measures,
                   "proposes_private": assignment.proposes_private},
        "approved_by": assignment.approved_by, "review_failures": assignment.review_failures,
        "review_comment": assignment.review_comment,
    }


def deadline_json(deadline: Deadline) -> Json:
    return {
        "id": deadline.id, "assignment_id": deadline.assignment_id, "kind": deadline.kind,
        "rule": deadline.rule, "started_at": _t(deadline.started_at),
        "working_days": deadline.working_days, "due_at": _t(deadline.due_at),
        "provisional": deadline.provisional, "warn_at": _t(deadline.warn_at),
        "warned": deadline.warned, "met_at": _t(deadline.met_at), "missed": deadline.missed,
        # A clock whose duty went away: neither met nor missed, in no figure (R8.1, R11.1).
        "cancelled": deadline.cancelled,
    }


def event_json(event: Event) -> Json:
    return {
        "id": event.id, "assignment_id": event.assignment_id, "at": _t(event.at),
        "actor": event.actor, "action": event.action, "from": event.from_state,
        "to": event.to_state, "reason": event.reason, "deadline": _t(event.deadline),
        "data": event.data,
    }


def notice_json(notice: Notice) -> Json:
    return {
        "id": notice.id, "kind": notice.kind, "channel": notice.channel, "address": notice.address,
        "text": notice.text, "status": notice.status, "attempts": notice.attempts,
        "created_at": _t(notice.created_at), "sent_at": _t(notice.sent_at),
    }


def unit_json(unit: Unit) -> Json:
    return {"code": unit.code, "name": unit.name, "kind": unit.kind, "district": unit.district,
            "parent": unit.parent_code}


def allowed_json(allowed: Allowed) -> Json:
    """One entry of a case's action list: ``reason`` and ``code`` say why not, when not."""
    return {"action": allowed.action, "target": allowed.target, "ok": allowed.ok,
            "reason": allowed.reason or None, "code": allowed.code or None,
            "choices": list(allowed.choices)}
