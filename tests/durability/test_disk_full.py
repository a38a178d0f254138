"""The attachments disk is full: a clear refusal, nothing acknowledged, nothing half-written.

The file system's own error (ENOSPC on write) is raised where the attachment
store writes; the senders must be told to try again (web 503 without a
number, SMTP 451), no case and no partial file may remain, and once there is
room again the same item goes through as one case.
"""

from __future__ import annotations

import asyncio
import errno
import io
import os
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from contract.clock import FixedClock
from intake import keys
from intake.app import create_app
from registrar import attachments
from registrar.db import create_engine, make_sessionmaker
from registrar.models import Case
from tests.conftest import make_settings
from tests.durability.server import Acks, send_fax

pytestmark = pytest.mark.durability
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x02\x00\x00\x00"
       + b"\x00" * 64)


class _FullDisk(io.FileIO):
    """The file the store opened, on a disk with no room left: every write fails."""

    def write(self, data: Any) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


async def _cases(db_url: str) -> int:
    engine = create_engine(db_url)
    try:
        async with make_sessionmaker(engine)() as session:
            return int(await session.scalar(select(func.count()).select_from(Case)) or 0)
    finally:
        await engine.dispose()


async def test_disk_full_refuses_web_and_fax_and_keeps_nothing(
        db_url: str, tmp_path: Path, clock: FixedClock, monkeypatch: pytest.MonkeyPatch) -> None:
    real_fdopen = os.fdopen

    def full_fdopen(fd: int, *args: Any, **kwargs: Any) -> Any:
        return _FullDisk(fd, "wb")

    settings = make_settings(db_url, tmp_path / "data", fax={"enabled": True, "port": 0})
    app = create_app(settings, clock=clock)
    async with TestClient(TestServer(app), cookie_jar=aiohttp.CookieJar(unsafe=True)) as client:
        page = await (await client.get("/")).text()
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        submission = "6f1c2d3e-4a5b-4c6d-8e7f-0123456789ab"

        async def post() -> aiohttp.ClientResponse:
            form = aiohttp.FormData({"csrf": csrf, "submission": submission, "phone": "13805912345",
                                     "text": "鼓楼区温泉路积水，附照片", "public": "yes"})
            form.add_field("attachments", PNG, filename="积水.png", content_type="image/png")
            return await client.post("/submit", data=form, allow_redirects=False)

        port = app[keys.BOUND_PORTS]["fax.smtp"]
        acks = Acks()
        monkeypatch.setattr(attachments.os, "fdopen", full_fdopen)
        refused = await post()
        await asyncio.to_thread(send_fax, port, "fax.diskfull.1", acks)
        assert refused.status == 503 and "FZ12345" not in await refused.text()
        assert acks.fax_replies == {"fax.diskfull.1": [451]}
        assert await _cases(db_url) == 0
        assert not [p for p in (tmp_path / "data").rglob(".incoming-*")]  # no partial file

        monkeypatch.setattr(attachments.os, "fdopen", real_fdopen)  # room again
        accepted = await post()
        await asyncio.to_thread(send_fax, port, "fax.diskfull.1", acks)
        assert accepted.status == 303 and "fax.diskfull.1" in acks.fax
    assert await _cases(db_url) == 2
