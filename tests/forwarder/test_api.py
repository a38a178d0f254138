"""The JSON API through the real app: the main path, errors as JSON, search, visibility, accounts."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from desks.access.accounts import AccountError, create_account, demo_password, seed_demo_accounts
from desks.access.auth import revoke_tokens, token_digest, verify_password
from registrar.models import Account, ApiToken
from tests.forwarder.api_kit import FAST_HASHER, Api, make_api


@pytest.fixture
async def api(client: TestClient[Any, Any], tmp_path: Path) -> Api:
    return await make_api(client, tmp_path / "files")


async def test_R4_R8_R9_main_path_by_api(api: Api) -> None:
    """Accept, dispatch (R7.2), read (R8.1), draft, approve (R8.2c), submit, review (R8.4a),
    publish (R9.3): every step by HTTP as the person whose job it is."""
    number = await api.register()
    assert (await api.post("city", f"/cases/{number}/accept"))[0] == 200
    status, body = await api.post("city", f"/cases/{number}/dispatch", {"unit": "city-urban"})
    assert status == 200 and body["case"]["status"] == "dispatched"
    [lead] = body["assignments"]
    assert lead["unit"]["code"] == "city-urban" and lead["state"] == "dispatched"
    aid = lead["id"]
    assert (await api.post("urban", f"/assignments/{aid}/read"))[0] == 200
    status, body = await api.post("urban", f"/assignments/{aid}/draft", {"text": "路灯已修复。"})
    assert status == 200 and body["assignment"]["state"] == "drafted"
    status, body = await api.post("urban-leader", f"/assignments/{aid}/approve")
    assert status == 200 and body["assignment"]["approved_by"] == "高静怡"
    assert (await api.post("urban", f"/assignments/{aid}/submit"))[1]["assignment"]["state"] == "submitted"
    status, body = await api.post("city", f"/assignments/{aid}/review", {"passed": True})
    assert status == 200 and body["assignment"]["state"] == "passed"
    status, body = await api.post("city", f"/cases/{number}/publication", {"publish": True})
    assert status == 200
    assert body["case"]["status"] == "closed" and body["case"]["published_text"] == "路灯已修复。"

    status, detail = await api.get("city", f"/cases/{number}")
    assert status == 200
    actions = [e["action"] for e in detail["events"]]
    assert actions.index("read") < actions.index("approve") < actions.index("pass")
    assert {"read", "draft", "approve", "submit", "pass", "case_answered", "case_close"} <= set(actions)
    assert [n["kind"] for n in detail["notices"]][-1] == "answer"
    kinds = {d["kind"]: d for d in detail["deadlines"]}
    assert kinds["read"]["met_at"] and kinds["answer"]["met_at"] and kinds["review"]["met_at"]


async def test_R7_3_district_dispatch_by_district_bureau(api: Api) -> None:
    number = await api.register()
    await api.post("city", f"/cases/{number}/accept")
    assert (await api.post("city", f"/cases/{number}/dispatch", {"unit": "gulou-bureau"}))[0] == 200
    status, body = await api.post("gulou", f"/cases/{number}/dispatch", {"unit": "gulou-urban"})
    assert status == 200 and body["assignments"][0]["unit"]["code"] == "gulou-urban"
    assert (await api.get("gulou-urban", f"/cases/{number}"))[0] == 200


@pytest.mark.parametrize(("headers", "why"), [
    ({}, "no header"),
    ({"Authorization": "Bearer not-a-token"}, "unknown token"),
    ({"Authorization": "Basic dXNlcjpwYXNz"}, "other scheme"),
])
async def test_api_refuses_missing_or_unknown_token_with_401(api: Api, headers: dict[str, str],
                                                             why: str) -> None:
    response = await api.client.get("/api/cases", headers=headers)
    assert response.status == 401, why
    assert (await response.json())["error"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_api_refuses_revoked_token_and_inactive_account(api: Api) -> None:
    assert (await api.get("city", "/units"))[0] == 200

    async def revoke(session: Any) -> int:
        account = (await session.execute(select(Account).where(Account.username == "city"))).scalar_one()
        return await revoke_tokens(session, account, now=api.deps.ctx.clock.now())
    assert await api.tx(revoke) == 1
    assert (await api.get("city", "/units"))[0] == 401

    async def deactivate(session: Any) -> None:
        account = (await session.execute(select(Account).where(Account.username == "urban"))).scalar_one()
        account.active = False
    await api.tx(deactivate)
    assert (await api.get("urban", "/units"))[0] == 401


async def test_workflow_errors_map_to_status_codes(api: Api) -> None:
    number = await api.register()
    # 400: the workflow says invalid (R3 reason unknown); the body says invalid
    status, body = await api.post("city", f"/cases/{number}/not-accept", {"reason": "R3.99"})
    assert (status, body["error"]) == (400, "invalid")
    assert (await api.post("city", f"/cases/{number}/dispatch", {"co_units": []}))[0] == 400
    response = await api.client.post(f"/api/cases/{number}/accept", data=b"{not json",
                                     headers=api.headers("city"))
    assert response.status == 400 and (await response.json())["error"] == "invalid"
    # 409: an illegal transition (accepting twice)
    assert (await api.post("city", f"/cases/{number}/accept"))[0] == 200
    status, body = await api.post("city", f"/cases/{number}/accept")
    assert (status, body["error"]) == (409, "illegal")
    # 404: no such case, no such assignment, no such route — all JSON
    assert (await api.get("city", "/cases/FZ-nope"))[1]["error"] == "not_found"
    assert (await api.post("urban", "/assignments/999999/read"))[0] == 404
    assert (await api.get("city", "/no-such-thing"))[0] == 404
    # 403 from the workflow's unit check: the efficiency office sees all but reads for nobody
    _, aid = await api.case_at("dispatched")
    status, body = await api.post("efficiency", f"/assignments/{aid}/read")
    assert (status, body["error"]) == (403, "forbidden")


async def test_invariant3_refused_dispatch_writes_nothing(api: Api) -> None:
    """A co-handling unit that cannot co-handle refuses the whole dispatch: no lead assignment,
    no event, the case still waits in the city bureau's queue (one transaction per request)."""
    number, _ = await api.case_at("accepted")
    before = (await api.get("city", f"/cases/{number}"))[1]
    status, body = await api.post("city", f"/cases/{number}/dispatch",
                                  {"unit": "city-urban", "co_units": ["gulou-bureau"]})
    assert status == 409 and "协办" in body["message"]
    after = (await api.get("city", f"/cases/{number}"))[1]
    assert after["case"]["status"] == "accepted"
    assert after["assignments"] == before["assignments"] and after["events"] == before["events"]


