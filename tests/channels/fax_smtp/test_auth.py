"""SMTP AUTH runs argon2 off the event loop: a burst of logins does not stall other work.

Asserted by where each password check runs (never on the event loop's thread), not by
timing, so the test means the same on a busy CI machine as on an idle laptop.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from argon2 import PasswordHasher

from .conftest import RecordingSink, ServerFactory, fixture, send_fax

HASH = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("s3cret")


async def test_six_parallel_smtp_auth_attempts_do_not_stall_the_event_loop(
        fax_server: ServerFactory, sink: RecordingSink, monkeypatch: pytest.MonkeyPatch) -> None:
    loop_thread = threading.get_ident()
    checked_on: list[int] = []
    real_verify = PasswordHasher.verify

    def recording_verify(self: PasswordHasher, hash: Any, password: Any) -> bool:
        checked_on.append(threading.get_ident())
        return bool(real_verify(self, hash, password))

    monkeypatch.setattr(PasswordHasher, "verify", recording_verify)
    async with fax_server(sink, allowed_gateways=("10.0.0.0/8",),
                          auth_users={"faxgw": HASH}, auth_require_tls=False) as running:
        mail = fixture("provider_number_in_header_tiff.eml")
        results = await asyncio.gather(*(
            send_fax(running.port, mail, login=("faxgw", "s3cret" if i % 2 else f"wrong{i}"))
            for i in range(6)))
    assert sorted(r.code for r in results) == [250, 250, 250, 535, 535, 535]
    # smtplib tries each mechanism the server offers after a refusal, so a wrong password is
    # checked more than once; what matters is where each check ran.
    assert checked_on and loop_thread not in checked_on  # argon2 never on the loop
