"""Who is calling, from what the SIP peer put in From (or P-Asserted-Identity): pure parsing.

Carriers deliver the caller's number in the user part of the From URI (or in
P-Asserted-Identity, with From anonymised for privacy); a withheld number
arrives as ``anonymous``, ``unavailable``, ``restricted`` or no digits at all.
A caller whose number cannot be normalised is treated as withheld: the case
then has no reply address and the menu says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from contract.normalise import InvalidInput, clean_text, normalise_phone

_NAME_ADDR = re.compile(r'^\s*(?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<token>[^<"]*?))\s*<(?P<uri>[^>]*)>')
_USER = re.compile(r"^(?:sips?|tel):(?P<user>[^@;?>]*)", re.IGNORECASE)
_WITHHELD = {"anonymous", "unavailable", "unknown", "restricted", "private", "withheld", ""}


@dataclass(frozen=True, slots=True)
class Caller:
    """The caller as far as the network told us."""

    number: str | None
    """E.164, or None when withheld or unusable."""
    display_name: str | None

    @property
    def anonymous(self) -> bool:
        return self.number is None


def _user(uri: str) -> str:
    match = _USER.match(uri.strip())
    return match.group("user") if match else ""


def parse(remote: str, *, asserted: str = "") -> Caller:
    """Caller from a From/remote URI (``"张三" <sip:13805912345@host>``) and optional PAI."""
    match = _NAME_ADDR.match(remote)
    uri = match.group("uri") if match else remote
    name = None
    if match:
        raw_name = match.group("quoted") if match.group("quoted") is not None else match.group("token")
        try:
            name = clean_text(raw_name.replace('\\"', '"'), field="display_name", max_chars=50,
                              required=False) or None
        except InvalidInput:
            name = None
    number = None
    pai = _NAME_ADDR.match(asserted)
    for candidate in (_user(pai.group("uri") if pai else asserted), _user(uri)):
        digits = candidate.split(";")[0]
        if digits.lower() in _WITHHELD or not re.fullmatch(r"\+?[0-9-]{3,20}", digits):
            continue
        try:
            number = normalise_phone(digits, field="caller")
            break
        except InvalidInput:
            continue
    if name is not None and name.lower() in _WITHHELD:
        name = None
    return Caller(number=number, display_name=name)
