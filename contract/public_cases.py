"""What a channel may read of the registry: public cases, and its API clients' keys.

A channel never touches the database (``tests/architecture/test_layers.py``),
yet an API such as Open311 must answer "what became of request N?" and must
refuse a caller without a valid key. These two ports are how: the composition
root implements them over the registrar and the publication rules, and hands
them to every channel in ``ChannelPorts``. What crosses this seam is already
public: a ``PublicCase`` carries no citizen, no contact, no unmasked text, and
an internal case (R4.3, R9.2a) is simply not found.

Two conventions on ``Envelope.notes`` let a channel file an item with a
category and a position that come back out here: ``category=<name>`` (the
agent console writes it too) and ``geo=<lat>,<long>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

CATEGORY_NOTE = "category="
"""``category=城管``: the item's category, as the console and API channels file it."""
GEO_NOTE = "geo="
"""``geo=26.0745,119.2965``: WGS84 position the citizen's device gave, latitude first."""


def category_of(notes: Sequence[str]) -> str | None:
    """The category an item was filed under, if any."""
    return next((n[len(CATEGORY_NOTE):] for n in notes if n.startswith(CATEGORY_NOTE)), None)


def position_of(notes: Sequence[str]) -> tuple[float, float] | None:
    """The (latitude, longitude) an item was filed with, if any and well formed."""
    for note in notes:
        if note.startswith(GEO_NOTE):
            try:
                lat, long = (float(x) for x in note[len(GEO_NOTE):].split(","))
            except ValueError:
                return None
            return lat, long
    return None


@dataclass(frozen=True, slots=True)
class PublicUpdate:
    """One step of a case that the public may see (registered, accepted, dispatched, closed)."""

    update_id: str
    case_number: str
    closed: bool
    """The case's open/closed state once this step was taken."""
    at: datetime
    description: str
    """A fixed wording per step; for the closing step, the published answer when there is one."""


@dataclass(frozen=True, slots=True)
class PublicCase:
    """A case as the public may see it: state, dates, handling units, published texts only."""

    number: str
    closed: bool
    category: str | None
    requested_at: datetime
    updated_at: datetime
    expected_at: datetime | None
    """The answer deadline (R8.2a) stored for the handling unit, in working days."""
    agencies: tuple[str, ...] = ()
    """The units handling it (lead units), by name."""
    summary: str | None = None
    """The complaint as published (masked, edited by the bureau); None until published."""
    answer: str | None = None
    """The published answer; None until published (and for ever, if not to be published)."""
    address: str | None = None
    """Where, masked below the street (no house, building or room numbers)."""
    position: tuple[float, float] | None = None
    """(latitude, longitude), coarsened to about a hundred metres."""
    channel: str = ""
    external_id: str | None = None
    """Only for the asking channel's own items (so a token can find its case); else None."""


@dataclass(frozen=True, slots=True)
class CaseQuery:
    """Which public cases to list: every filter is optional, and ANDed."""

    numbers: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    """Filed under one of these categories (empty: any)."""
    closed: bool | None = None
    """True: closed only; False: open only; None: both."""
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 1000
    uncategorised: bool = False
    """With ``categories``: also items filed under no category (the catch-all service)."""


class PublicCases(Protocol):
    """Read-only, public view of the registry (implemented by the composition root)."""

    async def case(self, number: str, *, channel: str) -> PublicCase | None:
        """One case by its number, or None when unknown or not public."""
        ...

    async def cases(self, query: CaseQuery, *, channel: str) -> list[PublicCase]:
        """Public cases matching ``query``, newest first, at most ``query.limit``."""
        ...

    async def by_external_id(self, channel: str, external_id: str) -> str | None:
        """The number of the case ``channel`` filed as ``external_id`` (None: not registered)."""
        ...

    async def updates(self, numbers: Sequence[str], *, since: datetime | None,
                      until: datetime | None, limit: int) -> list[PublicUpdate]:
        """Public steps of public cases (of ``numbers``, or all), oldest first."""
        ...


@dataclass(frozen=True, slots=True)
class Admission:
    """The answer to an API call's key: whose it is, and how long it must wait (0: go)."""

    client: str | None
    """The client's name; None when the key is unknown or revoked."""
    wait_s: float = 0.0


class ApiKeys(Protocol):
    """Checks an API client's key and counts the call against its rate limit."""

    async def admit(self, scope: str, key: str, *, free: int, window_s: float) -> Admission:
        """Whose ``key`` is (within ``scope``, e.g. ``open311``), and how long it must wait:
        ``free`` calls per ``window_s`` go ahead, then each waits longer (a backoff)."""
        ...
