"""The efficiency office's supervision desk: per-unit figures city-wide and per district (R11.1),
the sweeper's notices and warnings, the CSV report and the yearly ranking (R12.1)."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from contract.clock import FixedClock
from desks.access.accounts import create_account
from desks.staff.deps import DESK
from desks.staff.pages_supervision import Period, bureau_dispatch, choose_period, districts
from forwarder import findings, knowledge
from forwarder import workflow as wf
from forwarder.supervision import late, on_time
from forwarder.sweeper import Sweeper
from forwarder.workflow_base import Actor
from registrar.models import Assignment, AssignmentRole, Deadline, DeadlineKind, Unit
from tests.forwarder.api_kit import FAST_HASHER, make_api
from tests.forwarder.test_desk_admin import sign_in

Client = TestClient[Any, Any]
#: The table's number columns, in order (as in pages_supervision.COLUMNS, then the rating).
FIGURES = ("dispatched", "read_on_time", "read_late", "answered_on_time", "answered_late",
           "overdue_handling", "expired_unhandled", "passed_first_time", "ratings")


@pytest.fixture
async def situation(client: Client, clock: FixedClock, tmp_path: Path) -> Client:
    """November 2026: city-urban answers on time; gulou-urban reads six days late (swept)."""
    api = await make_api(client, tmp_path)
    await api.case_at("answered", unit="city-urban")
    _, late = await api.case_at("dispatched", unit="gulou-urban")
    clock.advance(timedelta(days=6))  # Mon 30 Nov: past the 2-working-day reading clock (R8.1)
    await Sweeper(api.deps.sessionmaker, api.deps.ctx).run_once()

    async def read(session: Any) -> None:
        await wf.read(session, api.deps.ctx, late, Actor("鼓楼区城管经办人", "unit_handler", "gulou-urban"))
    await api.tx(read)
    return client


def table(page: str, table_id: str = "unit-stats") -> dict[str, list[str]]:
    """unit code → the cells after the name, from a desk table with ``data-unit`` rows."""
    found = re.search(rf'<table[^>]*id="{table_id}".*?</table>', page, re.S)
    assert found is not None, table_id
    rows = re.findall(r'<tr data-unit="([^"]+)">(.*?)</tr>', found.group(0), re.S)
    return {code: [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", cells,
                                                                         re.S)][1:]
            for code, cells in rows}


@pytest.mark.parametrize(("user", "status"), [
    ("efficiency", 200), ("city", 200), ("admin", 200),
    ("agent", 403), ("gulou", 403), ("urban", 403), ("urban-leader", 403), ("discipline", 403)])
async def test_supervision_is_for_the_efficiency_office_city_bureau_and_admins(
        client: Client, tmp_path: Path, user: str, status: int) -> None:
    await make_api(client, tmp_path)
    assert await sign_in(client, user) == 303
    assert (await client.get("/desk/supervision")).status == status
    assert (await client.get("/desk/supervision/report.csv")).status == status


async def test_R11_1_one_unit_on_time_one_late_city_wide_and_per_district(situation: Client) -> None:
    assert await sign_in(situation, "efficiency") == 303
    page = await (await situation.get("/desk/supervision?period=this_month")).text()
    rows = table(page)
    urban, gulou = (dict(zip(FIGURES, rows[c], strict=False)) for c in ("city-urban", "gulou-urban"))
    assert (urban["dispatched"], urban["read_on_time"], urban["read_late"], urban["answered_on_time"],
            urban["passed_first_time"]) == ("1", "1", "0", "1", "1")
    assert (gulou["dispatched"], gulou["read_on_time"], gulou["read_late"], gulou["passed_first_time"]) == (
        "1", "0", "1", "0")
    totals = re.search(r'<tr id="totals">(.*?)</tr>', page, re.S)
    assert totals is not None
    sums = [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<th>(.*?)</th>", totals.group(1))][1:]
    assert dict(zip(FIGURES, sums, strict=False))["read_late"] == "1"
    assert dict(zip(FIGURES, sums, strict=False))["dispatched"] == "2"
    # The sweeper's notice of the late read, charged to the unit (R11.2a).
    events = re.search(r'<table class="list" id="events">.*?</table>', page, re.S)
    assert events is not None and "鼓楼区城市管理局" in events.group(0)
    assert "逾期未阅" in events.group(0) and "通报" in events.group(0)

    district = await (await situation.get("/desk/supervision?district=鼓楼区")).text()
    assert set(table(district)) == {"gulou-urban"}
    assert table(district)["gulou-urban"] == rows["gulou-urban"]

    earlier = await (await situation.get("/desk/supervision?period=custom&from=2026-10-01&to=2026-10-31"
                                         )).text()
    assert table(earlier) == {} and "本期没有交办件" in earlier


async def test_R11_1_the_csv_report_has_the_same_numbers(situation: Client) -> None:
    assert await sign_in(situation, "efficiency") == 303
    page = await (await situation.get("/desk/supervision?period=this_month")).text()
    response = await situation.get("/desk/supervision/report.csv?period=this_month")
    assert response.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in response.headers["Content-Disposition"]
    text = (await response.read()).decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0][1] == "2026-11-01 至 2026-11-30" and lines[0][2] == "全市"
    by_code = {row[0]: row for row in lines[2:] if row and row[0] in ("city-urban", "gulou-urban", "合计")}
    shown = table(page)
    for code in ("city-urban", "gulou-urban"):
        assert by_code[code][3:3 + len(FIGURES)] == shown[code][:len(FIGURES)], code
    assert by_code["合计"][3:5] == ["2", "1"]
    ranked = lines[lines.index(["名次", "单位代码", "单位", "交办件数", "得分"]) + 1:]
    assert [(row[0], row[1]) for row in ranked] == [("1", "city-urban"), ("2", "gulou-urban")]


async def test_R12_1_the_yearly_ranking_puts_the_timely_unit_first(situation: Client) -> None:
    assert await sign_in(situation, "city") == 303
    page = await (await situation.get("/desk/supervision?year=2026")).text()
    ranking = re.search(r'<table[^>]*id="ranking".*?</table>', page, re.S)
    assert ranking is not None
    order = re.findall(r'<tr data-unit="([^"]+)"><td>(\d+)</td>', ranking.group(0))
    assert order == [("city-urban", "1"), ("gulou-urban", "2")]
    empty = await (await situation.get("/desk/supervision?year=2025")).text()
    assert "本年度尚无数据" in empty


async def sign_in_district_office(client: Client) -> int:
    """Add Gulou's efficiency office account (the demo has only the city's) and sign in."""
    deps = client.app[DESK]
    async with deps.sessionmaker.begin() as session:
        await create_account(session, username="gulou-eff", display_name="付晓燕", role="efficiency",
                             unit_code="gulou-efficiency", password="district-office-pw",
                             now=deps.ctx.clock.now(), hasher=FAST_HASHER)
    return await sign_in(client, "gulou-eff", "district-office-pw")


async def test_a_district_efficiency_office_sees_only_its_district(situation: Client) -> None:
    assert await sign_in_district_office(situation) == 303
    page = await (await situation.get("/desk/supervision?district=")).text()
    assert set(table(page)) == {"gulou-urban"}
    assert "效能监督 <small>" in page and "鼓楼区" in page


async def test_R11_1_findings_columns_and_cancelled_dispatch_clocks(situation: Client) -> None:
    """The table shows standing charges, waived ones and hand notices; a bureau's cancelled
    dispatch clock is neither on time nor late (as in ``forwarder.supervision``)."""
    deps = situation.app[DESK]
    office = Actor("胡立新", "efficiency", "city-efficiency")
    async with deps.sessionmaker.begin() as session:
        await findings.issue_notice(session, "gulou-urban", reason="推诿群众诉求", actor=office,
                                    at=deps.ctx.clock.now())
        await session.execute(update(Deadline).where(Deadline.kind == DeadlineKind.DISPATCH)
                              .values(cancelled=True))
    assert await sign_in(situation, "efficiency") == 303
    page = await (await situation.get("/desk/supervision?period=this_month")).text()
    labels = (*FIGURES, "charges", "waived", "notices")
    gulou = dict(zip(labels, table(page)["gulou-urban"], strict=False))
    assert (gulou["charges"], gulou["waived"], gulou["notices"]) == ("0", "0", "1")
    bureaus = re.search(r'<table[^>]*id="bureaus".*?</table>', page, re.S)
    assert bureaus is not None
    rows = re.findall(r"<tr><td>([^<]+)</td><td>(\d+)</td><td>(\d+)</td><td[^>]*>(\d+)</td>",
                      bureaus.group(0))
    assert rows and all((ok, late) == ("0", "0") for _, _, ok, late in rows), rows


async def _dispatch_joined(session: AsyncSession, period: Period, district: str | None
                           ) -> list[tuple[str, int, int, int]]:
    """The bureaus' dispatch clocks as one plain join: what ``bureau_dispatch`` must equal."""
    conditions = [Assignment.role == AssignmentRole.BUREAU, Assignment.created_at >= period.start,
                  Assignment.created_at < period.end, Deadline.kind == DeadlineKind.DISPATCH]
    if district is not None:
        conditions.append(Unit.district == district)
    rows = await session.execute(
        select(Unit.name, func.count(func.distinct(Assignment.id)), on_time(DeadlineKind.DISPATCH),
               late(DeadlineKind.DISPATCH))
        .join(Assignment, Assignment.unit_id == Unit.id)
        .join(Deadline, Deadline.assignment_id == Assignment.id)
        .where(*conditions).group_by(Unit.id, Unit.name).order_by(Unit.id))
    return [(name, int(n), int(ok or 0), int(bad or 0)) for name, n, ok, bad in rows]


