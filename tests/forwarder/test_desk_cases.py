"""The case desks through the whole app: queue, inbox, case page, search, for each role."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from contract.clock import FixedClock
from desks.access.accounts import demo_password
from desks.staff import pages_cases
from desks.staff.pages_cases_view import Clocks
from forwarder import rules
from registrar.models import Assignment, Case, Deadline, DeadlineKind, Unit
from tests.forwarder.api_kit import Api, make_api

Client = TestClient[Any, Any]


class Desk:
    """Signs in as one demo user at a time and fetches pages."""

    def __init__(self, api: Api) -> None:
        self.api, self.client, self.user = api, api.client, ""

    async def as_(self, user: str) -> Desk:
        if user != self.user:
            self.client.session.cookie_jar.clear()
            response = await self.client.post("/desk/login", allow_redirects=False, data={
                "username": user, "password": demo_password(user)})
            assert response.status == 303, user
            self.user = user
        return self

    async def get(self, user: str, path: str, **params: str) -> tuple[int, str]:
        await self.as_(user)
        response = await self.client.get(path, params=params, allow_redirects=False)
        return response.status, await response.text()


@pytest.fixture
async def desk(client: Client, tmp_path: Path) -> Desk:
    return Desk(await make_api(client, tmp_path))


def section(page: str, name: str) -> str:
    """The HTML of one ``<section id="...">`` of a page."""
    match = re.search(rf'<section[^>]*id="{name}".*?</section>', page, re.S)
    assert match is not None, name
    return match.group(0)


def forms(page: str) -> set[str]:
    """The API endpoints the page's action forms post to."""
    return set(re.findall(r'data-api="([^"]+)"', page))


# --- the bureau's queue ------------------------------------------------------------------


async def test_R7_2_city_queue_lists_a_registered_case_with_its_dispatch_clock(desk: Desk) -> None:
    number = await desk.api.register("五四路路灯不亮")
    status, page = await desk.get("city", "/desk/queue")
    queue = section(page, "section-queue")
    assert status == 200 and number in queue and "五四路路灯不亮" in queue
    assert 'class="due-ok"' in queue and "交办 2026-11-25 " in queue


async def test_deadline_colours_follow_the_clock_past_warn_and_due(desk: Desk, clock: FixedClock) -> None:
    number = await desk.api.register()

    async def clock_of(session: AsyncSession) -> Deadline:
        return (await session.execute(select(Deadline).join(Case, Case.id == Deadline.case_id).where(
            Case.number == number, Deadline.kind == DeadlineKind.DISPATCH))).scalar_one()
    row = await desk.api.tx(clock_of)
    assert row.warn_at < row.due_at
    colours = []
    for moment in (row.warn_at - timedelta(minutes=1), row.warn_at, row.due_at):
        clock.moment = moment
        queue = section((await desk.get("city", "/desk/queue"))[1], "section-queue")
        colours.append(re.findall(r'class="(due-[a-z]+)"', queue))
    assert colours == [["due-ok"], ["due-soon"], ["due-late"]]


async def test_R8_4a_submitted_answer_waits_in_the_reviewing_bureaus_queue(desk: Desk) -> None:
    city_item, _ = await desk.api.case_at("submitted")
    district_item, _ = await desk.api.case_at("submitted", unit="gulou-urban")
    city_queue = section((await desk.get("city", "/desk/queue"))[1], "section-review")
    gulou_queue = section((await desk.get("gulou", "/desk/queue"))[1], "section-review")
    assert city_item in city_queue and district_item not in city_queue
    assert district_item in gulou_queue and city_item not in gulou_queue
    assert "审核 " in city_queue and "福州市城市管理委员会" in city_queue


async def test_R8_3b_return_request_and_R9_answered_case_in_the_city_queue(desk: Desk) -> None:
    returned, _ = await desk.api.case_at("return_requested")
    answered, _ = await desk.api.case_at("answered")
    page = (await desk.get("city", "/desk/queue"))[1]
    assert returned in section(page, "section-returns") and "不属本单位职责" in page
    assert answered in section(page, "section-publication")
    assert answered not in section((await desk.get("gulou", "/desk/queue"))[1], "section-publication")


