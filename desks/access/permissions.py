"""Who may see which case, and the check that the role may ask for an action.

Two layers, checked in this order by every handler:

1. the role may ask for the action at all (``require_role``, from the workflow's
   ``forwarder.guards.ACTION_ROLES``: 403 otherwise);
2. the case is visible to the caller (``visible``: 404 otherwise, never 403, so
   the existence of a case the caller may not see is not revealed).

The workflow then checks the unit (``require_unit``): a bureau acts only on
its own queue, a unit only on its own assignment. Visibility follows DESIGN.md
invariant 6: the city bureau, the city efficiency office and admins see all; a
district bureau the cases of itself and its units; a unit those assigned to
it; an agent every case that is not internal; nobody else an internal case.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import ColumnElement, and_, exists, false, or_, select, true
from sqlalchemy.orm import aliased

from desks.access.errors import ApiError
from desks.access.principal import Principal
from forwarder.guards import HANDLERS, role_refusal
from registrar.models import Assignment, Case, Classification, Role, Unit

R = Role


def require_role(principal: Principal, action: str) -> None:
    """403 unless the caller's role may ask for ``action`` (the workflow's table)."""
    refusal = role_refusal(principal.role, action)
    if refusal:
        raise ApiError.forbidden(refusal)


UnitTest = Callable[[type[Unit]], ColumnElement[bool]]


def assigned_to(condition: UnitTest) -> ColumnElement[bool]:
    """The case has an assignment (any role, any state) of a unit meeting ``condition``.

    Aliased and correlated to ``Case`` only, so it is right inside queries that
    also select assignments or units.
    """
    a, u = aliased(Assignment), aliased(Unit)
    return exists(select(a.id).join(u, u.id == a.unit_id)
                  .where(a.case_id == Case.id, condition(u)).correlate(Case))


def assigned_to_unit(code: str) -> ColumnElement[bool]:
    """``assigned_to(lambda u: u.code == code)`` with the unit's id looked up once (a scalar
    subquery: codes are unique) instead of joined to every assignment probed. A search by
    unit walks the newest cases until a page of the unit's is found (3 500 cases, 6 000
    assignments at 1 000 000 cases): the join spent 12 000 of its 29 000 buffers there."""
    a = aliased(Assignment)
    unit_id = select(Unit.id).where(Unit.code == code).scalar_subquery()
    return exists(select(a.id).where(a.case_id == Case.id, a.unit_id == unit_id).correlate(Case))


def not_internal() -> ColumnElement[bool]:
    """Neither classified internal nor withheld by the citizen (which makes it internal, R6.4)."""
    return and_(or_(Case.classification.is_(None), Case.classification != Classification.INTERNAL),
                Case.public_allowed.is_(True))


def visible(principal: Principal) -> ColumnElement[bool]:
    """A filter on ``Case`` that keeps exactly the cases ``principal`` may see."""
    role, code = principal.role, principal.unit_code
    if role in (R.CITY_BUREAU, R.ADMIN):
        return true()
    if role == R.AGENT:
        return not_internal()
    if code is None:
        return false()
    own = assigned_to(lambda u: u.code == code)
    if role == R.EFFICIENCY:
        if principal.unit_district is None:
            return true()
        # A district's efficiency office supervises its district, internal items only if its own.
        return or_(own, and_(not_internal(), assigned_to(lambda u: u.district == principal.unit_district)))
    if role == R.DISTRICT_BUREAU:
        return assigned_to(lambda u: or_(u.code == code, u.parent_code == code))
    if role in HANDLERS:
        return own
    return false()
