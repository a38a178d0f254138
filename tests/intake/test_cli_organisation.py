"""``hotline organisation sync`` with a faulty organisation file: a message, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from intake.cli import main

UNIT = '''[[unit]]
code = "city-bureau"
name = "市信访局"
kind = "city_bureau"
principal = "丙"
leader = "甲"
'''


@pytest.mark.parametrize(("handlers", "message"), [
    ("handlers = []\n", "unit 'city-bureau'.handlers: every unit needs at least one handler"),
    ("", "unit 'city-bureau'.handlers: missing"),
], ids=["empty", "absent"])
def test_R10_1_organisation_sync_names_the_unit_and_key_of_a_unit_without_handlers(
        handlers: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "organisation.toml"
    path.write_text(UNIT + handlers, encoding="utf-8")
    monkeypatch.setenv("HOTLINE_ORGANISATION_FILE", str(path))
    monkeypatch.setenv("HOTLINE_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/never.db")
    assert main(["organisation", "sync"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hotline: configuration error: ") and message in err
    assert "Traceback" not in err and not (tmp_path / "never.db").exists()
