"""API keys: ``hotline open311 key add|list|revoke`` and the admin desk's Open311 page.

A key is printed (or shown) once, works at once, is stored only as its SHA-256,
and stops working the moment it is revoked; only the admin role may manage keys.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from contract.clock import FixedClock
from desks.access.accounts import seed_demo_accounts
from desks.staff.deps import DESK
from intake.cli import main
from registrar.db import create_engine, make_sessionmaker
from registrar.models_open311 import Open311Client
from registrar.open311_clients import admit
from registrar.throttle import Limit
from tests.channels.open311.conftest import Api
from tests.forwarder.api_kit import FAST_HASHER
from tests.forwarder.test_desk_admin import post, sign_in

LIMIT = Limit(free=100, window_s=60, max_wait_s=60)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def whose(db_url: str, key: str, clock: FixedClock) -> str | None:
    async def check() -> str | None:
        engine = create_engine(db_url)
        try:
            async with make_sessionmaker(engine).begin() as session:
                return (await admit(session, key, LIMIT, now=clock.now()))[0]
        finally:
            await engine.dispose()
    return asyncio.run(check())


def test_cli_adds_lists_and_revokes_a_client(db_url: str, tmp_path: Path, clock: FixedClock,
                                             capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTLINE_DATABASE_URL", db_url)
    monkeypatch.setenv("HOTLINE_DATA_DIR", str(tmp_path / "data"))
    code, out, _ = run(capsys, "open311", "key", "add", "fuzhou-app")
    key = out.strip()
    assert code == 0 and re.fullmatch(r"o311_[A-Za-z0-9_-]{43}", key)
    assert whose(db_url, key, clock) == "fuzhou-app"

    async def stored() -> list[str]:
        engine = create_engine(db_url)
        try:
            async with make_sessionmaker(engine)() as session:
                return list((await session.execute(select(Open311Client.key_sha256))).scalars())
        finally:
            await engine.dispose()
    assert asyncio.run(stored()) == [hashlib.sha256(key.encode()).hexdigest()]  # never the key

    code, _, err = run(capsys, "open311", "key", "add", "fuzhou-app")
    assert code == 1 and "exists already" in err
    code, _, err = run(capsys, "open311", "key", "add", "no spaces please")
    assert code == 1 and "client name" in err
    code, out, _ = run(capsys, "open311", "key", "list")
    assert code == 0 and out.startswith("fuzhou-app") and key not in out and "revoked" not in out
    code, out, _ = run(capsys, "open311", "key", "revoke", "fuzhou-app")
    assert code == 0 and whose(db_url, key, clock) is None
    code, out, _ = run(capsys, "open311", "key", "list")
    assert "revoked" in out
    code, _, err = run(capsys, "open311", "key", "revoke", "nobody")
    assert code == 1 and "no client" in err


@pytest.fixture
async def desk(api: Api) -> TestClient[Any, Any]:
    deps = api.http.app[DESK]
    async with deps.sessionmaker.begin() as session:
        await seed_demo_accounts(session, deps.ctx.clock.now(), hasher=FAST_HASHER)
    return api.http


async def test_the_admin_desk_issues_a_key_once_that_works_and_revokes_it(
        desk: TestClient[Any, Any], api: Api) -> None:
    from tests.channels.open311.test_requests_api import GOOD

    assert await sign_in(desk, "admin") == 303
    response = await post(desk, "/desk/admin/open311", client_name="partner-c")
    page = await response.text()
    assert response.status == 200 and response.headers["Cache-Control"] == "no-store"
    found = re.search(r'id="issued-key">([^<]+)<', page)
    assert found is not None
    key = found.group(1)
    assert (await api.post(GOOD, key=key))[0] == 200
    listing = await (await desk.get("/desk/admin/open311")).text()
    assert "partner-c" in listing and key not in listing  # shown once only
    response = await post(desk, "/desk/admin/open311", client_name="partner-c")
    assert response.status == 400 and "exists already" in await response.text()
    response = await post(desk, "/desk/admin/open311/partner-c/revoke")
    assert response.status == 303
    assert (await api.post(GOOD, key=key))[0] == 403


@pytest.mark.parametrize("user", ["city", "agent", "urban"])
async def test_only_the_admin_manages_keys(desk: TestClient[Any, Any], user: str) -> None:
    assert await sign_in(desk, user) == 303
    assert (await desk.get("/desk/admin/open311")).status == 403
    response = await post(desk, "/desk/admin/open311", client_name="sneaky")
    assert response.status == 403