async def test_R7_2_bureau_dispatch_clocks_equal_the_plain_join(situation: Client) -> None:
    """``bureau_dispatch`` reads the period's dispatch clocks as one id range before joining (its
    plan at 1 000 000 cases); on time, late and cancelled clocks, city-wide and per
    district, for periods holding the items or none, it counts what the plain join counts."""
    deps = situation.app[DESK]
    zone, today = deps.calendar.zone, deps.ctx.clock.now().astimezone(deps.calendar.zone).date()
    async with deps.sessionmaker.begin() as session:
        clocks = (await session.execute(select(Deadline).where(
            Deadline.kind == DeadlineKind.DISPATCH).order_by(Deadline.id))).scalars().all()
        assert len(clocks) >= 3, clocks
        late_one, cancelled, in_time = clocks[0], clocks[1], clocks[2]
        late_one.met_at = late_one.due_at + timedelta(hours=1)
        cancelled.met_at, cancelled.cancelled = cancelled.due_at, True
        in_time.met_at = in_time.due_at - timedelta(hours=1)
    async with deps.sessionmaker() as session:
        known = await districts(session)
        seen = []
        for query in ({"period": "this_month"}, {"period": "this_year"}, {"period": "last_month"}):
            period = choose_period(query, today, zone)
            for district in (None, *known):
                got = await bureau_dispatch(session, period, district)
                assert got == await _dispatch_joined(session, period, district), (query, district)
                seen.extend(got)
    assert any(bad for *_, bad in seen) and any(ok for _, _, ok, _ in seen), seen


