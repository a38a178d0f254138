"""R12.1: the yearly ranking counts only clocks that were met or ran out, and is normalised
by volume (a Bayesian average towards the city's rate), with its formula stated."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from contract.clock import FixedClock
from forwarder import workflow as wf
from forwarder.ranking import PRIOR_ITEMS, formula_text, rank, ranking, raw_score
from forwarder.supervision import UnitStats, unit_stats
from forwarder.workflow_base import Context
from tests.forwarder.conftest import Maker
from tests.forwarder.kit import CITY, HOUSING, URBAN, answer_and_submit, dispatched
from tests.forwarder.test_findings import YEAR


def unit(code: str, items: int, on_time: int) -> UnitStats:
    """A unit whose ``items`` were all due: ``on_time`` read and answered in time, passed first."""
    late = items - on_time
    return UnitStats(code, code, None, items, on_time, late, on_time, late, late, 0, on_time, 0, None,
                     reviewed=items)


async def _answered(session: AsyncSession, ctx: Context, make: Maker, unit_code: str) -> None:
    case = await make.case()
    [lead] = await dispatched(session, ctx, case.number, unit_code)
    await answer_and_submit(session, ctx, lead.id, URBAN if unit_code == "city-urban" else HOUSING)
    await wf.review(session, ctx, lead.id, passed=True, actor=CITY)


async def test_R12_1_items_not_yet_due_are_not_failures(
        session: AsyncSession, ctx: Context, make: Maker) -> None:
    assert isinstance(ctx.clock, FixedClock)
    await _answered(session, ctx, make, "city-urban")
    await _answered(session, ctx, make, "city-housing")
    for _ in range(2):  # two more items in hand at city-housing, their clocks still running
        await dispatched(session, ctx, (await make.case()).number, "city-housing")
    await session.flush()
    stats = {s.unit_code: s for s in await unit_stats(session, *YEAR, now=ctx.clock.now())}
    assert (stats["city-housing"].dispatched, stats["city-housing"].read_late) == (3, 0)
    assert raw_score(stats["city-housing"]) == raw_score(stats["city-urban"])
    rows = (await ranking(session, *YEAR, now=ctx.clock.now())).rows
    assert rows[0].score == rows[1].score

    # Once their reading clock has run out (no sweep yet), they are late reads.
    ctx.clock.advance(timedelta(days=7))
    later = {s.unit_code: s for s in await unit_stats(session, *YEAR, now=ctx.clock.now())}
    assert later["city-housing"].read_late == 2
    assert raw_score(later["city-housing"]) < raw_score(later["city-urban"])


def test_R12_1_three_perfect_items_are_not_first_by_luck() -> None:
    small, busy, poor = unit("small", 3, 3), unit("busy", 40, 38), unit("poor", 20, 10)
    assert raw_score(small) > raw_score(busy)  # on its own figures, the small unit leads
    ranked = rank([small, busy, poor])
    assert [r.stats.unit_code for r in ranked.rows] == ["busy", "small", "poor"]
    assert ranked.weight == PRIOR_ITEMS
    # Each rate is (hits + C × city rate) / (trials + C): the inputs reproduce the score.
    city_read = (3 + 38 + 10) / (3 + 40 + 20)
    assert abs(ranked.prior["read"] - city_read) < 1e-9
    small_row = next(r for r in ranked.rows if r.stats.unit_code == "small")
    assert abs(small_row.rates["read"] - (3 + PRIOR_ITEMS * city_read) / (3 + PRIOR_ITEMS)) < 1e-9


def test_R12_1_the_formula_is_stated_with_its_weights_and_prior() -> None:
    text = formula_text()
    assert "0.25×按时阅办率" in text and "0.35×按时答复率" in text and "− 0.2×效能问题率" in text
    assert f"C = {PRIOR_ITEMS:g}" in text and "未到期的件不计" in text


def test_R12_1_dissatisfied_call_backs_rank_a_unit_below_an_equal_one_rated_satisfied() -> None:
    """Call-back (回访) ratings are citizens' satisfaction too: two units alike in every clock,
    one rated 满意 on its call-backs and one 不满意, do not tie."""
    pleased = replace(unit("pleased", 6, 6), callbacks=4, callback_avg=5.0)
    displeased = replace(unit("displeased", 6, 6), callbacks=4, callback_avg=1.0)
    ranked = rank([displeased, pleased])
    assert [r.stats.unit_code for r in ranked.rows] == ["pleased", "displeased"]
    assert ranked.rows[0].score > ranked.rows[1].score
    assert raw_score(pleased) - raw_score(displeased) == 20.0  # the whole satisfaction weight
