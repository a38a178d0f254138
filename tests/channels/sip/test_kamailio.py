"""The Kamailio configuration written from ``[sip]``: what it must hold, and Kamailio accepts it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from channels.sip.kamailio import dispatcher_list, write
from channels.sip.settings import SipSettings
from tests.channels.sip.pool import kamailio_binary

POOL = SipSettings(enabled=True, workers=5, port=5070, kamailio_port=5060, trunk_address="10.1.2.3")


def test_the_dispatcher_list_names_every_worker_in_one_set() -> None:
    assert dispatcher_list(POOL).splitlines() == [f"1 sip:127.0.0.1:{p}" for p in range(5070, 5075)]


def test_the_config_probes_fails_over_record_routes_and_never_rate_limits_the_trunk(tmp_path: Path) -> None:
    cfg, _ = write(POOL, tmp_path)
    text = cfg.read_text()
    assert 'modparam("dispatcher", "ds_ping_method", "OPTIONS")' in text
    assert 't_check_status("486|480|5[0-9][0-9]") || t_branch_timeout()' in text and "ds_next_dst()" in text
    assert "record_route();" in text and "loose_route()" in text
    assert "src_ip != 10.1.2.3" in text and "pike_check_req()" in text
    assert '$var(calls) >= 2' in text  # concurrent calls per caller number


def test_kamailio_accepts_the_config(tmp_path: Path) -> None:
    kamailio = kamailio_binary()
    cfg, _ = write(POOL, tmp_path)
    checked = subprocess.run([kamailio, "-c", "-f", str(cfg)], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr[-2000:]


def test_hotline_sip_kamailio_config_writes_the_pool_from_the_settings(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from intake.cli import main

    for name in [n for n in os.environ if n.startswith("HOTLINE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HOTLINE_SIP__WORKERS", "3")
    monkeypatch.setenv("HOTLINE_SIP__PORT", "5070")
    assert main(["sip", "kamailio-config", str(tmp_path / "kam")]) == 0
    assert "3 worker(s)" in capsys.readouterr().out
    listing = (tmp_path / "kam" / "dispatcher.list").read_text().splitlines()
    assert listing == [f"1 sip:127.0.0.1:{p}" for p in (5070, 5071, 5072)]
    assert (tmp_path / "kam" / "kamailio.cfg").exists()


def test_hotline_serve_workers_runs_that_many_sip_workers_and_refuses_nonsense(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import intake.app
    import intake.cli
    import intake.serving

    for name in [n for n in os.environ if n.startswith("HOTLINE_")]:
        monkeypatch.delenv(name)
    served: list[SipSettings] = []
    monkeypatch.setattr(intake.app, "create_app", lambda settings, roles: (
        served.append(settings.channel("sip", SipSettings)), roles)[1])
    monkeypatch.setattr(intake.serving, "serve", lambda app, settings: None)
    assert intake.cli.main(["serve", "--only", "sip", "--workers", "5"]) == 0
    assert served[0].workers == 5
    assert intake.cli.main(["serve", "--only", "sip", "--workers", "0"]) == 2
    assert "--workers 0" in capsys.readouterr().err


def test_the_config_caps_new_calls_a_second_for_the_pool_and_a_workers_503_is_not_down(
        tmp_path: Path) -> None:
    """The pool-wide INVITE cap (fast churn) answers 503 + Retry-After; a worker's 503 is busy."""
    cfg, _ = write(POOL, tmp_path)
    text = cfg.read_text()
    limit = POOL.kamailio_setups_per_worker_s * POOL.workers
    assert f'if (!pl_check("setups", "TAILDROP", {limit})) {{ pl_drop("1", "2"); exit; }}' in text
    assert text.index('pl_check("setups"') < text.index("ds_select_dst")
    assert '(t_check_status("5[0-9][0-9]") && !t_check_status("503"))' in text