async def test_queue_is_for_bureaus_and_inbox_for_units(desk: Desk) -> None:
    assert (await desk.get("urban", "/desk/queue"))[0] == 403
    assert (await desk.get("city", "/desk/inbox"))[0] == 403


async def test_R3_8_emergency_and_R6_internal_badges_in_the_queue(desk: Desk) -> None:
    number = await desk.api.register("举报某科长受贿", public=False)

    async def flag(session: AsyncSession) -> None:
        case = (await session.execute(select(Case).where(Case.number == number))).scalar_one()
        case.emergency = "110"
    await desk.api.tx(flag)
    queue = section((await desk.get("city", "/desk/queue"))[1], "section-queue")
    assert "紧急 110" in queue and 'class="badge internal"' in queue


# --- the unit's inbox -------------------------------------------------------------------


async def test_R8_1_inbox_shows_read_and_answer_due_dates(desk: Desk) -> None:
    number, _ = await desk.api.case_at("dispatched")
    page = (await desk.get("urban", "/desk/inbox"))[1]
    inbox = section(page, "section-inbox")
    assert number in inbox and "阅件 2026-11-26" in inbox and "答复 2026-12-08" in inbox
    assert "section-approvals" not in page  # a handler approves nothing


async def test_R8_2c_leader_sees_drafts_waiting_for_approval_first(desk: Desk) -> None:
    read, _ = await desk.api.case_at("read")
    drafted, _ = await desk.api.case_at("drafted")
    page = (await desk.get("urban-leader", "/desk/inbox"))[1]
    assert page.index("section-approvals") < page.index("section-inbox")
    assert drafted in section(page, "section-approvals") and read in section(page, "section-inbox")
    assert drafted not in section(page, "section-inbox")



