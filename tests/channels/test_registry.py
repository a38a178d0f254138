"""The channel registry: one line per channel, and everything the service starts comes from it."""

from __future__ import annotations

from pathlib import Path

from channels import CHANNELS, ROLES, SETTINGS_SECTIONS
from config.settings import DEFAULTS_FILE
from intake.cli import _parser

CHANNELS_DIR = Path(__file__).resolve().parents[2] / "channels"


def test_every_channel_folder_is_registered_once() -> None:
    folders = {p.name for p in CHANNELS_DIR.iterdir() if (p / "__init__.py").exists()}
    registered = [spec.start.__module__.split(".")[1] for spec in CHANNELS]
    assert sorted(registered) == sorted(folders)
    assert len({spec.name for spec in CHANNELS}) == len(CHANNELS)


def test_every_channel_folder_has_a_readme() -> None:
    missing = [spec.name for spec in CHANNELS
               if not (CHANNELS_DIR / spec.start.__module__.split(".")[1] / "README.md").exists()]
    assert missing == []


def test_serve_only_choices_are_the_registry_roles() -> None:
    serve = _parser()._subparsers._group_actions[0].choices["serve"]  # type: ignore[union-attr]
    only = next(a for a in serve._actions if a.dest == "only")
    assert list(only.choices) == list(ROLES)
    assert {"web", "worker", "smtp", "gammu"} <= set(ROLES)


def test_default_sections_are_the_channels_own() -> None:
    text = DEFAULTS_FILE.read_text(encoding="utf-8")
    for name in ("web_form", "fax", "gammu", "twilio", "email"):
        assert f"[{name}]" in text and name in SETTINGS_SECTIONS
