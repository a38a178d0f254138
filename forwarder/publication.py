"""Masking personal data before an answer is published (DESIGN.md invariant 6, R9.3).

Phone numbers, ID card numbers, bank cards, emails and the citizen's own name
are hidden; what remains says what was done without saying who asked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_ID_CARD = re.compile(
    r"(?<![0-9])([1-9][0-9]{5})(?:19|20)[0-9]{2}[01][0-9][0-3][0-9][0-9]{3}[0-9Xx](?![0-9])")
_MOBILE = re.compile(r"(?<![0-9])(?:\+?86[- ]?)?(1[3-9][0-9])[- ]?([0-9]{4})[- ]?([0-9]{4})(?![0-9])")
_LANDLINE = re.compile(r"(?<![0-9])(0[1-9][0-9]{1,2})[- ]?([0-9]{3,4})[- ]?([0-9]{4})(?![0-9])")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_LONG_DIGITS = re.compile(r"(?<![0-9])[0-9]{12,19}(?![0-9])")


def mask_personal_data(text: str, *, names: Iterable[str] = ()) -> str:
    """Return ``text`` with personal data replaced by asterisks."""
    out = _ID_CARD.sub(lambda m: m.group(1) + "*" * 12, text)
    out = _MOBILE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", out)
    out = _LANDLINE.sub(lambda m: f"{m.group(1)}-****{m.group(3)}", out)
    out = _EMAIL.sub("***@***", out)
    out = _LONG_DIGITS.sub(lambda m: "*" * (len(m.group(0)) - 4) + m.group(0)[-4:], out)
    for name in names:
        name = name.strip()
        if len(name) >= 2:
            out = out.replace(name, name[0] + "*" * (len(name) - 1))
    return out
