"""The organisation as data: units, their kind, parent bureau and roster (R10.1).

The file is TOML with one ``[[unit]]`` table per unit::

    [[unit]]
    code = "gulou-urban"            # stable identifier, lower-case, dashes
    name = "鼓楼区城市管理局"
    kind = "district_unit"          # see UnitKind
    district = "鼓楼区"             # district-level units only
    parent = "gulou-bureau"         # the bureau that dispatches to it
    principal = "…"                 # 主要领导, the unit's head, charged under R10.3
    leader = "…"                    # 分管领导 (R10.1)
    handlers = ["…"]                # 经办人 (R10.1)
    keywords = ["占道", "违建"]       # routing suggestions

Validation is strict: unknown kinds, duplicate codes, a parent that does not
exist or a unit without principal leader, leader or handler are errors naming
the unit and the key. The principal leader (主要领导) is a role of its own: Article
10 charges missed work traced to unassigned responsibilities to that person,
not to the leader in charge (R10.3).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from config.settings import ConfigError


class UnitKind(StrEnum):
    """What a unit does in the flow of an item."""

    SERVICE_CENTRE = "service_centre"
    CITY_BUREAU = "city_bureau"
    DISTRICT_BUREAU = "district_bureau"
    CITY_UNIT = "city_unit"
    DISTRICT_UNIT = "district_unit"
    DISCIPLINE = "discipline"
    EFFICIENCY = "efficiency"
    GOV_OFFICE = "gov_office"


@dataclass(frozen=True, slots=True)
class UnitSpec:
    """One unit as configured."""

    code: str
    name: str
    kind: UnitKind
    leader: str
    """分管领导, the leader in charge (R10.1)."""
    handlers: tuple[str, ...]
    district: str | None = None
    parent: str | None = None
    keywords: tuple[str, ...] = ()
    principal: str = ""
    """主要领导, the unit's head (R10.3); the file requires it."""


@dataclass(frozen=True, slots=True)
class Organisation:
    """All units, in file order."""

    units: tuple[UnitSpec, ...]

    def by_code(self, code: str) -> UnitSpec:
        for unit in self.units:
            if unit.code == code:
                return unit
        raise KeyError(code)

    @property
    def city_bureau(self) -> UnitSpec:
        return next(u for u in self.units if u.kind is UnitKind.CITY_BUREAU)

    @property
    def districts(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for unit in self.units:
            if unit.kind is UnitKind.DISTRICT_BUREAU and unit.district:
                seen[unit.district] = None
        return tuple(seen)

    @property
    def district_keys(self) -> dict[str, str]:
        """District → its bureau's code word (永泰县 → yongtai): what an agent types to find it."""
        return {u.district: u.code.split("-", 1)[0] for u in self.units
                if u.kind is UnitKind.DISTRICT_BUREAU and u.district}


_REQUIRED = ("code", "name", "kind", "principal", "leader", "handlers")
_KNOWN = {*_REQUIRED, "district", "parent", "keywords"}


def _str_list(where: str, key: str, value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"{where}.{key}: must be a list of non-empty strings")
    return tuple(v.strip() for v in value)


def parse_organisation(data: dict[str, object], *, source: str = "organisation") -> Organisation:
    """Validate parsed TOML and build the organisation."""
    raw_units = data.get("unit")
    if not isinstance(raw_units, list) or not raw_units:
        raise ConfigError(f"{source}: needs at least one [[unit]] table")
    units: list[UnitSpec] = []
    for index, raw in enumerate(raw_units):
        where = f"{source}: unit[{index}]"
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: must be a table")
        if isinstance(raw.get("code"), str):
            where = f"{source}: unit {raw['code']!r}"
        unknown = set(raw) - _KNOWN
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        for key in _REQUIRED:
            if key not in raw:
                raise ConfigError(f"{where}.{key}: missing")
        for key in ("code", "name", "principal", "leader", "district", "parent"):
            if key in raw and (not isinstance(raw[key], str) or not raw[key].strip()):
                raise ConfigError(f"{where}.{key}: must be a non-empty string")
        try:
            kind = UnitKind(raw["kind"])
        except ValueError:
            raise ConfigError(
                f"{where}.kind: {raw['kind']!r} is not one of {', '.join(k.value for k in UnitKind)}"
            ) from None
        if raw["principal"].strip() == raw["leader"].strip():
            raise ConfigError(f"{where}.principal: the principal leader (主要领导) is the unit's "
                              "head, a different person from its leader in charge (R10.3)")
        handlers = _str_list(where, "handlers", raw["handlers"])
        if not handlers:
            raise ConfigError(f"{where}.handlers: every unit needs at least one handler (R10.1)")
        units.append(UnitSpec(
            code=raw["code"], name=raw["name"], kind=kind, leader=raw["leader"],
            handlers=handlers, district=raw.get("district"), parent=raw.get("parent"),
            keywords=_str_list(where, "keywords", raw.get("keywords", [])),
            principal=raw["principal"].strip(),
        ))
    codes = [u.code for u in units]
    duplicates = sorted({c for c in codes if codes.count(c) > 1})
    if duplicates:
        raise ConfigError(f"{source}: duplicate unit code(s) {', '.join(duplicates)}")
    for unit in units:
        if unit.parent and unit.parent not in codes:
            raise ConfigError(f"{source}: unit {unit.code!r}.parent: no unit {unit.parent!r}")
        if unit.kind in (UnitKind.DISTRICT_BUREAU, UnitKind.DISTRICT_UNIT) and not unit.district:
            raise ConfigError(f"{source}: unit {unit.code!r}.district: required for {unit.kind}")
    if sum(u.kind is UnitKind.CITY_BUREAU for u in units) != 1:
        raise ConfigError(f"{source}: exactly one unit must have kind = \"city_bureau\"")
    return Organisation(units=tuple(units))


def load_organisation(path: Path) -> Organisation:
    """Read and validate an organisation file."""
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"organisation file not found: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    return parse_organisation(data, source=str(path))
