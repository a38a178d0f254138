"""R3.8 at intake: every emergency number that fits the text is advised, not just one.

The words are data (``config/screening.toml``); this table pins what the shipped
words make of situations citizens describe. A hint is advice, never a decision.
"""

from __future__ import annotations

import pytest

from forwarder.screening import emergency_hint, load_rules

RULES = load_rules()

CASES = [
    ("车祸，有人受伤流血", {"120", "122"}),
    ("车撞了行人，伤者昏迷", {"120", "122"}),
    ("小区楼道着火了，有人被困", {"119"}),
    ("有人持刀抢劫，店主受伤", {"110", "120"}),
    ("路口发生交通事故", {"122"}),
    ("鼓楼区五四路路灯不亮已经一周", set()),
]


@pytest.mark.parametrize(("text", "services"), CASES, ids=[c[0] for c in CASES])
def test_R3_8_advises_every_number_that_fits(text: str, services: set[str]) -> None:
    hint = emergency_hint(text, RULES)
    if not services:
        assert hint is None
        return
    assert hint is not None
    assert set(hint.services.split(",")) == services
    for number in services:
        assert number in hint.text
