"""Keyword parsing shared by the SMS channels (``contract/sms_keywords.py``)."""

from __future__ import annotations

import pytest

from contract.sms_keywords import CaseQuery, Keyword, QueryHelp, Unsubscribe, parse_keyword

TABLE: list[tuple[str, Keyword | None]] = [
    ("CX FZ12345-20261124-000017", CaseQuery("FZ12345-20261124-000017")),
    ("cx fz12345-20261124-000017", CaseQuery("FZ12345-20261124-000017")),
    ("CXFZ12345-20261124-000017", CaseQuery("FZ12345-20261124-000017")),
    ("ＣＸ　ＦＺ１２３４５－２０２６１１２４－０００００１", CaseQuery("FZ12345-20261124-000001")),
    ("查询 FZ12345-20261124-000017", CaseQuery("FZ12345-20261124-000017")),
    ("查询：FZ12345-20261124-000017。", CaseQuery("FZ12345-20261124-000017")),
    ("CX #20261124000017", CaseQuery("20261124000017")),
    ("CX", QueryHelp()),
    ("查询", QueryHelp()),
    ("查询？", QueryHelp()),
    ("TD", Unsubscribe()),
    ("td", Unsubscribe()),
    ("退订", Unsubscribe()),
    (" 退订。", Unsubscribe()),
    ("ＴＤ", Unsubscribe()),
    ("查询一下社保怎么交", None),
    ("CX road is flooded", None),
    ("CX 12", None),
    ("TD please stop the noise", None),
    ("退订了还在发", None),
    ("路灯坏了", None),
    ("", None),
    ("   ", None),
]


@pytest.mark.parametrize(("text", "expected"), TABLE, ids=[t or "<empty>" for t, _ in TABLE])
def test_only_a_bare_keyword_is_a_command(text: str, expected: Keyword | None) -> None:
    assert parse_keyword(text) == expected
