"""Staff sign-in: sessions, throttling, CSRF, password change, and the API through the cookie."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from desks.access.accounts import demo_password, seed_demo_accounts
from desks.staff.deps import DESK
from tests.forwarder.api_kit import FAST_HASHER

Client = TestClient[Any, Any]


@pytest.fixture
async def desk(client: Client) -> Client:
    deps = client.app[DESK]
    async with deps.sessionmaker.begin() as session:
        await seed_demo_accounts(session, deps.ctx.clock.now(), hasher=FAST_HASHER)
    return client


async def sign_in(client: Client, user: str, password: str | None = None) -> Any:
    return await client.post("/desk/login", data={"username": user,
                                                  "password": password or demo_password(user)},
                             allow_redirects=False)


async def csrf_of(client: Client, path: str = "/desk/password") -> str:
    import re

    page = await (await client.get(path)).text()
    return re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)  # type: ignore[union-attr]


async def test_pages_need_a_session(desk: Client) -> None:
    response = await desk.get("/desk/queue", allow_redirects=False)
    assert response.status == 303 and response.headers["Location"].startswith("/desk/login")


async def test_sign_in_sends_each_role_to_its_desk(desk: Client) -> None:
    for user, home in (("city", "/desk/queue"), ("urban", "/desk/inbox"), ("agent", "/desk/console"),
                       ("efficiency", "/desk/supervision")):
        desk.session.cookie_jar.clear()
        response = await sign_in(desk, user)
        assert (response.status, response.headers["Location"]) == (303, home), user


async def test_wrong_password_and_throttling(desk: Client) -> None:
    for _ in range(5):
        assert (await sign_in(desk, "city", "wrong-password")).status == 401
    blocked = await sign_in(desk, "city")
    assert blocked.status == 429 and "秒后再试" in await blocked.text()
    assert (await sign_in(desk, "urban")).status == 303  # other accounts are unaffected


async def test_next_is_never_an_open_redirect(desk: Client) -> None:
    response = await desk.post("/desk/login?next=//evil.example/x",
                               data={"username": "city", "password": demo_password("city")},
                               allow_redirects=False)
    assert response.headers["Location"] == "/desk/queue"


async def test_api_through_the_cookie_needs_the_csrf_header_to_write(desk: Client) -> None:
    await sign_in(desk, "city")
    assert (await desk.get("/api/cases")).status == 200
    token = await csrf_of(desk)
    no_header = await desk.post("/api/cases/FZ12345-20261124-000001/accept", json={})
    assert no_header.status in (401, 403)
    wrong = await desk.post("/api/cases/FZ12345-20261124-000001/accept", json={},
                            headers={"X-CSRF-Token": "nope"})
    assert wrong.status in (401, 403)
    right = await desk.post("/api/cases/FZ12345-20261124-000001/accept", json={},
                            headers={"X-CSRF-Token": token})
    assert right.status == 404  # authenticated; that case simply does not exist


async def test_form_posts_need_the_csrf_token(desk: Client) -> None:
    await sign_in(desk, "city")
    forged = await desk.post("/desk/password", data={"csrf": "x", "old": "a", "new": "b", "again": "b"})
    assert forged.status == 403


async def test_password_change_ends_other_sessions(desk: Client) -> None:
    await sign_in(desk, "urban")
    old_cookie = desk.session.cookie_jar.filter_cookies(desk.make_url("/"))["hotline_desk"].value
    token = await csrf_of(desk)
    changed = await desk.post("/desk/password", data={
        "csrf": token, "old": demo_password("urban"), "new": "a-new-password-1", "again": "a-new-password-1"})
    assert changed.status == 200 and "密码已修改" in await changed.text()
    desk.session.cookie_jar.clear()
    stale = await desk.get("/api/cases", cookies={"hotline_desk": old_cookie})
    assert stale.status == 401
    desk.session.cookie_jar.clear()
    assert (await sign_in(desk, "urban", "a-new-password-1")).status == 303


async def test_logout_clears_the_session(desk: Client) -> None:
    await sign_in(desk, "city")
    token = await csrf_of(desk)
    await desk.post("/desk/logout", data={"csrf": token}, allow_redirects=False)
    assert (await desk.get("/api/cases")).status == 401
