"""The yearly commendation ranking of units (R12.1), normalised by volume, with its formula.

R12.1 commends units for timely reading, careful handling, timely answers and
citizens' satisfaction, ranked "from the system's own data". Two things make a
naive ratio unfair, and both are handled here:

* An item whose clock has not run out yet is neither a success nor a failure:
  each rate counts only clocks that were met or ran out (``unit_stats``), so a
  unit with nothing late scores the same whatever it still has in hand.
* A unit with three items is not first by luck: each rate is a Bayesian average,
  ``(successes + C × city rate) / (trials + C)``, which pulls a unit with few
  decided items towards the city-wide rate and leaves a busy unit near its own.

The formula and its inputs are data (``Ranked``, ``formula_text``), so the desk
shows exactly what was computed and the CSV gives every input to recompute it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo

from sqlalchemy.ext.asyncio import AsyncSession

from forwarder.supervision import UnitStats, unit_stats
from forwarder.supervision_summary import period_stats

#: Each component's weight in the score; ``marks`` (R11.2 charges) counts against it.
WEIGHTS: dict[str, float] = {"read": 0.25, "answered": 0.35, "careful": 0.2, "satisfaction": 0.2,
                             "marks": -0.2}
LABELS: dict[str, str] = {"read": "按时阅办率", "answered": "按时答复率", "careful": "一次审核通过率",
                          "satisfaction": "满意度", "marks": "效能问题率"}
#: The prior's weight C, in items: a unit's own figures outweigh the city's past C items.
PRIOR_ITEMS = 5.0
#: What a rate is when nobody in the city has a decided item of that kind yet.
NEUTRAL: dict[str, float] = {"read": 0.5, "answered": 0.5, "careful": 0.5, "satisfaction": 0.5,
                             "marks": 0.0}


def counts(s: UnitStats) -> dict[str, tuple[float, int]]:
    """Per component: (successes, trials), counting only decided clocks and reviewed answers.

    Satisfaction pools the portal's ratings and the call-back (回访) ratings (R12): most
    citizens never open the portal, so without call-backs few units would have any."""
    rated = (((s.rating_avg or 3.0) - 1) / 4 * s.ratings
             + ((s.callback_avg or 3.0) - 1) / 4 * s.callbacks)
    return {"read": (s.read_on_time, s.read_on_time + s.read_late),
            "answered": (s.answered_on_time, s.answered_on_time + s.answered_late),
            "careful": (s.passed_first_time, s.reviewed),
            "satisfaction": (rated, s.ratings + s.callbacks),
            "marks": (s.marks, max(s.answered_on_time + s.answered_late, s.marks))}


def city_rates(stats: list[UnitStats]) -> dict[str, float]:
    """The pooled rate of every component over all units: the prior each unit is pulled to."""
    out = {}
    for key in WEIGHTS:
        hits = sum(counts(s)[key][0] for s in stats)
        trials = sum(counts(s)[key][1] for s in stats)
        out[key] = hits / trials if trials else NEUTRAL[key]
    return out


def rates(s: UnitStats, prior: dict[str, float], weight: float) -> dict[str, float]:
    """Each component's Bayesian average ``(hits + C·prior) / (trials + C)``."""
    out = {}
    for key, (hits, trials) in counts(s).items():
        out[key] = (hits + weight * prior[key]) / (trials + weight) if trials + weight else prior[key]
    return out


def score_of(values: dict[str, float]) -> float:
    """0–100 from the component rates and ``WEIGHTS``."""
    raw = sum(WEIGHTS[key] * values[key] for key in WEIGHTS)
    return round(max(raw, 0.0) * 100, 1)


def raw_score(s: UnitStats) -> float:
    """The unit's own score, not normalised (decided items only; no data: neutral)."""
    return score_of(rates(s, NEUTRAL, 0.0))


@dataclass(frozen=True, slots=True)
class Ranked:
    """One unit's place in the ranking, with every input of its score."""

    rank: int
    stats: UnitStats
    rates: dict[str, float]
    """The Bayesian averages that make the score."""
    score: float
    raw: float
    """The score from the unit's own figures alone, for comparison."""


@dataclass(frozen=True, slots=True)
class Ranking:
    """The year's ranking and the parameters it was computed with."""

    rows: list[Ranked]
    prior: dict[str, float]
    weight: float


def formula_text(weight: float = PRIOR_ITEMS) -> str:
    """The formula in Chinese, as the desk shows it beside the ranking."""
    parts = " + ".join(f"{w:g}×{LABELS[k]}" for k, w in WEIGHTS.items() if w > 0)
    negative = " ".join(f"− {-w:g}×{LABELS[k]}" for k, w in WEIGHTS.items() if w < 0)
    return (f"得分 = 100 × ({parts} {negative})；各率 = (达标数 + C × 全市率) ÷ (已到期件数 + C)，"
            f"C = {weight:g}（贝叶斯平均：件数少的单位向全市水平收拢）；未到期的件不计。")


def rank(stats: list[UnitStats], *, weight: float = PRIOR_ITEMS, min_items: int = 1) -> Ranking:
    """Rank ``stats`` best first (ties by unit code), each pulled towards the city rates."""
    kept = [s for s in stats if s.dispatched >= min_items]
    prior = city_rates(kept)
    scored = []
    for s in kept:
        values = rates(s, prior, weight)
        scored.append((score_of(values), s, values))
    scored.sort(key=lambda row: (-row[0], row[1].unit_code))
    rows = [Ranked(i + 1, s, values, score, raw_score(s)) for i, (score, s, values) in enumerate(scored)]
    return Ranking(rows, prior, weight)


async def ranking(session: AsyncSession, year_start: datetime, year_end: datetime, *,
                  now: datetime | None = None, min_items: int = 1,
                  weight: float = PRIOR_ITEMS, zone: tzinfo | None = None) -> Ranking:
    """R12.1: all units ranked for the yearly commendation, best first.

    With the city's ``zone`` the year is read from the sweeper's summaries
    (``period_stats``: the same figures, without counting a year of rows)."""
    if zone is not None:
        stats = await period_stats(session, year_start, year_end, zone=zone, now=now)
    else:
        stats = await unit_stats(session, year_start, year_end, now=now)
    return rank(stats, weight=weight, min_items=min_items)