async def test_json_is_utf8_text(api: Api) -> None:
    number = await api.register("五四路路灯不亮")
    response = await api.client.get(f"/api/cases/{number}", headers=api.headers("city"))
    assert response.content_type == "application/json" and response.charset == "utf-8"
    assert "五四路路灯不亮" in (await response.read()).decode("utf-8")


async def test_R8_2c_only_the_unit_leader_approves_by_api(api: Api) -> None:
    _, aid = await api.case_at("drafted")
    assert (await api.post("urban", f"/assignments/{aid}/approve"))[0] == 403
    assert (await api.post("urban-leader", f"/assignments/{aid}/approve"))[0] == 200


async def test_R8_2b_complex_answer_without_its_parts_is_400(api: Api) -> None:
    _, aid = await api.case_at("read")
    status, body = await api.post("urban", f"/assignments/{aid}/draft", {"text": "答复", "complex": True})
    assert status == 400 and "R8.2b" in body["message"]


async def test_R8_3_return_and_decision_by_api(api: Api) -> None:
    _, aid = await api.case_at("dispatched")
    status, body = await api.post("urban", f"/assignments/{aid}/return",
                                  {"reason": "属住建职责", "proposed_unit": "city-housing"})
    assert status == 200 and body["assignment"]["state"] == "return_requested"
    status, body = await api.post("city", f"/assignments/{aid}/return-decision", {"accept": True})
    assert status == 200 and body["assignments"][0]["unit"]["code"] == "city-housing"


async def test_R8_4b_failed_review_needs_a_comment(api: Api) -> None:
    _, aid = await api.case_at("submitted")
    assert (await api.post("city", f"/assignments/{aid}/review", {"passed": False}))[0] == 400
    status, body = await api.post("city", f"/assignments/{aid}/review",
                                  {"passed": False, "comment": "未说明维修时间"})
    assert status == 200 and body["assignment"]["state"] == "redo"
    assert (await api.post("city", f"/assignments/{aid}/review", {}))[0] == 400


async def test_R8_7_split_and_R8_8_escalate_by_api(api: Api) -> None:
    number, _ = await api.case_at("accepted")
    status, body = await api.post("city", f"/cases/{number}/split", {"parts": ["路灯不亮", "垃圾未清"]})
    assert status == 200 and [p["number"] for p in body["parts"]] == [f"{number}-1", f"{number}-2"]
    assert (await api.get("city", f"/cases/{number}"))[1]["parts"] == [f"{number}-1", f"{number}-2"]
    other, _ = await api.case_at("dispatched")
    status, body = await api.post("city", f"/cases/{other}/escalate", {"reason": "涉及多部门"})
    assert status == 200 and body["assignment"]["role"] == "coordination"


