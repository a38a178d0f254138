"""The citizens' contacts for a batch of registrations, found or created in few statements.

A citizen who writes again is found by ``(kind, address)``; a new address is
inserted with ``ON CONFLICT DO NOTHING`` so two registrations racing to create
the same contact both end up with the one row, without a savepoint or an
``IntegrityError`` to recover from. A whole batch costs one SELECT, plus one
INSERT when some address is new (and one more SELECT in the rare race).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from contract.contact_kinds import EMAIL, FAX, PHONE
from contract.envelope import Channel, Envelope
from registrar.db import insert_new_only
from registrar.models import Contact

ContactKey = tuple[str, str]
"""``(kind, address)``: the contact's identity (a unique constraint)."""

CONTACT: Table = Contact.__table__  # type: ignore[assignment]


def contact_kind(channel: Channel, address: str) -> str:
    """How an address reaches the citizen: a fax number, an email or a phone (the kinds of
    ``contract.contact_kinds``, whose table says which channel answers each)."""
    if channel is Channel.FAX and "@" not in address:
        return FAX
    return EMAIL if "@" in address else PHONE


def contact_keys(envelope: Envelope) -> list[ContactKey]:
    """Every way to reach the citizen of ``envelope``, in the order to try them, once each."""
    addresses = [a for a in (envelope.reply_address, *envelope.alt_reply_addresses) if a]
    return [(contact_kind(envelope.channel, a), a) for a in dict.fromkeys(addresses)]


_SELECT = (CONTACT.select().with_only_columns(CONTACT.c.kind, CONTACT.c.address, CONTACT.c.id,
                                              CONTACT.c.prefers_call)
           .where(tuple_(CONTACT.c.kind, CONTACT.c.address).in_(bindparam("keys", expanding=True))))
_SET_CHOICE = (update(CONTACT).where(CONTACT.c.id == bindparam("ident"))
               .values(prefers_call=bindparam("choice")))


_insert = insert_new_only(CONTACT, [CONTACT.c.kind, CONTACT.c.address])


def call_choices(envelopes: Iterable[Envelope]) -> dict[ContactKey, bool]:
    """The answer-by-call choice (答复方式) each envelope made for its reply address.

    Only a phone reply address takes the choice; an envelope that asked nothing
    (``reply_by_call`` None) leaves the stored one alone. The last envelope wins.
    """
    return {(PHONE, e.reply_address): e.reply_by_call for e in envelopes
            if e.reply_by_call is not None and e.reply_address
            and contact_kind(e.channel, e.reply_address) == PHONE}


async def _select(session: AsyncSession, keys: Iterable[ContactKey]
                  ) -> dict[ContactKey, tuple[int, bool]]:
    wanted = list(keys)
    if not wanted:
        return {}
    rows = await session.execute(_SELECT, {"keys": wanted})
    return {(kind, address): (ident, choice) for kind, address, ident, choice in rows}


async def resolve_contacts(session: AsyncSession, envelopes: Sequence[Envelope],
                           now: datetime) -> dict[ContactKey, int]:
    """Ids of every contact the ``envelopes`` name, creating the missing ones."""
    names: dict[ContactKey, str | None] = {}
    for envelope in envelopes:
        for key in contact_keys(envelope):
            names.setdefault(key, envelope.display_name)
    return await resolve_keys(session, names, now, choices=call_choices(envelopes))


async def resolve_keys(session: AsyncSession, names: dict[ContactKey, str | None],
                       now: datetime, *, choices: dict[ContactKey, bool] | None = None,
                       ) -> dict[ContactKey, int]:
    """Ids of the contacts ``(kind, address)`` → display name, creating the missing ones.

    ``choices`` are answer-by-call choices made now: a new contact is created with
    its choice, a known one changed only where it differs (no statement otherwise).
    """
    choices = choices or {}
    found = await _select(session, names)
    # Sorted, so two transactions creating the same new contacts lock them in one order.
    missing = sorted(key for key in names if key not in found)
    if missing:
        rows: list[dict[str, Any]] = [
            {"kind": kind, "address": address, "display_name": names[(kind, address)],
             "opted_out": False, "created_at": now,
             "prefers_call": choices.get((kind, address), False)}
            for kind, address in missing]
        inserted = await session.execute(_insert(session), rows)
        found.update({(kind, address): (ident, choices.get((kind, address), False))
                      for kind, address, ident in inserted})
        raced = [key for key in missing if key not in found]
        found.update(await _select(session, raced))
    changed = [{"ident": found[key][0], "choice": choice} for key, choice in choices.items()
               if key in found and found[key][1] != choice]
    if changed:
        await session.execute(_SET_CHOICE, changed)
    return {key: ident for key, (ident, _) in found.items()}
