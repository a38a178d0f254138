"""One measured figure beside its baseline, as printed and as written to ``results/latest.json``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Figure:
    """``ratio`` is value / baseline: above 1 is faster for rates, slower for latencies."""

    name: str
    unit: str
    value: float
    baseline: float
    ratio: float

    @classmethod
    def of(cls, name: str, unit: str, value: float, baseline: float) -> Figure:
        return cls(name, unit, round(value, 2), round(baseline, 2),
                   round(value / baseline, 3) if baseline else float("nan"))


def print_figure(figure: Figure) -> None:
    print(f"  {figure.name:<40} {figure.value:9.1f} {figure.unit:<11} baseline {figure.baseline:9.1f}"
          f"   ratio {figure.ratio:.2f}")
