"""The administrator's desk: roster changes with effective dates and history (R10.2, R10.3),
accounts, routing keywords and the calendar check; for admins only."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from desks.access.accounts import demo_password, seed_demo_accounts
from desks.staff.deps import DESK
from desks.words import chinese_only
from forwarder import admin
from forwarder.calendar_check import calendar_check
from registrar.models import Account, RosterEntry, Unit
from registrar.roster import roster_at
from tests.conftest import TZ
from tests.forwarder.api_kit import FAST_HASHER

Client = TestClient[Any, Any]
ADMIN_PAGES = ("/desk/admin", "/desk/admin/units/city-urban", "/desk/admin/users", "/desk/admin/calendar")


@pytest.fixture
async def desk(client: Client) -> Client:
    deps = client.app[DESK]
    async with deps.sessionmaker.begin() as session:
        await seed_demo_accounts(session, deps.ctx.clock.now(), hasher=FAST_HASHER)
    return client


async def sign_in(client: Client, user: str, password: str | None = None) -> int:
    client.session.cookie_jar.clear()
    response = await client.post("/desk/login", data={"username": user,
                                                      "password": password or demo_password(user)},
                                 allow_redirects=False)
    return response.status


async def csrf(client: Client, path: str = "/desk/password") -> str:
    page = await (await client.get(path)).text()
    found = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert found is not None
    return found.group(1)


async def post(client: Client, path: str, **fields: str) -> Any:
    return await client.post(path, data={"csrf": await csrf(client), **fields}, allow_redirects=False)


async def roster_names(client: Client, unit: str, moment: datetime) -> set[tuple[str, str]]:
    async with client.app[DESK].sessionmaker() as session:
        return {(e.duty, e.person_name) for e in await roster_at(session, unit, moment)}


@pytest.mark.parametrize("user", ["agent", "city", "gulou", "urban", "urban-leader", "discipline",
                                  "efficiency"])
async def test_admin_pages_refuse_every_other_role(desk: Client, user: str) -> None:
    assert await sign_in(desk, user) == 303
    for path in ADMIN_PAGES:
        assert (await desk.get(path)).status == 403, path
    refused = await post(desk, "/desk/admin/units/city-urban/appoint", person="某人", duty="handler",
                         effective="2026-12-01")
    assert refused.status == 403
    assert ("handler", "某人") not in await roster_names(desk, "city-urban",
                                                       datetime(2026, 12, 2, tzinfo=TZ))


async def test_admin_pages_open_for_the_admin_and_need_a_session(desk: Client) -> None:
    for path in ADMIN_PAGES:
        assert (await desk.get(path, allow_redirects=False)).status == 303, path  # to sign-in
    assert await sign_in(desk, "admin") == 303
    for path in ADMIN_PAGES:
        assert (await desk.get(path)).status == 200, path
    units = await (await desk.get("/desk/admin")).text()
    assert "福州市城市管理委员会" in units and "鼓楼区" in units and "高静怡" in units
    no_token = await desk.post("/desk/admin/units/city-urban/keywords", data={"keywords": "x"},
                               allow_redirects=False)
    assert no_token.status == 403


async def test_R10_2_appointment_and_relief_take_effect_on_their_dates_and_keep_history(
        desk: Client) -> None:
    assert await sign_in(desk, "admin") == 303
    page = await (await desk.get("/desk/admin/units/city-urban")).text()
    entry = re.search(r'<option value="(\d+)">郑建华', page)
    assert entry is not None
    appointed = await post(desk, "/desk/admin/units/city-urban/appoint", person="林新来",
                           duty="handler", effective="2026-12-01", reporter="城管委办公室 陈干事")
    assert appointed.status == 303
    relieved = await post(desk, "/desk/admin/units/city-urban/relieve", entry=entry.group(1),
                          effective="2026-12-01", reporter="城管委办公室 陈干事")
    assert relieved.status == 303

    before = await roster_names(desk, "city-urban", datetime(2026, 11, 30, 23, 59, tzinfo=TZ))
    after = await roster_names(desk, "city-urban", datetime(2026, 12, 1, 0, 0, tzinfo=TZ))
    assert ("handler", "郑建华") in before and ("handler", "林新来") not in before
    assert ("handler", "林新来") in after and ("handler", "郑建华") not in after

    history = await (await desk.get("/desk/admin/units/city-urban?done=appointed")).text()
    assert "已任命" in history
    rows = re.findall(r'<tr class="state-(\w+)">(.*?)</tr>', history, re.S)
    by_person = {re.findall(r"<td>([^<]*)</td>", cells)[0]: (state, cells) for state, cells in rows}
    assert by_person["林新来"][0] == "future" and "2026-12-01" in by_person["林新来"][1]
    state, cells = by_person["郑建华"]
    assert state == "current" and "2026-01-05" in cells and "2026-12-01" in cells
    assert "卸任报告：城管委办公室 陈干事" in cells
    # R10.2: a city unit's change goes to the city efficiency office, city bureau and gov office.
    for office in ("福州市效能办", "福州市信访局", "福州市人民政府办公厅"):
        assert office in by_person["林新来"][1]


async def test_R10_2_a_district_units_change_is_reported_to_the_district_and_copied_to_the_city(
        desk: Client) -> None:
    async with desk.app[DESK].sessionmaker.begin() as session:
        entry = await admin.appoint(session, "gulou-urban", "新经办", "handler",
                                    effective=datetime(2026, 12, 1, tzinfo=TZ), reported_by="区城管局")
        line = admin.ReportLine.unpack(entry.reported_by)
        names = dict((await session.execute(select(Unit.id, Unit.name))).all())
    assert [names[i] for i in line.to] == ["鼓楼区效能办", "鼓楼区信访局"]
    assert [names[i] for i in line.cc] == ["福州市效能办", "福州市信访局"]
    assert line.reporter == "区城管局"


async def test_R10_3_relieving_the_last_leader_is_allowed_but_shown_in_red(desk: Client) -> None:
    assert await sign_in(desk, "admin") == 303
    page = await (await desk.get("/desk/admin/units/city-urban")).text()
    assert 'class="roster-gap"' not in page
    entry = re.search(r'<option value="(\d+)">高静怡', page)
    assert entry is not None
    response = await post(desk, "/desk/admin/units/city-urban/relieve", entry=entry.group(1),
                          effective="2026-11-24")
    assert response.status == 303
    page = await (await desk.get("/desk/admin/units/city-urban")).text()
    assert re.search(r'class="roster-gap"[^>]*>本单位当前没有分管领导', page)
    assert "R10.3" in page
    units = await (await desk.get("/desk/admin")).text()
    assert re.search(r'<tr class="gap">\s*<td><a href="/desk/admin/units/city-urban"', units)


async def test_a_relief_before_the_appointment_or_twice_is_refused(desk: Client) -> None:
    assert await sign_in(desk, "admin") == 303
    page = await (await desk.get("/desk/admin/units/city-urban")).text()
    entry = re.search(r'<option value="(\d+)">郑建华', page)
    assert entry is not None
    early = await post(desk, "/desk/admin/units/city-urban/relieve", entry=entry.group(1),
                       effective="2025-12-31")
    assert early.status == 400 and "卸任日期须晚于任职开始日期" in await early.text()
    other_unit = await post(desk, "/desk/admin/units/city-housing/relieve", entry=entry.group(1),
                            effective="2026-12-01")
    assert other_unit.status == 400
    twice = await post(desk, "/desk/admin/units/city-urban/appoint", person="郑建华", duty="handler",
                       effective="2026-12-01")
    assert twice.status == 400 and "已担任" in await twice.text()


async def test_created_account_signs_in_once_deactivated_it_cannot(desk: Client) -> None:
    assert await sign_in(desk, "admin") == 303
    created = await post(desk, "/desk/admin/users", username="housing2", display_name="宋丽娟",
                         role="unit_handler", unit="city-housing")
    page = await created.text()
    assert created.status == 200 and created.headers["Cache-Control"] == "no-store"
    found = re.search(r'<code id="issued-password">([^<]+)</code>', page)
    assert found is not None
    password = found.group(1)
    assert password not in await (await desk.get("/desk/admin/users")).text()  # shown once

    assert await sign_in(desk, "housing2", password) == 303
    assert (await desk.get("/desk/password")).status == 200
    own_session = desk.session.cookie_jar.filter_cookies(desk.make_url("/"))

    assert await sign_in(desk, "admin") == 303
    async with desk.app[DESK].sessionmaker() as session:
        account_id = (await session.execute(select(Account.id).where(Account.username == "housing2"))
                      ).scalar_one()
    off = await post(desk, f"/desk/admin/users/{account_id}/active", active="0")
    assert off.status == 303
    assert await sign_in(desk, "housing2", password) == 401
    desk.session.cookie_jar.update_cookies(own_session)
    assert (await desk.get("/desk/password", allow_redirects=False)).status == 303  # session ended

    assert await sign_in(desk, "admin") == 303
    assert (await post(desk, f"/desk/admin/users/{account_id}/active", active="1")).status == 303
    reset = await post(desk, f"/desk/admin/users/{account_id}/password")
    new = re.search(r'<code id="issued-password">([^<]+)</code>', await reset.text())
    assert new is not None and new.group(1) != password
    assert await sign_in(desk, "housing2", password) == 401
    assert await sign_in(desk, "housing2", new.group(1)) == 303


async def test_an_account_whose_role_does_not_fit_its_unit_is_refused_keeping_the_form(
        desk: Client) -> None:
    assert await sign_in(desk, "admin") == 303
    refused = await post(desk, "/desk/admin/users", username="wrong", display_name="某人",
                         role="city_bureau", unit="city-housing")
    page = await refused.text()
    assert refused.status == 400 and "与所属单位不符" in page and 'value="wrong"' in page
    async with desk.app[DESK].sessionmaker() as session:
        assert (await session.execute(select(Account).where(Account.username == "wrong"))).first() is None


async def test_the_admin_cannot_deactivate_their_own_account(desk: Client) -> None:
    assert await sign_in(desk, "admin") == 303
    async with desk.app[DESK].sessionmaker() as session:
        me = (await session.execute(select(Account.id).where(Account.username == "admin"))).scalar_one()
    refused = await post(desk, f"/desk/admin/users/{me}/active", active="0")
    assert refused.status == 400 and "不能停用自己的账号" in await refused.text()


async def test_keywords_are_saved_and_script_in_them_or_in_a_name_is_inert(desk: Client) -> None:
    assert await sign_in(desk, "admin") == 303
    script = "<svg/onload=alert()>"  # no spaces: spaces separate keywords
    saved = await post(desk, "/desk/admin/units/city-urban/keywords", keywords=f"占道、违建 {script}")
    assert saved.status == 303
    async with desk.app[DESK].sessionmaker() as session:
        unit = (await session.execute(select(Unit).where(Unit.code == "city-urban"))).scalar_one()
    assert unit.keywords == ["占道", "违建", script]
    for path in ("/desk/admin/units/city-urban", "/desk/admin"):
        page = await (await desk.get(path)).text()
        assert script not in page and "&lt;svg/onload=alert()&gt;" in page
    image = '<img src=x onerror="alert(2)">'
    await post(desk, "/desk/admin/users", username="xss", display_name=image, role="unit_handler",
               unit="city-urban")
    await post(desk, "/desk/admin/units/city-urban/appoint", person=image, duty="handler",
               effective="2026-12-01", reporter=image)
    for path in ("/desk/admin/users", "/desk/admin/units/city-urban"):
        page = await (await desk.get(path)).text()
        assert "<img src=x" not in page and "&lt;img src=x onerror=" in page


async def test_the_calendar_page_shows_the_check_and_where_to_edit(desk: Client) -> None:
    assert await sign_in(desk, "admin") == 303
    page = await (await desk.get("/desk/admin/calendar")).text()
    deps = desk.app[DESK]
    lines = calendar_check(deps.calendar, deps.ctx.clock.now().astimezone(TZ).date())
    assert "2026" in lines[0] and "2027" in lines[0]
    for line in lines:  # in Chinese only: the English asides are for the shell
        assert str(chinese_only(line)) in page
    assert "config/calendar.toml" in page and "calendar_file" in page and "重启服务" in page
    loud = [line for line in lines if line.startswith("!!!")]
    assert bool(loud) == ('id="calendar-alarm"' in page)


def test_roster_entries_from_the_organisation_file_read_as_plain_reporters() -> None:
    assert admin.ReportLine.unpack("config") == admin.ReportLine(reporter="config")
    line = admin.ReportLine(reporter="x" * 300, to=(1, 2, 3), cc=(4, 5), relieved_by="y" * 300)
    packed = line.pack()
    assert len(packed) <= 100
    back = admin.ReportLine.unpack(packed)
    assert (back.to, back.cc) == ((1, 2, 3), (4, 5)) and back.reporter.startswith("x")
    assert back.relieved_by is not None and back.relieved_by.startswith("y")
    assert isinstance(RosterEntry.reported_by.type.length, int)
    assert len(packed) <= RosterEntry.reported_by.type.length
