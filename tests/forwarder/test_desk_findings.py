"""The findings desk: the efficiency office confirms or waives a charge with a reason (R11.2b),
issues a notice by hand (R11.1), answers a unit's contest (issue 15.3); the unit sees its own
findings and contests in its window; every form carries the session's CSRF field."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.forwarder.api_kit import Api, make_api
from tests.forwarder.test_desk_admin import csrf, sign_in
from tests.forwarder.test_desk_supervision import FIGURES, sign_in_district_office, table

Client = TestClient[Any, Any]
PAGE = "/desk/supervision/findings"


@pytest.fixture
async def api(client: Client, tmp_path: Path) -> Api:
    return await make_api(client, tmp_path / "files")


def statuses(page: str) -> dict[int, str]:
    return {int(i): s for i, s in re.findall(r'data-finding="(\d+)" data-status="(\w+)"', page)}


def history(page: str, fid: int) -> list[str]:
    found = re.search(rf'data-detail="{fid}".*?</ol>', page, re.S)
    assert found is not None
    return re.findall(r'data-decision="(\w+)"', found.group(0))


async def post(client: Client, path: str, data: dict[str, str], *, token: str | None = None) -> Any:
    return await client.post(path, data={**data, "csrf": token or await csrf(client, PAGE)},
                             allow_redirects=False)


@pytest.mark.parametrize(("user", "status"), [
    ("efficiency", 200), ("city", 200), ("admin", 200), ("urban", 200), ("urban-leader", 200),
    ("agent", 403), ("gulou", 403), ("discipline", 403)])
async def test_findings_page_is_for_offices_supervisors_and_units(
        client: Client, api: Api, user: str, status: int) -> None:
    assert await sign_in(client, user) == 303
    assert (await client.get(PAGE)).status == status


async def test_R11_2b_office_confirms_then_waives_with_a_reason_and_history(client: Client, api: Api) -> None:
    fid = await api.charge("city-urban")
    assert await sign_in(client, "efficiency") == 303
    page = await (await client.get(PAGE)).text()
    assert statuses(page)[fid] == "charged" and "待认定" in page
    # No reason: refused in Chinese, nothing recorded.
    refused = await post(client, f"{PAGE}/{fid}/decide", {"decision": "waive", "reason": " "})
    assert refused.status == 400 and "填写有误" in await refused.text()
    confirmed = await post(client, f"{PAGE}/{fid}/decide",
                           {"decision": "confirm", "reason": "经办人未及时处理"})
    assert confirmed.status == 303 and confirmed.headers["Location"].endswith(f"#f{fid}")
    await post(client, f"{PAGE}/{fid}/decide",
               {"decision": "waive", "reason": "需住建部门先行处置，非人为原因"})
    page = await (await client.get(f"{PAGE}?done=decided")).text()
    assert statuses(page)[fid] == "waived" and "已记录认定决定" in page
    assert history(page, fid) == ["confirm", "waive"]
    assert "需住建部门先行处置，非人为原因" in page
    # The waived charge leaves the unit's charges column on the supervision desk.
    figures = await (await client.get("/desk/supervision")).text()
    row = dict(zip((*FIGURES, "charges", "waived", "notices"), table(figures)["city-urban"],
                   strict=False))
    assert (row["charges"], row["waived"]) == ("0", "1")


async def test_R11_2b_forms_without_the_csrf_field_are_refused(client: Client, api: Api) -> None:
    fid = await api.charge("city-urban")
    assert await sign_in(client, "efficiency") == 303
    response = await client.post(f"{PAGE}/{fid}/decide", data={"decision": "confirm", "reason": "x"},
                                 allow_redirects=False)
    assert response.status == 403
    page = await (await client.get(PAGE)).text()
    assert statuses(page)[fid] == "charged"


async def test_R11_1_office_issues_a_notice_by_hand(client: Client, api: Api) -> None:
    number, _ = await api.case_at("dispatched", unit="city-urban")
    assert await sign_in(client, "efficiency") == 303
    page = await (await client.get(PAGE)).text()
    assert 'id="notice-form"' in page and 'name="csrf"' in page
    done = await post(client, f"{PAGE}/notice", {"unit": "city-urban", "case": number,
                                                 "reason": "多次推诿群众诉求"})
    assert done.status == 303
    page = await (await client.get(f"{PAGE}?done=notice")).text()
    assert "通报已发出" in page and "多次推诿群众诉求" in page and number in page
    missing = await post(client, f"{PAGE}/notice", {"unit": "city-urban", "case": "FZ-NONE",
                                                    "reason": "x"})
    assert missing.status == 404 and "未找到" in await missing.text()


async def test_issue15_unit_contests_and_office_withdraws(client: Client, api: Api) -> None:
    fid = await api.charge("city-urban")
    other = await api.charge("gulou-urban")
    assert await sign_in(client, "urban") == 303
    page = await (await client.get(PAGE)).text()
    assert set(statuses(page)) == {fid}  # its own findings only
    assert f'action="/desk/supervision/findings/{fid}/contest"' in page
    assert "/decide" not in page  # a unit never judges
    assert (await post(client, f"{PAGE}/{other}/contest", {"reason": "x"})).status == 404
    assert (await post(client, f"{PAGE}/{fid}/decide", {"decision": "waive", "reason": "x"})).status == 403
    contested = await post(client, f"{PAGE}/{fid}/contest", {"reason": "当日全市停电，系统无法登录"})
    assert contested.status == 303
    page = await (await client.get(f"{PAGE}?done=contested")).text()
    assert statuses(page)[fid] == "contested" and "/contest" not in page  # once only

    assert await sign_in(client, "efficiency") == 303
    page = await (await client.get(f"{PAGE}?status=contested")).text()
    assert set(statuses(page)) == {fid} and "维持（驳回申诉）" in page
    again = await post(client, f"{PAGE}/{fid}/decide", {"decision": "confirm", "reason": "x"})
    assert again.status == 409 and "当前状态不允许" in await again.text()
    await post(client, f"{PAGE}/{fid}/decide", {"decision": "withdraw", "reason": "停电属实"})
    page = await (await client.get(PAGE)).text()
    assert statuses(page)[fid] == "withdrawn" and history(page, fid) == ["contest", "withdraw"]


async def test_a_district_office_sees_and_decides_only_its_district(client: Client, api: Api) -> None:
    city_fid, gulou_fid = await api.charge("city-urban"), await api.charge("gulou-urban")
    assert await sign_in_district_office(client) == 303
    page = await (await client.get(f"{PAGE}?unit=city-urban")).text()
    assert set(statuses(page)) == set()
    page = await (await client.get(PAGE)).text()
    assert set(statuses(page)) == {gulou_fid}
    assert (await post(client, f"{PAGE}/{city_fid}/decide",
                       {"decision": "confirm", "reason": "x"})).status == 404
    assert (await post(client, f"{PAGE}/notice", {"unit": "city-urban", "reason": "x"})).status == 403
    assert (await post(client, f"{PAGE}/{gulou_fid}/decide",
                       {"decision": "confirm", "reason": "区经办人未处理"})).status == 303


async def test_issue15_withdrawn_notice_leaves_the_figures_and_is_marked_in_the_report(
        client: Client, api: Api) -> None:
    number, _ = await api.case_at("dispatched", unit="city-urban")
    assert await sign_in(client, "efficiency") == 303
    await post(client, f"{PAGE}/notice", {"unit": "city-urban", "case": number, "reason": "推诿"})
    page = await (await client.get(PAGE)).text()
    [fid] = statuses(page)
    labels = (*FIGURES, "charges", "waived", "notices")
    before = dict(zip(labels, table(await (await client.get("/desk/supervision")).text())["city-urban"],
                      strict=False))
    assert before["notices"] == "1"
    assert await sign_in(client, "urban") == 303
    assert (await post(client, f"{PAGE}/{fid}/contest", {"reason": "已按时办结"})).status == 303
    assert await sign_in(client, "efficiency") == 303
    assert (await post(client, f"{PAGE}/{fid}/decide", {"decision": "withdraw", "reason": "属实"})
            ).status == 303
    report = await (await client.get("/desk/supervision")).text()
    after = dict(zip(labels, table(report)["city-urban"], strict=False))
    assert after["notices"] == "0"
    events = re.search(r'<table class="list" id="events">.*?</table>', report, re.S)
    assert events is not None and 'class="set-aside"' in events.group(0) and "已撤销" in events.group(0)