async def test_R8_5_repeats_listed_and_stop_refused_before_four_answers(api: Api) -> None:
    first = await api.register()
    second = await api.register()
    status, body = await api.get("city", f"/cases/{second}/repeats")
    assert status == 200 and [r["number"] for r in body["repeats"]] == [first]
    status, body = await api.post("city", f"/cases/{second}/stop")
    assert status == 409 and "R8.5b" in body["message"]


async def test_search_filters_and_pages(api: Api) -> None:
    lamp = await api.register("五四路路灯坏了")
    noise = await api.register("工地夜间施工噪音扰民", sender="+8613905910002")
    _, body = await api.get("city", "/cases", q="噪音")
    assert [c["number"] for c in body["cases"]] == [noise]
    _, body = await api.get("city", "/cases", phone="139 0591 0002")
    assert [c["number"] for c in body["cases"]] == [noise]
    _, body = await api.get("city", "/cases", number=lamp)
    assert [c["number"] for c in body["cases"]] == [lamp]
    _, body = await api.get("city", "/cases", status="registered")
    assert {lamp, noise} <= {c["number"] for c in body["cases"]} and body["has_more"] is False
    _, body = await api.get("city", "/cases", page="2")
    assert body["cases"] == [] and body["page"] == 2
    assert (await api.get("city", "/cases", page="0"))[0] == 400
    assert (await api.get("city", "/cases", status="bogus"))[0] == 400
    assert (await api.get("city", "/cases", phone="12"))[0] == 400
    dispatched, _ = await api.case_at("dispatched")
    _, body = await api.get("city", "/cases", unit="city-urban")
    assert [c["number"] for c in body["cases"]] == [dispatched]
    _, body = await api.get("city", "/cases", unit="no-such-unit")
    assert body["cases"] == []
    _, body = await api.get("urban", "/cases")
    assert [c["number"] for c in body["cases"]] == [dispatched]


async def test_invariant6_R6_1_internal_case_invisible_to_other_units_and_agents(api: Api) -> None:
    number, aid = await api.case_at("dispatched", unit="city-discipline", internal_reason="R6.1")
    assert (await api.get("discipline", f"/cases/{number}"))[0] == 200
    for user in ("urban", "urban-leader", "agent", "gulou", "gulou-urban"):
        status, body = await api.get(user, f"/cases/{number}")
        assert (status, body["error"]) == (404, "not_found"), user
        assert number not in {c["number"] for c in (await api.get(user, "/cases"))[1]["cases"]}
        assert (await api.post(user, f"/assignments/{aid}/read"))[0] in (403, 404), user
    for user in ("city", "efficiency", "admin"):
        assert (await api.get(user, f"/cases/{number}"))[0] == 200, user


async def test_invariant6_R6_4_withheld_item_hidden_from_agent_search(api: Api) -> None:
    private = await api.register("不愿公开：邻居噪音", public=False)
    status, _ = await api.get("agent", f"/cases/{private}")
    assert status == 404
    assert (await api.get("city", f"/cases/{private}"))[0] == 200


async def test_R7_3_district_never_sees_another_districts_case(api: Api) -> None:
    number, _ = await api.case_at("dispatched", unit="gulou-urban")
    for user in ("gulou", "gulou-urban", "gulou-urban-leader", "city"):
        assert (await api.get(user, f"/cases/{number}"))[0] == 200, user
    for user in ("taijiang", "urban"):
        assert (await api.get(user, f"/cases/{number}"))[0] == 404, user
        assert number not in {c["number"] for c in (await api.get(user, "/cases"))[1]["cases"]}


async def test_units_list_the_organisation(api: Api) -> None:
    status, body = await api.get("agent", "/units")
    units = {u["code"]: u for u in body["units"]}
    assert status == 200 and units["gulou-urban"]["parent"] == "gulou-bureau"
    assert units["city-bureau"]["kind"] == "city_bureau"


