"""The whole app (its factory) with the Open311 channel, a client key, and helpers.

Database tests run on SQLite and PostgreSQL (``tests/conftest.py``); the clock
is pinned to Tuesday 2026-11-24 10:00 in Fuzhou.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from xml.etree import ElementTree as ET

import pytest
from aiohttp.test_utils import TestClient, TestServer

from config.settings import Settings
from contract.clock import FixedClock
from registrar.db import create_engine, make_sessionmaker
from registrar.open311_clients import add_client
from tests.conftest import make_settings

FIXTURES = Path(__file__).parent / "fixtures"
FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@dataclass
class Api:
    """An Open311 client of the test app: a key, and the app to call."""

    http: TestClient[Any, Any]
    key: str
    settings: Settings

    async def post(self, fields: dict[str, str] | list[tuple[str, str]], fmt: str = "json",
                   *, key: str | None = None) -> tuple[int, Any]:
        pairs = list(fields.items()) if isinstance(fields, dict) else list(fields)
        pairs.append(("api_key", self.key if key is None else key))
        response = await self.http.post(f"/open311/v2/requests.{fmt}",
                                        data=urlencode(pairs).encode(), headers=FORM)
        return response.status, decode(fmt, await response.read())

    async def get(self, path: str, fmt: str = "json", **query: str) -> tuple[int, Any]:
        response = await self.http.get(f"/open311/v2/{path}.{fmt}", params=query)
        return response.status, decode(fmt, await response.read())


def decode(fmt: str, body: bytes) -> Any:
    if fmt == "json":
        return json.loads(body)
    assert body.startswith(b'<?xml version="1.0" encoding="utf-8"?>\n'), body[:60]
    return ET.fromstring(body)


async def new_key(settings: Settings, name: str, clock: FixedClock) -> str:
    engine = create_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine).begin() as session:
            return await add_client(session, name, now=clock.now())
    finally:
        await engine.dispose()


@pytest.fixture
def o311_settings(db_url: str, tmp_path: Path) -> Settings:
    return make_settings(db_url, tmp_path / "data", open311={"rate_free": 1000,
                                                               "jurisdiction_id": "fuzhou.gov.cn"})


@pytest.fixture
async def api(o311_settings: Settings, clock: FixedClock) -> AsyncIterator[Api]:
    from intake.app import create_app

    key = await new_key(o311_settings, "fuzhou-app", clock)
    async with TestClient(TestServer(create_app(o311_settings, clock=clock))) as http:
        yield Api(http, key, o311_settings)
