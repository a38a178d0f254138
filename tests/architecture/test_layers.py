"""The dependency arrows of DESIGN: the composition root on top; UI → forwarder → registrar;
everyone → the contract and ``config/``. Read from the source, so a new import that
points the wrong way fails here before it tangles the tree."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("contract", "config", "registrar", "forwarder", "desks", "channels", "intake")
COMPOSITION_ROOT = ("intake.app", "intake.wiring", "intake.cli", "intake.cli_ops", "intake.keys")

# Which of our packages each package may import (besides itself).
ALLOWED: dict[str, frozenset[str]] = {
    "config": frozenset(),
    "contract": frozenset({"config"}),
    "registrar": frozenset({"contract", "config"}),
    "forwarder": frozenset({"registrar", "contract", "config"}),
    "desks": frozenset({"forwarder", "registrar", "contract", "config"}),
    "channels": frozenset({"contract", "config"}),
}


def _imports(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


def _modules(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts)


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_is_below_it(package: str) -> None:
    wrong = [f"{path.relative_to(ROOT)} imports {module}"
             for path in _modules(package) for module in _imports(path)
             if module.split(".")[0] in PACKAGES and module.split(".")[0] != package
             and module.split(".")[0] not in ALLOWED[package]]
    assert wrong == []


def test_a_channel_imports_only_the_contract_config_and_its_own_folder() -> None:
    wrong = []
    for path in _modules("channels"):
        parts = path.relative_to(ROOT / "channels").parts
        own = f"channels.{parts[0]}" if len(parts) > 1 else None
        for module in _imports(path):
            if not module.startswith("channels.") or (own and module.startswith(own)):
                continue
            if path.name == "__init__.py" and len(parts) == 1:
                continue  # the registry lists every channel's spec
            wrong.append(f"{path.relative_to(ROOT)} imports {module}")
    assert wrong == []


def test_nothing_imports_the_composition_root() -> None:
    wrong = [f"{path.relative_to(ROOT)} imports {module}"
             for package in PACKAGES for path in _modules(package) for module in _imports(path)
             if module.startswith(COMPOSITION_ROOT)
             and not (package == "intake" and path.stem in {m.split(".")[1] for m in COMPOSITION_ROOT}
                      | {"__main__"})]
    assert wrong == []


def test_the_layer_test_sees_real_imports() -> None:
    """Guard against a test that passes because it reads nothing."""
    assert "contract.envelope" in set(_imports(ROOT / "registrar" / "registration.py"))
