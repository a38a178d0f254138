"""The workflow's rules about *who* and *when*, as pure functions of stored rows.

The workflow functions (``workflow.py``, ``workflow_special.py``) and the one
answer to "what may this principal do now" (``forwarder.allowed``) both take
these from here, so a rule such as "the district bureau reviews its own units'
answers unless the item is reserved" is written once, and the desks, the API's
action list, the CLI and the permission matrix can never drift from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from config.organisation import UnitKind
from forwarder.words import did, said
from registrar.models import (
    Assignment,
    AssignmentRole,
    Case,
    Classification,
    Deadline,
    DeadlineKind,
    Role,
    Unit,
)

R = Role
CITY_LEVEL = frozenset({UnitKind.CITY_UNIT, UnitKind.DISCIPLINE, UnitKind.EFFICIENCY,
                        UnitKind.GOV_OFFICE})
"""Units the city bureau dispatches to directly and reviews itself (R7.2, R8.4a)."""
HANDLING_KINDS = CITY_LEVEL | {UnitKind.DISTRICT_UNIT}
"""Units that handle an item (lead or co-handle), as opposed to bureaus that pass it on."""

HANDLERS = frozenset({R.UNIT_HANDLER, R.UNIT_LEADER, R.DISCIPLINE, R.EFFICIENCY})
BUREAUS = frozenset({R.CITY_BUREAU, R.DISTRICT_BUREAU})

#: action → the roles that may ask for it at all (the first check, 403 otherwise). The
#: unit checks and the state come after, in the workflow (``forwarder.allowed`` says which).
ACTION_ROLES: dict[str, frozenset[Role]] = {
    "not_accept": frozenset({R.CITY_BUREAU}),
    "accept": frozenset({R.CITY_BUREAU}),
    "accept_dispatch": frozenset({R.CITY_BUREAU}),
    "dispatch": BUREAUS,
    "split": frozenset({R.CITY_BUREAU}),
    "escalate": BUREAUS,
    "stop": frozenset({R.CITY_BUREAU}),
    "publication": BUREAUS,
    "repeats": BUREAUS | {R.AGENT, R.EFFICIENCY, R.ADMIN},
    "read": HANDLERS,
    "draft": HANDLERS,
    "approve": frozenset({R.UNIT_LEADER}),
    "approve_submit": frozenset({R.UNIT_LEADER}),
    "submit": HANDLERS,
    "return": HANDLERS | {R.DISTRICT_BUREAU},
    "return_decision": BUREAUS,
    "review": BUREAUS,
    "coordinate": HANDLERS,
    # R12 回访: the city bureau closes a dissatisfied call-back (review, redo, efficiency office).
    "callback_follow_up": frozenset({R.CITY_BUREAU}),
    # The efficiency office's findings (R11.2b, R11.1; issue 15.3): who may list them (each
    # sees its scope, desks.api.findings), judge them, issue a notice, contest its own.
    "findings": frozenset({R.EFFICIENCY, R.UNIT_HANDLER, R.UNIT_LEADER, R.CITY_BUREAU, R.ADMIN}),
    "decide_finding": frozenset({R.EFFICIENCY}),
    "hand_notice": frozenset({R.EFFICIENCY}),
    "contest_finding": frozenset({R.UNIT_HANDLER, R.UNIT_LEADER}),
}


def role_refusal(role: str, action: str) -> str | None:
    """Why a ``role`` account may not ask for ``action`` at all; None when it may."""
    if role in ACTION_ROLES[action]:
        return None
    return f"{said(role)}账号不能{did(action)}"


def reviewer_code(case: Case, unit: Unit) -> str | None:
    """Who reviews ``unit``'s answer: the code of its district bureau, or None for the
    city bureau (R8.4a: the bureau of the same level; R8.4d: the city for reserved items)."""
    if case.reserved or unit.kind in CITY_LEVEL or not unit.parent_code:
        return None
    return unit.parent_code


def decider_code(assignment: Assignment, unit: Unit) -> str | None:
    """Who decides ``assignment``'s return: the bureau that dispatched it (R8.3b, R8.3c),
    as the code of a district bureau, or None for the city bureau."""
    if assignment.role == AssignmentRole.BUREAU or unit.kind in CITY_LEVEL or not unit.parent_code:
        return None
    return unit.parent_code


def return_window_refusal(assignment: Assignment, now: datetime) -> str | None:
    """R8.3a/R8.3b/R8.3c: why the unit may no longer ask to return the item; None while it may."""
    if assignment.return_refused:
        return "R8.3b: 信访局已不同意退回，本单位须继续办理"
    if assignment.return_until is not None and now >= assignment.return_until:
        rule = "R8.3c" if assignment.role == AssignmentRole.BUREAU else "R8.3a"
        return f"{rule}: 申请退回的期限已于 {assignment.return_until:%Y-%m-%d %H:%M} 届满"
    return None


def late_return_decision(deadlines: Sequence[Deadline],
                         assignment: Assignment, now: datetime) -> str | None:
    """R8.3d: why the city bureau may no longer *accept* a district's return (its day ran
    out, recorded by the sweeper or not); None while it may. Refusing stays open."""
    for d in deadlines:
        if (d.assignment_id == assignment.id and d.kind == DeadlineKind.RETURN_DECISION
                and d.met_at is None and d.due_at <= now):
            return (f"R8.3d: 同意退回的期限已于 {d.due_at:%Y-%m-%d %H:%M} 届满，"
                    "未答复即视为不同意，由区里继续办理")
    return None


def publication_choices(case: Case) -> tuple[str, ...]:
    """What the bureau may decide for an answered item: R9.2a internal → the original
    channel only; R9.2b the unit proposed not publishing → either; R9.3 otherwise publish."""
    if case.classification == Classification.INTERNAL:
        return ("original_only",)
    if case.unit_proposes_private:
        return ("publish", "original_only")
    return ("publish",)


def publication_refusal(case: Case, publish: bool) -> str | None:
    """Why ``publish`` is not a decision the bureau may take for ``case``; None if it is."""
    if ("publish" if publish else "original_only") in publication_choices(case):
        return None
    if publish:
        return "R9.2a: 内部办理的事项不在网上公开"
    return "R9.3: 网上公开办理的事项应予公开，除非承办单位建议不公开"
