"""Article 3 hints at intake: words that suggest an emergency (R3.8).

The rules are data (``config/screening.toml``). A hint is advice: it puts a
red banner in front of the agent and sends the 110/119/120/122 advice to an SMS
or web sender at once; the bureau still screens the item.
"""

from __future__ import annotations

import tomllib
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from config.settings import CONFIG_DIR, ConfigError
from contract.emergency import EMERGENCY_SERVICES
from registrar.registration import EmergencyAdvice

SCREENING_FILE = CONFIG_DIR / "screening.toml"
SERVICE_NAMES = {number: f"{number}（{name}）" for number, name in EMERGENCY_SERVICES.items()}


@dataclass(frozen=True, slots=True)
class EmergencyRule:
    services: str
    words: tuple[str, ...]


def load_rules(path: Path = SCREENING_FILE) -> tuple[EmergencyRule, ...]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    rules = []
    for index, raw in enumerate(data.get("rule", [])):
        services = raw.get("services")
        words = raw.get("words")
        if services not in SERVICE_NAMES or not isinstance(words, list) or not words:
            raise ConfigError(f"{path}: rule[{index}] needs services (110/119/120/122) and words")
        rules.append(EmergencyRule(services, tuple(str(w) for w in words)))
    return tuple(rules)


def emergency_hint(text: str, rules: tuple[EmergencyRule, ...]) -> EmergencyAdvice | None:
    """The services to call if ``text`` sounds like an emergency, else None."""
    folded = unicodedata.normalize("NFKC", text)
    services = [r.services for r in rules if any(w in folded for w in r.words)]
    if not services:
        return None
    ordered = sorted(set(services))
    names = "、".join(SERVICE_NAMES[s] for s in ordered)
    return EmergencyAdvice(services=",".join(ordered),
                           text=f"【12345】您反映的情况可能需要紧急处置，请立即拨打{names}。")
