"""SMTP AUTH runs argon2 off the event loop: a burst of logins does not stall other work."""

from __future__ import annotations

import asyncio
import time

from argon2 import PasswordHasher

from .conftest import RecordingSink, ServerFactory, fixture, send_fax

# Deliberately slow (~0.3 s a check here), as a production hash may be: a stall shows.
SLOW_HASH = PasswordHasher(time_cost=8, memory_cost=65536, parallelism=1).hash("s3cret")


async def test_six_parallel_smtp_auth_attempts_do_not_stall_the_event_loop(
        fax_server: ServerFactory, sink: RecordingSink) -> None:
    gaps: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    async with fax_server(sink, allowed_gateways=("10.0.0.0/8",),
                          auth_users={"faxgw": SLOW_HASH}, auth_require_tls=False) as running:
        ticking = asyncio.create_task(ticker())
        mail = fixture("provider_number_in_header_tiff.eml")
        results = await asyncio.gather(*(
            send_fax(running.port, mail, login=("faxgw", "s3cret" if i % 2 else f"wrong{i}"))
            for i in range(6)))
        stop.set()
        await ticking
    assert sorted(r.code for r in results) == [250, 250, 250, 535, 535, 535]
    # One argon2 check on the loop would be a gap of ~0.3 s; off it, the loop keeps ticking.
    assert max(gaps) < 0.25, max(gaps)
