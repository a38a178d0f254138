"""normalise_phone's shortcut for mainland mobiles gives what a full phonenumbers parse gives.

The reference below is the function as it was before the shortcut: every number goes
through ``phonenumbers.parse``, ``is_valid_number`` and E.164 formatting. Comparing over
every five-digit prefix of an 11-digit number starting with 1 covers each branch of the
metadata's mobile pattern (its longest fixed prefix is five digits, ``17400``–``17405``).
"""

from __future__ import annotations

import random
import unicodedata

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from contract.normalise import InvalidInput, normalise_phone


def _reference(raw: str, region: str = "CN") -> str | None:
    candidate = unicodedata.normalize("NFKC", raw).strip()
    if not candidate:
        return None
    if candidate.startswith("00"):
        candidate = "+" + candidate[2:]
    try:
        parsed = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _ours(raw: str, region: str = "CN") -> str | None:
    try:
        return normalise_phone(raw, region=region)
    except InvalidInput:
        return None


def test_every_mobile_prefix_agrees_with_a_full_parse() -> None:
    rng = random.Random(12345)
    checked = valid = 0
    for prefix in range(10_000, 20_000):
        for _ in range(2):
            number = f"{prefix}{rng.randrange(1_000_000):06d}"
            for written in (number, "+86" + number, "0086" + number, f" {number} "):
                expected = _reference(written)
                assert _ours(written) == expected, written
                checked += 1
                valid += expected is not None
    # Both outcomes were exercised: many prefixes are mobiles, many are not.
    assert checked == 80_000 and 20_000 < valid < 70_000


@pytest.mark.parametrize("raw", ["１３９１２３４５６７８", "139-1234-5678", "(139) 1234 5678",
                                 "+86 139 1234 5678", "8613912345678", "1391234567",
                                 "139123456789", "+8613912345678x", "10086", "0591-87654321",
                                 "+1 202 555 0143"])
def test_written_forms_agree_with_a_full_parse(raw: str) -> None:
    assert _ours(raw) == _reference(raw)


@given(st.text(alphabet="0123456789+-() １２３８６", max_size=18))
def test_any_text_agrees_with_a_full_parse(raw: str) -> None:
    assert _ours(raw) == _reference(raw)


@given(st.from_regex(r"\+?(86)?1[0-9]{10}", fullmatch=True), st.sampled_from(["CN", "HK", "US"]))
def test_other_regions_are_not_shortcut(raw: str, region: str) -> None:
    assert _ours(raw, region) == _reference(raw, region)
