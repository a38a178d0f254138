"""Notice templates: Simplified Chinese (``config/notices.toml``) and Traditional
(``config/notices.zh-Hant.toml``), texts with placeholders, per notice kind and channel."""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path

from config.settings import CONFIG_DIR, ConfigError

NOTICES_FILE = CONFIG_DIR / "notices.toml"
LANGUAGE_FILES = {"zh-Hant": CONFIG_DIR / "notices.zh-Hant.toml"}


@lru_cache(maxsize=8)
def _load(path: Path) -> dict[str, object]:
    with path.open("rb") as fh:
        return tomllib.load(fh)


def render_notice(kind: str, channel: str, values: dict[str, str], *,
                  path: Path = NOTICES_FILE, language: str = "zh-Hans") -> str:
    """Render the template for ``kind`` (per-channel variant first) in the citizen's script;
    a language without its own template falls back to Simplified. Missing keys are errors."""
    localised = LANGUAGE_FILES.get(language)
    if localised is not None and path == NOTICES_FILE and kind in _load(localised):
        path = localised
    table = _load(path).get(kind)
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: no notice template [{kind}]")
    variant = table.get(channel)
    template = variant.get("text") if isinstance(variant, dict) else table.get("text")
    if not isinstance(template, str):
        raise ConfigError(f"{path}: [{kind}] has no text")
    try:
        return template.format(**values)
    except KeyError as exc:
        raise ConfigError(f"{path}: [{kind}] uses unknown placeholder {exc}") from exc
