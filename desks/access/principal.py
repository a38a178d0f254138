"""The authenticated caller: an account with its role and unit, as the API sees it."""

from __future__ import annotations

from dataclasses import dataclass

from forwarder.allowed import Caller
from forwarder.workflow_base import Actor


@dataclass(frozen=True, slots=True)
class Principal:
    """Who calls: one account, its role and the unit it belongs to (if any)."""

    account_id: int
    username: str
    display_name: str
    role: str
    unit_code: str | None
    unit_kind: str | None
    unit_district: str | None
    via: str = "token"
    """How the caller proved who it is: ``token`` (bearer) or a cookie session."""
    unit_name: str | None = None
    """The unit's name as people say it (市城市管理委员会), for the pages' header."""

    @property
    def actor(self) -> Actor:
        """The workflow's view of the caller."""
        return Actor(name=self.display_name, role=self.role, unit_code=self.unit_code)

    @property
    def caller(self) -> Caller:
        """The facts ``forwarder.allowed`` judges the caller's actions by."""
        return Caller(role=self.role, unit_code=self.unit_code, unit_kind=self.unit_kind)