async def test_R12_1_the_formula_beside_the_ranking_and_its_inputs_as_csv(situation: Client) -> None:
    assert await sign_in(situation, "efficiency") == 303
    page = await (await situation.get("/desk/supervision?year=2026")).text()
    assert "贝叶斯平均" in page and 'href="/desk/supervision/ranking.csv?year=2026"' in page
    response = await situation.get("/desk/supervision/ranking.csv?year=2026")
    assert response.status == 200 and "ranking-2026.csv" in response.headers["Content-Disposition"]
    lines = list(csv.reader(io.StringIO((await response.read()).decode("utf-8-sig"))))
    header = lines[2]
    rows = {row[1]: dict(zip(header, row, strict=True)) for row in lines[3:] if row}
    assert list(rows) == ["city-urban", "gulou-urban"]
    assert (rows["gulou-urban"]["按时阅办"], rows["gulou-urban"]["逾期阅办"]) == ("0", "1")
    # R12 回访: the call-back ratings the satisfaction rate pools are inputs too.
    assert (rows["city-urban"]["回访评价数"], rows["city-urban"]["回访平均评分"]) == ("0", "")
    assert float(rows["city-urban"]["得分"]) > float(rows["gulou-urban"]["得分"])


async def test_R12_1_R11_1_call_backs_and_consultations_on_the_supervision_page(
        client: Client, clock: FixedClock, tmp_path: Path) -> None:
    """The page shows each unit's call-back ratings (回访) beside the portal's, and city-wide
    the consultations answered on the call (咨询直办), which are no dispatched items."""
    api = await make_api(client, tmp_path)
    await api.case_at("dissatisfied", unit="city-urban")
    consulted = await api.register("请问社保卡丢了怎么补办")

    async def answer(session: Any) -> None:
        await knowledge.answer_on_call(session, api.deps.ctx, consulted, answer="携带身份证到社保中心办理。",
                                       source="知识库：社保卡补办", actor=Actor("坐席", "agent"))
    await api.tx(answer)
    assert await sign_in(client, "efficiency") == 303
    page = await (await client.get("/desk/supervision?period=this_month")).text()
    urban = table(page)["city-urban"]
    assert urban[-3:] == ["1", "—", "1.0"]  # 回访评价数, 平均评分 (portal: none), 回访平均评分
    found = re.search(r'id="consultations">(\d+)<', page)
    assert found is not None and found.group(1) == "1"
    report = (await (await client.get("/desk/supervision/report.csv?period=this_month")).read()
              ).decode("utf-8-sig")
    rows = {row[0]: row for row in csv.reader(io.StringIO(report)) if row}
    assert rows["city-urban"][-3:] == ["1", "", "1.0"]
    assert rows["咨询直办（坐席当场解答办结，不计入交办件）"][1] == "1"
    district = await (await client.get("/desk/supervision?district=鼓楼区")).text()
    assert 'id="consultations"' not in district  # city-wide only, like the intake counts
