"""Desk sessions end on the server; CSRF whatever the body; sign-in throttled in the database.

Issue 10 items 3, 4 and 5 (and issue 9's session revocation and shared throttle).
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any, Literal

from aiohttp.test_utils import TestClient, TestServer
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from config.settings import Settings
from contract.clock import FixedClock
from desks.access import login_throttle
from desks.access.accounts import demo_password
from desks.access.auth import verify_password
from desks.staff.deps import DESK
from intake.app import create_app
from registrar.models import Account
from tests.forwarder.test_desk_auth import csrf_of, desk, sign_in

Client = TestClient[Any, Any]
__all__ = ["desk"]  # the fixture, imported for these tests


def desk_cookie(client: Client) -> str:
    return client.session.cookie_jar.filter_cookies(client.make_url("/"))["hotline_desk"].value


async def account(client: Client, username: str) -> Account:
    async with client.app[DESK].sessionmaker() as session:
        return (await session.execute(select(Account).where(Account.username == username))
                ).scalar_one()


async def test_csrf_is_required_whatever_the_content_type(desk: Client) -> None:
    await sign_in(desk, "admin")
    urban = await account(desk, "urban")
    for content_type, body in (("text/plain", "active=0"), ("application/json", '{"active": "0"}'),
                               ("application/octet-stream", "")):
        refused = await desk.post(f"/desk/admin/users/{urban.id}/active", data=body,
                                  headers={"Content-Type": content_type}, allow_redirects=False)
        assert refused.status == 403, content_type
    assert (await account(desk, "urban")).active
    wrong = await desk.post("/desk/logout", headers={"X-CSRF-Token": "é-not-ours"},
                            allow_redirects=False)
    assert wrong.status == 403
    token = await csrf_of(desk)
    by_header = await desk.post(f"/desk/admin/users/{urban.id}/active", data="",
                                headers={"Content-Type": "text/plain", "X-CSRF-Token": token},
                                allow_redirects=False)
    assert by_header.status == 303 and not (await account(desk, "urban")).active


async def test_logout_ends_the_session_for_every_copy_of_the_cookie(desk: Client) -> None:
    await sign_in(desk, "city")
    copied = desk_cookie(desk)
    token = await csrf_of(desk)
    out = await desk.post("/desk/logout", data={"csrf": token}, allow_redirects=False)
    assert out.status == 303
    desk.session.cookie_jar.clear()
    replayed = await desk.get("/api/cases", cookies={"hotline_desk": copied})
    assert replayed.status == 401
    page = await desk.get("/desk/queue", cookies={"hotline_desk": copied}, allow_redirects=False)
    assert page.status == 303 and page.headers["Location"].startswith("/desk/login")


async def test_deactivation_and_password_reset_end_sessions(desk: Client) -> None:
    await sign_in(desk, "urban")
    urban_cookie = desk_cookie(desk)
    desk.session.cookie_jar.clear()
    await sign_in(desk, "gulou-urban")
    other_cookie = desk_cookie(desk)
    desk.session.cookie_jar.clear()
    await sign_in(desk, "admin")
    token = await csrf_of(desk)
    urban, other = await account(desk, "urban"), await account(desk, "gulou-urban")
    await desk.post(f"/desk/admin/users/{urban.id}/password", data={"csrf": token})
    await desk.post(f"/desk/admin/users/{other.id}/active", data={"csrf": token, "active": "0"})
    await desk.post(f"/desk/admin/users/{other.id}/active", data={"csrf": token, "active": "1"})
    desk.session.cookie_jar.clear()
    for cookie in (urban_cookie, other_cookie):
        assert (await desk.get("/api/cases", cookies={"hotline_desk": cookie})).status == 401


async def test_failures_from_other_addresses_slow_an_account_but_never_lock_it_out(
        desk: Client, clock: FixedClock) -> None:
    throttle = desk.app[DESK].throttle
    async with desk.app[DESK].sessionmaker.begin() as session:
        for n in range(27):
            await throttle.failed(session, "city", f"198.51.100.{n}")
        wait = await throttle.wait_s(session, "city", "127.0.0.1")
    assert 0 < wait <= login_throttle.PER_ACCOUNT.max_wait_s
    clock.moment += timedelta(seconds=login_throttle.PER_ACCOUNT.max_wait_s)
    assert (await sign_in(desk, "city")).status == 303


async def test_login_throttle_is_shared_by_app_instances_and_survives_a_restart(
        desk: Client, settings: Settings, clock: FixedClock) -> None:
    for _ in range(login_throttle.PER_PAIR.free):
        assert (await sign_in(desk, "city", "wrong-password")).status == 401
    async with TestClient(TestServer(create_app(settings, clock=clock))) as second:
        refused = await sign_in(second, "city")
        assert refused.status == 429 and "秒后再试" in await refused.text()
        assert (await sign_in(second, "urban")).status == 303
        clock.moment += timedelta(seconds=1)
        assert (await sign_in(second, "city", demo_password("city"))).status == 303


class RecordingHasher(PasswordHasher):
    """Notes the thread each verification runs on."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.threads: list[str] = []

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.threads.append(threading.current_thread().name)
        return super().verify(hash, password)


async def test_password_is_verified_off_the_event_loop(session: AsyncSession) -> None:
    hasher = RecordingHasher()
    loop_thread = threading.current_thread().name
    for username in ("city", "no-such-user"):
        assert await verify_password(session, username, "wrong-password-1", hasher=hasher) is None
    assert len(hasher.threads) == 2 and loop_thread not in hasher.threads
