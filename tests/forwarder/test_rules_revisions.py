"""R13.1: the regulation's clocks are configuration with effective dates."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest

from config.settings import ConfigError
from forwarder.rules import clocks_at, load_revisions
from tests.conftest import TZ

REVISED = """
[[revision]]
name = "2007"
effective = 2007-07-04
dispatch_days = 1
read_days = 2
answer_days = 10
return_window_days = 2
district_return_window_days = 1
return_decision_days = 1
review_days = 2
redo_days = 3
repeat_answers_before_stop = 3
late_reads_per_warning = 3

[[revision]]
name = "a later revision"
effective = 2027-01-01
dispatch_days = 1
read_days = 1
answer_days = 7
return_window_days = 1
district_return_window_days = 1
return_decision_days = 1
review_days = 2
redo_days = 3
repeat_answers_before_stop = 3
late_reads_per_warning = 2
"""


def test_R13_1_the_shipped_revision_is_the_2007_regulation() -> None:
    clocks = clocks_at(datetime(2026, 11, 24, 10, 0, tzinfo=TZ))
    assert clocks.effective == date(2007, 7, 4)
    assert (clocks.dispatch_days, clocks.read_days, clocks.answer_days, clocks.review_days,
            clocks.redo_days) == (1, 2, 10, 2, 3)


def test_R13_1_a_later_revision_applies_from_its_effective_date(tmp_path: Path) -> None:
    path = tmp_path / "regulation.toml"
    path.write_text(REVISED, encoding="utf-8")
    revisions = load_revisions(path)
    assert clocks_at(date(2026, 12, 31), revisions=revisions).answer_days == 10
    assert clocks_at(date(2027, 1, 1), revisions=revisions).answer_days == 7


def test_R13_1_a_bad_revision_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "regulation.toml"
    path.write_text(REVISED.replace("read_days = 1", 'read_days = "one"'), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"revision\[1\]\.read_days"):
        load_revisions(path)
