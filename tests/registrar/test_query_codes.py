"""Query codes: eight symbols of the unambiguous alphabet, each symbol equally likely anywhere."""

from __future__ import annotations

from collections import Counter

from registrar.numbers import QUERY_CODE_ALPHABET, QUERY_CODE_LENGTH, new_query_code


def test_query_codes_use_every_symbol_in_every_position_evenly() -> None:
    draws = 31_000
    codes = [new_query_code() for _ in range(draws)]
    assert all(len(code) == QUERY_CODE_LENGTH and set(code) <= set(QUERY_CODE_ALPHABET)
               for code in codes)
    assert len(set(codes)) == draws  # 31⁸ ≈ 8.5e11 codes: a repeat here means a broken draw
    expected = draws / len(QUERY_CODE_ALPHABET)  # 1 000 of each symbol per position
    for position in range(QUERY_CODE_LENGTH):
        counts = Counter(code[position] for code in codes)
        assert set(counts) == set(QUERY_CODE_ALPHABET)
        # Chi-square, 30 degrees of freedom: 80 is past its 1 - 1e-6 quantile, while a byte
        # taken modulo 31 (8 symbols 9/8 as likely) scores about 110 here.
        chi2 = sum((counts[s] - expected) ** 2 / expected for s in QUERY_CODE_ALPHABET)
        assert chi2 < 80, (position, chi2)
