"""Routing suggestions (R4.1): keywords and districts rank units; nothing is ever applied."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from forwarder.routing import UnitProfile, districts_in, score_units, suggest_units
from registrar.models import Assignment, Case
from tests.forwarder.conftest import Maker

UNITS = (
    UnitProfile("city-bureau", "市信访局", "city_bureau"),
    UnitProfile("city-urban", "市城管委", "city_unit", keywords=("路灯", "垃圾", "占道")),
    UnitProfile("city-housing", "市住建局", "city_unit", keywords=("物业", "电梯")),
    UnitProfile("city-efficiency", "市效能办", "efficiency", keywords=("推诿",)),
    UnitProfile("gulou-bureau", "鼓楼区信访局", "district_bureau", district="鼓楼区",
                parent_code="city-bureau"),
    UnitProfile("gulou-urban", "鼓楼区城管局", "district_unit", district="鼓楼区",
                parent_code="gulou-bureau", keywords=("路灯", "垃圾")),
    UnitProfile("gulou-housing", "鼓楼区住建局", "district_unit", district="鼓楼区",
                parent_code="gulou-bureau", keywords=("物业",)),
    UnitProfile("taijiang-bureau", "台江区信访局", "district_bureau", district="台江区",
                parent_code="city-bureau"),
)


def codes(text: str, hint: str | None = None, **kwargs: object) -> list[str]:
    return [s.unit_code for s in score_units(text, hint, UNITS, **kwargs)]  # type: ignore[arg-type]


def test_R4_1_keyword_ranks_the_city_unit_and_never_a_district_unit_for_the_city() -> None:
    assert codes("五四路路灯不亮") == ["city-urban"]


def test_R7_3_named_district_suggests_its_bureau_above_city_units() -> None:
    ranked = score_units("鼓楼区五四路路灯不亮", None, UNITS)
    assert [s.unit_code for s in ranked] == ["gulou-bureau", "city-urban"]
    assert "鼓楼区" in ranked[0].reason and "路灯" in ranked[0].reason
    assert ranked[0].score > ranked[1].score


def test_short_district_name_and_hint_both_count() -> None:
    assert codes("鼓楼那边小区物业不管事")[0] == "gulou-bureau"
    assert codes("小区物业不管事", "台江区") == ["city-housing", "taijiang-bureau"]
    assert districts_in("台江万达门口", None, ["台江区", "鼓楼区"]) == {"台江区"}


def test_more_keywords_score_higher_and_top_five_only() -> None:
    ranked = score_units("路灯坏了，垃圾没人清，还占道", None, UNITS)
    assert ranked[0].unit_code == "city-urban" and ranked[0].score == 3
    many = tuple(UnitProfile(f"u{i}", f"单位{i}", "city_unit", keywords=("噪音",)) for i in range(8))
    assert len(score_units("噪音", None, many)) == 5


def test_R7_3_district_bureau_gets_only_its_own_units() -> None:
    assert codes("鼓楼区路灯不亮，物业也不管", within="gulou-bureau") == ["gulou-urban", "gulou-housing"]
    assert codes("路灯不亮", within="taijiang-bureau") == []


def test_nothing_matches_nothing_is_suggested() -> None:
    assert codes("你好") == []


async def test_R4_1_suggestions_from_the_organisation_file_change_nothing(
        session: AsyncSession, make: Maker) -> None:
    case = await make.case("五四路路灯不亮")
    before = (await session.execute(select(Assignment.state).where(Assignment.case_id == case.id))).all()
    suggestions = await suggest_units(session, case)
    assert suggestions[0].unit_code == "city-urban" and suggestions[0].unit_name == "福州市城市管理委员会"
    assert all(s.unit_code != "gulou-urban" for s in suggestions)
    after = (await session.execute(select(Assignment.state).where(Assignment.case_id == case.id))).all()
    assert before == after and (await session.get(Case, case.id)).status == "registered"  # type: ignore[union-attr]
    gulou = await suggest_units(session, await make.case("鼓楼区五四路路灯不亮"), within="gulou-bureau")
    assert [s.unit_code for s in gulou] == ["gulou-urban"]