async def test_session_post_without_csrf_header_is_refused(api: Api) -> None:
    """A second credential source (the desk's cookie) may not POST without the CSRF header."""
    from desks.access.auth import principal_for_token

    async def cookie_source(request: Any, session: Any) -> Any:
        found = await principal_for_token(session, request.cookies.get("desk", ""))
        return None if found is None else dataclasses.replace(found, via="session")
    api.deps.extra_sources = (cookie_source,)
    number = await api.register()
    cookies = {"Cookie": f"desk={api.tokens['city']}"}
    response = await api.client.post(f"/api/cases/{number}/accept", json={}, headers=cookies)
    assert response.status == 403
    response = await api.client.get(f"/api/cases/{number}", headers=cookies)
    assert response.status == 200
    response = await api.client.post(f"/api/cases/{number}/accept", json={},
                                     headers={**cookies, "X-CSRF-Token": "checked-by-the-desk"})
    assert response.status == 200


# --- accounts and tokens ------------------------------------------------------------------


async def test_accounts_role_must_fit_unit_kind(api: Api) -> None:
    now = api.deps.ctx.clock.now()

    def attempt(role: str, unit: str | None) -> Callable[[AsyncSession], Awaitable[Account]]:
        return lambda session: create_account(
            session, username=f"x-{role}-{unit}", display_name="某人", role=role, unit_code=unit,
            password="long-enough-pw", now=now, hasher=FAST_HASHER)
    for role, unit in (("unit_handler", "city-bureau"), ("city_bureau", "gulou-bureau"),
                       ("agent", "city-urban"), ("discipline", "city-efficiency"),
                       ("unit_leader", None), ("nobody", "city-urban"), ("agent", "no-such-unit")):
        with pytest.raises(AccountError):
            await api.tx(attempt(role, unit))
    for role, unit in (("unit_leader", "city-discipline"), ("unit_handler", "gulou-urban"),
                       ("admin", None), ("efficiency", "gulou-efficiency")):
        assert (await api.tx(attempt(role, unit))).role == role

    async def short(session: Any) -> None:
        await create_account(session, username="shorty", display_name="某人", role="admin",
                             unit_code=None, password="123456789", now=now, hasher=FAST_HASHER)
    with pytest.raises(AccountError, match="10"):
        await api.tx(short)


async def test_password_verification_and_rehash(api: Api) -> None:
    async def check(session: Any) -> None:
        assert await verify_password(session, "city", "wrong-password", hasher=FAST_HASHER) is None
        assert await verify_password(session, "ghost", "whatever-it-is", hasher=FAST_HASHER) is None
        strong = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
        account = await verify_password(session, "city", demo_password("city"), hasher=strong)
        assert account is not None and account.password_hash.startswith("$argon2id$")
        assert "t=2" in account.password_hash  # rehashed with the newer parameters
    await api.tx(check)


async def test_tokens_stored_only_as_sha256_and_seed_is_idempotent(api: Api) -> None:
    async def check(session: Any) -> None:
        digests = set((await session.execute(select(ApiToken.token_sha256))).scalars())
        assert token_digest(api.tokens["city"]) in digests
        assert api.tokens["city"] not in digests
        before = len(list((await session.execute(select(Account.id))).scalars()))
        listed = await seed_demo_accounts(session, api.deps.ctx.clock.now(), hasher=FAST_HASHER)
        after = len(list((await session.execute(select(Account.id))).scalars()))
        assert before == after == len(listed)
        assert {role for _, _, role, _ in listed} == {"agent", "city_bureau", "district_bureau",
                                                      "unit_handler", "unit_leader", "discipline",
                                                      "efficiency", "admin"}
    await api.tx(check)


async def test_R8_8_government_office_gives_its_coordination_opinion_by_api(api: Api) -> None:
    from desks.access.accounts import create_account
    from desks.access.auth import issue_token
    from tests.forwarder.api_kit import FAST_HASHER

    async def gov_office_account(session: Any) -> str:
        account = await create_account(session, username="gov", display_name="办公厅经办",
                                       role="unit_handler", unit_code="city-gov-office",
                                       password="a-long-password", now=api.deps.ctx.clock.now(),
                                       hasher=FAST_HASHER)
        return await issue_token(session, account, label="test", now=api.deps.ctx.clock.now())

    api.tokens["gov"] = await api.tx(gov_office_account)
    number, _ = await api.case_at("dispatched")
    _, body = await api.post("city", f"/cases/{number}/escalate", {"reason": "涉及多部门"})
    office = body["assignment"]["id"]
    status, body = await api.post("urban", f"/assignments/{office}/coordinate", {"opinion": "牵头"})
    assert status == 403  # urban sees the case (it handles it) but is not the office
    status, body = await api.post("gov", f"/assignments/{office}/coordinate",
                                  {"opinion": "由市城管委牵头，两周内完成"})
    assert status == 200 and body["assignment"]["state"] == "done"
