"""R13.1: the regulation's clocks are configuration with effective dates."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from config.settings import ConfigError
from contract.clock import FixedClock
from forwarder.rules import clocks_at, load_revisions
from intake.app import create_app
from tests.conftest import TZ, make_settings
from tests.forwarder.api_kit import make_api

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


SITE = REVISED.replace('name = "a later revision"\neffective = 2027-01-01',
                       'name = "the site\'s revision"\neffective = 2026-12-01').replace(
    "answer_days = 7", "answer_days = 5").replace(
    "repeat_answers_before_stop = 3\nlate_reads_per_warning = 2",
    "repeat_answers_before_stop = 0\nlate_reads_per_warning = 2")


def answer_days(body: dict[str, Any]) -> int:
    [answer] = [d for d in body["deadlines"] if d["kind"] == "answer"]
    return int(answer["working_days"])


def stop_reason(listing: dict[str, Any]) -> str:
    return str(next(e for e in listing["actions"] if e["action"] == "stop")["reason"])


async def test_R13_1_the_site_file_named_in_the_settings_sets_the_clocks_for_each_moment(
        db_url: str, tmp_path: Path, clock: FixedClock) -> None:
    """``regulation_file`` replaces config/regulation.toml; each clock follows the revision
    in force when it starts, and so does what the desk shows (R8.5b's threshold)."""
    site = tmp_path / "site-regulation.toml"
    site.write_text(SITE, encoding="utf-8")
    settings = make_settings(db_url, tmp_path / "data", regulation_file=str(site))
    async with TestClient(TestServer(create_app(settings, clock=clock))) as client:
        api = await make_api(client, tmp_path / "files")
        before, _ = await api.case_at("dispatched")
        _, listing_before = await api.get("city", f"/cases/{await api.register()}/actions")
        clock.advance(timedelta(days=7))  # 2026-12-01: the site's revision is in force
        after, _ = await api.case_at("dispatched")
        _, listing_after = await api.get("city", f"/cases/{await api.register()}/actions")
        assert answer_days((await api.get("city", f"/cases/{before}"))[1]) == 10
        assert answer_days((await api.get("city", f"/cases/{after}"))[1]) == 5
    assert "超过 3 次方可停止交办" in stop_reason(listing_before)
    assert "超过 0 次方可停止交办" in stop_reason(listing_after)


def test_R13_1_a_bad_site_regulation_file_stops_the_app_naming_it(db_url: str,
                                                                  tmp_path: Path) -> None:
    site = tmp_path / "broken.toml"
    site.write_text(SITE.replace("redo_days = 3", "redo_days = -1"), encoding="utf-8")
    settings = make_settings(db_url, tmp_path / "data", regulation_file=str(site))
    with pytest.raises(ConfigError, match=r"broken\.toml: revision\[0\]\.redo_days"):
        create_app(settings)