async def test_R8_2c_inbox_pages_walk_the_drafts_then_the_rest_in_order(
        desk: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages of 2: a leader's three drafts, then the two others, oldest first within each; a
    handler's five in order of arrival. Each part is its own index walk (migration 0022), so
    the pages must meet exactly: nothing twice, nothing skipped."""
    made = [(await desk.api.case_at(stage))[0] for stage in ("read", "drafted", "drafted", "read", "drafted")]
    monkeypatch.setattr(pages_cases, "PAGE_SIZE", 2)
    unit = await desk.api.tx(lambda s: s.scalar(select(Unit).where(Unit.code == "city-urban")))
    assert unit is not None
    clk = Clocks(ZoneInfo("Asia/Shanghai"), desk.api.deps.ctx.clock.now())

    async def walk(leader: bool) -> list[str]:
        seen: list[str] = []
        page, more = 1, True
        while more:
            rows, more = await desk.api.tx(partial(pages_cases.inbox_rows, unit=unit, page=page,
                                                   clk=clk, leader=leader))
            seen += [r.number for r in rows]
            page += 1
        return seen

    assert await walk(leader=True) == [made[1], made[2], made[4], made[0], made[3]]
    assert await walk(leader=False) == made


async def _one_query_pages(session: AsyncSession, bureau: Unit, state: str, kind: DeadlineKind,
                           scope: Any) -> list[list[tuple[str, datetime | None]]]:
    """The section as one query, clock outer-joined, ``NULLS LAST`` (what the queue asked
    before its split), paged and de-duplicated as the queue does: the order the split keeps."""
    d = aliased(Deadline)
    query = (select(Assignment.id, Case.number, d.due_at).join(Case, Case.id == Assignment.case_id)
             .join(Unit, Unit.id == Assignment.unit_id)
             .outerjoin(d, and_(d.assignment_id == Assignment.id, d.kind == kind, d.met_at.is_(None)))
             .where(Assignment.state == state, scope(bureau))
             .order_by(d.due_at.asc().nulls_last(), Case.registered_at, Assignment.id))
    pages, page, more = [], 1, True
    while more:
        size = pages_cases.PAGE_SIZE
        found = (await session.execute(query.offset((page - 1) * size).limit(size + 1))).all()
        first: dict[int, tuple[str, datetime | None]] = {}
        for aid, number, due_at in found:
            first.setdefault(aid, (number, due_at))
        pages.append(list(first.values())[:size])
        more, page = len(found) > size, page + 1
    return pages


async def test_R7_2_R8_4a_R8_3b_queue_sections_page_by_clock_then_clockless_as_one_query_would(
        desk: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    """The city's sections are two walks each (clocked by due time, then the clockless oldest
    first, migration 0027), a district's one query; pages of 2 across both parts, a missed clock
    (still unmet, listed first), met ones (clockless now), a second unmet clock and a tie on due
    time must come out exactly as the one outer-joined query pages them."""
    monkeypatch.setattr(pages_cases, "PAGE_SIZE", 2)
    groups = [(DeadlineKind.REVIEW, [(await desk.api.case_at("submitted", unit=unit))[1] for _ in range(6)])
              for unit in ("city-urban", "gulou-urban")]
    groups += [(DeadlineKind.RETURN_DECISION,
                [(await desk.api.case_at("return_requested", unit=unit))[1] for _ in range(6)])
               for unit in ("city-urban", "gulou-urban")]
    registered = [await desk.api.register() for _ in range(6)]
    groups.append((DeadlineKind.DISPATCH, list(await desk.api.tx(lambda s: s.scalars(
        select(Assignment.id).join(Case, Case.id == Assignment.case_id)
        .where(Case.number.in_(registered), Assignment.role == "bureau").order_by(Assignment.id))))))
    now = desk.api.deps.ctx.clock.now()

    async def scramble(session: AsyncSession) -> None:
        for kind, aids in groups:
            clocks = {c.assignment_id: c for c in (await session.execute(select(Deadline).where(
                Deadline.assignment_id.in_(aids), Deadline.kind == kind))).scalars()}
            cases = {a: c for a, c in (await session.execute(select(Assignment.id, Case).join(
                Case, Case.id == Assignment.case_id).where(Assignment.id.in_(aids)))).all()}
            for i, aid in enumerate(aids):  # the newest due first: not the order of registration
                clocks[aid].due_at = now + timedelta(hours=10 * (len(aids) - i))
            for clockless in (aids[0], aids[4]):  # met: listed after every clocked one
                clocks[clockless].met_at = now
            clocks[aids[1]].due_at, clocks[aids[1]].missed = now - timedelta(hours=1), True
            clocks[aids[2]].due_at = clocks[aids[3]].due_at  # a tie: registration decides …
            # … and registration is not the order of the ids, here or among the clockless
            cases[aids[2]].registered_at = cases[aids[3]].registered_at + timedelta(seconds=1)
            cases[aids[4]].registered_at = cases[aids[0]].registered_at - timedelta(seconds=1)
            extra = clocks[aids[-1]]
            session.add(Deadline(case_id=extra.case_id, assignment_id=extra.assignment_id, kind=kind,
                                 rule=extra.rule, started_at=now, working_days=1,
                                 due_at=now + timedelta(minutes=5), warn_at=now))
    await desk.api.tx(scramble)
    clk = Clocks(ZoneInfo("Asia/Shanghai"), now)
    sections: tuple[tuple[str, str, DeadlineKind, Any], ...] = (
        ("review", "submitted", DeadlineKind.REVIEW, pages_cases.reviewed_by),
        ("returns", "return_requested", DeadlineKind.RETURN_DECISION, pages_cases.return_decided_by))
    queued = ("queue", "queued", DeadlineKind.DISPATCH,
              lambda b: and_(Assignment.unit_id == b.id, Assignment.role == "bureau"))
    for code, listed in (("city-bureau", (queued, *sections)), ("gulou-bureau", sections)):
        bureau = await desk.api.tx(lambda s, c=code: s.scalar(select(Unit).where(Unit.code == c)))
        assert bureau is not None
        for name, state, kind, scope in listed:
            expected = await desk.api.tx(partial(_one_query_pages, bureau=bureau, state=state, kind=kind,
                                                 scope=scope))
            # 5 clocked rows (one assignment has two clocks: it shows on two pages), 2 clockless
            assert list(map(len, expected)) == [2, 2, 2, 1], (code, name, expected)
            for page, rows in enumerate(expected, start=1):
                shown_sections, _ = await desk.api.tx(partial(pages_cases.queue_sections, bureau=bureau,
                                                              page=page, clk=clk))
                shown = [(r.number, r.dues[0].at if r.dues else None) for r in shown_sections[name]]
                assert [number for number, _ in shown] == [number for number, _ in rows], (code, name, page)
                assert [due is None for _, due in shown] == [due is None for _, due in rows], (code, name)


# --- the case page ---------------------------------------------------------------------


async def test_R3_city_screens_a_registered_case_with_the_nine_reasons(desk: Desk) -> None:
    number = await desk.api.register()
    page = (await desk.get("city", f"/desk/cases/{number}"))[1]
    assert forms(page) >= {f"/api/cases/{number}/accept", f"/api/cases/{number}/not-accept"}
    assert f"/api/cases/{number}/dispatch" not in forms(page)
    for code, text in rules.NOT_ACCEPTED_REASONS.items():
        assert f'<option value="{code}" title="依据规定 {code}">{text}</option>' in page
    for code in rules.INTERNAL_REASONS:
        assert f'<option value="{code}" title="依据规定 {code}">' in page


async def test_R4_1_city_sees_dispatch_on_an_accepted_case_with_suggestions_not_applied(desk: Desk) -> None:
    number, _ = await desk.api.case_at("accepted")
    page = (await desk.get("city", f"/desk/cases/{number}"))[1]
    assert {f"/api/cases/{number}/dispatch", f"/api/cases/{number}/split",
            f"/api/cases/{number}/escalate"} <= forms(page)
    # R8.5a: a first item is no repeat; stopping is not offered, only explained.
    assert f"/api/cases/{number}/stop" not in forms(page) and "R8.5a" in section(page, "act-stop")
    dispatch = section(page, "act-dispatch")
    assert "系统建议" in dispatch and 'name="co_units[]"' in dispatch
    assert " selected" not in dispatch  # never pre-applied
    assert '<option value="city-urban">' in dispatch and '<option value="gulou-bureau">' in dispatch


async def test_R8_2c_handler_sees_no_approve_button_and_leader_does(desk: Desk) -> None:
    number, assignment = await desk.api.case_at("drafted")
    handler = (await desk.get("urban", f"/desk/cases/{number}"))[1]
    leader = (await desk.get("urban-leader", f"/desk/cases/{number}"))[1]
    approve = f"/api/assignments/{assignment}/approve"
    assert approve not in forms(handler) and f"/api/assignments/{assignment}/draft" in forms(handler)
    assert approve in forms(leader)
    assert not any(f.startswith("/api/cases/") for f in forms(handler) | forms(leader))


async def test_R8_1_dispatched_unit_reads_or_returns(desk: Desk) -> None:
    number, assignment = await desk.api.case_at("dispatched")
    page = (await desk.get("urban", f"/desk/cases/{number}"))[1]
    assert forms(page) == {f"/api/assignments/{assignment}/read", f"/api/assignments/{assignment}/return"}


async def test_R8_4_city_reviews_and_R9_publishes(desk: Desk) -> None:
    number, assignment = await desk.api.case_at("submitted")
    page = (await desk.get("city", f"/desk/cases/{number}"))[1]
    assert f"/api/assignments/{assignment}/review" in forms(page)
    assert (await desk.get("urban", f"/desk/cases/{number}"))[1].count("data-api=") == 0
    answered, _ = await desk.api.case_at("answered")
    page = (await desk.get("city", f"/desk/cases/{answered}"))[1]
    assert f"/api/cases/{answered}/publication" in forms(page)
    assert 'id="btn-publish"' in page and 'id="btn-original-only"' not in page  # R9.3


async def test_R9_2a_internal_answer_is_never_offered_for_publication(desk: Desk) -> None:
    number, _ = await desk.api.case_at("answered", internal_reason="R6.3")
    page = (await desk.get("city", f"/desk/cases/{number}"))[1]
    assert 'id="btn-original-only"' in page and 'id="btn-publish"' not in page


async def test_R8_3b_return_decision_form_offers_the_proposed_unit(desk: Desk) -> None:
    number, assignment = await desk.api.case_at("return_requested")
    page = (await desk.get("city", f"/desk/cases/{number}"))[1]
    decision = section(page, f"act-return-decision-{assignment}")
    assert f"/api/assignments/{assignment}/return-decision" in decision
    assert '<option value="city-housing" selected>' in decision


async def test_xss_in_case_text_is_inert_on_case_queue_and_search_pages(desk: Desk) -> None:
    payload = '<script>alert(1)</script><img src=x onerror="alert(2)">'
    number = await desk.api.register(payload)
    for path in (f"/desk/cases/{number}", "/desk/queue", f"/desk/search?number={number}"):
        status, page = await desk.get("city", path)
        assert status == 200 and "<script>alert(1)" not in page and "<img src=x" not in page, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page, path


async def test_R7_3_district_gets_404_on_another_districts_case(desk: Desk) -> None:
    number, _ = await desk.api.case_at("dispatched", unit="gulou-urban")
    assert (await desk.get("gulou", f"/desk/cases/{number}"))[0] == 200
    assert (await desk.get("taijiang", f"/desk/cases/{number}"))[0] == 404
    assert (await desk.get("urban", f"/desk/cases/{number}"))[0] == 404
    assert (await desk.get("taijiang", "/desk/cases/FZ12345-20990101-000001"))[0] == 404


async def test_invariant6_contact_whole_for_handlers_masked_for_supervision(desk: Desk) -> None:
    number, _ = await desk.api.case_at("dispatched")
    assert "+8613905910001" in (await desk.get("urban", f"/desk/cases/{number}"))[1]
    supervisor = (await desk.get("efficiency", f"/desk/cases/{number}"))[1]
    assert "+8613905910001" not in supervisor and "139****0001" in supervisor


async def test_case_page_shows_history_and_deadlines(desk: Desk) -> None:
    number, _ = await desk.api.case_at("read")
    page = (await desk.get("city", f"/desk/cases/{number}"))[1]
    history = section(page, "history")
    assert all(f"<b>{label}</b>" in history for label in ("登记", "受理", "交办单位", "阅件"))
    assignments = section(page, "assignments")
    assert "due-met" in assignments and "due-ok" in assignments  # read met, answer running


# --- search ------------------------------------------------------------------------------


async def test_search_by_phone_number_text_status_and_date(desk: Desk) -> None:
    first = await desk.api.register("台江区噪音扰民", sender="+8613905910002")
    other = await desk.api.register("晋安区停水")
    for params in ({"phone": "139 0591 0002"}, {"number": first}, {"q": "噪音"},
                   {"status": "registered", "from": "2026-11-24", "to": "2026-11-24", "q": "台江"}):
        page = (await desk.get("city", "/desk/search", **params))[1]
        results = section(page, "results")
        assert first in results and other not in results, params
    empty = section((await desk.get("city", "/desk/search", **{"from": "2026-11-25"}))[1], "results")
    assert first not in empty and "没有符合条件的案件" in empty


async def test_search_shows_only_visible_cases_and_rejects_bad_input(desk: Desk) -> None:
    number = await desk.api.register("五四路路灯不亮")
    assert number in section((await desk.get("city", "/desk/search", q="路灯"))[1], "results")
    assert number not in section((await desk.get("urban", "/desk/search", q="路灯"))[1], "results")
    status, page = await desk.get("city", "/desk/search", phone="12")
    assert status == 400 and 'class="error"' in page


async def test_R7_3_district_bureau_dispatches_to_its_own_units_or_asks_the_city_back(desk: Desk) -> None:
    number, _ = await desk.api.case_at("accepted")
    status, _ = await desk.api.post("city", f"/cases/{number}/dispatch", {"unit": "gulou-bureau"})
    assert status == 200
    page = (await desk.get("gulou", f"/desk/cases/{number}"))[1]
    dispatch = section(page, "act-dispatch")
    assert '<option value="gulou-urban">' in dispatch and '<option value="taijiang-urban">' not in dispatch
    assert '<option value="city-urban">' not in dispatch
    assert "R8.3c" in section(page, "act-district-return")
    assert not {f"/api/cases/{number}/accept", f"/api/cases/{number}/split"} & forms(page)
    assert number in section((await desk.get("gulou", "/desk/queue"))[1], "section-queue")


async def test_R8_5b_stop_is_offered_once_the_same_issue_was_answered_more_than_three_times(
        desk: Desk) -> None:
    earlier = []
    for _ in range(4):
        number, _ = await desk.api.case_at("answered")
        status, _ = await desk.api.post("city", f"/cases/{number}/publication", {"publish": True})
        assert status == 200
        earlier.append(number)
    latest = await desk.api.register()
    page = (await desk.get("city", f"/desk/cases/{latest}"))[1]
    stop = section(page, "act-stop")
    assert f"/api/cases/{latest}/stop" in stop and "已答复 4 次" in stop
    assert all(n in stop for n in earlier)


async def test_R9_3_bureau_sees_and_edits_the_exact_public_text_before_publishing(
        desk: Desk) -> None:
    number, _ = await desk.api.case_at("answered")

    async def with_phone(session: AsyncSession) -> None:
        case = (await session.execute(select(Case).where(Case.number == number))).scalar_one()
        case.text = "我的电话13805912345，五四路路灯不亮"
    await desk.api.tx(with_phone)
    form = section((await desk.get("city", f"/desk/cases/{number}"))[1], "act-publication")
    assert "我的电话138****2345，五四路路灯不亮" in form and "13805912345" not in form
    assert "已派人维修，路灯已恢复。" in form
    status, _ = await desk.api.post("city", f"/cases/{number}/publication", {
        "publish": True, "summary": "五四路路灯不亮", "answer": "路灯已修复。"})
    assert status == 200
    public = await (await desk.client.get(f"/answers/{number}")).text()
    assert "五四路路灯不亮" in public and "路灯已修复。" in public and "电话" not in public


async def test_R8_8_government_office_sees_the_coordination_form_on_the_case_page(
        desk: Desk) -> None:
    from desks.access.accounts import create_account
    from tests.forwarder.api_kit import FAST_HASHER

    async def gov_office_account(session: AsyncSession) -> None:
        await create_account(session, username="gov", display_name="办公厅经办",
                             role="unit_handler", unit_code="city-gov-office",
                             password=demo_password("gov"), now=desk.api.deps.ctx.clock.now(),
                             hasher=FAST_HASHER)

    await desk.api.tx(gov_office_account)
    number, _ = await desk.api.case_at("dispatched")
    _, body = await desk.api.post("city", f"/cases/{number}/escalate", {"reason": "涉及多部门"})
    office = body["assignment"]["id"]
    status, page = await desk.get("gov", f"/desk/cases/{number}")
    assert status == 200
    form = section(page, f"work-{office}")
    assert f'data-api="/api/assignments/{office}/coordinate"' in form
    assert 'name="opinion"' in form
    assert f"/api/assignments/{office}/draft" not in forms(page)  # an opinion, not an answer
    assert f"/api/assignments/{office}/coordinate" not in forms(
        (await desk.get("urban", f"/desk/cases/{number}"))[1])
