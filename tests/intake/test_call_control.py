"""The consoles' requests on live calls (``intake.call_control``): who answers, and what is ignored."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from contract.channel import CallAnswer, CallRequest
from intake.call_control import LocalCalls, SharedCalls


async def _broken(request: CallRequest) -> CallAnswer | None:
    raise RuntimeError("a handler gone wrong")


async def _not_mine(request: CallRequest) -> CallAnswer | None:
    return None


async def _mine(request: CallRequest) -> CallAnswer | None:
    return {"ok": True, "call": request.get("call")} if request.get("call") == "c1" else None


async def _slow(request: CallRequest) -> CallAnswer | None:
    await asyncio.sleep(5)
    return {"ok": True}


async def test_the_handler_holding_the_call_answers_a_broken_one_does_not_silence_it() -> None:
    calls = LocalCalls()
    for handler in (_broken, _not_mine, _mine):
        calls.serve(handler)
    assert await calls.ask({"op": "emergency", "call": "c1"}, timeout_s=1) == {"ok": True, "call": "c1"}
    assert await calls.ask({"op": "emergency", "call": "c2"}, timeout_s=1) is None
    stop = calls.serve(_slow)
    assert await calls.ask({"op": "emergency", "call": "c2"}, timeout_s=0.2) is None  # no answer in time
    stop()
    stop()  # twice is harmless
    assert calls.handlers == [_broken, _not_mine, _mine]


@pytest.fixture
async def shared(engine: AsyncEngine, db_url: str, backend: str) -> AsyncIterator[SharedCalls]:
    if backend != "postgresql":
        pytest.skip("SQLite runs as one process: LocalCalls (the test above)")
    calls = SharedCalls(lambda: engine, db_url)
    keeper = asyncio.create_task(calls.keep_listening())
    try:
        async with asyncio.timeout(10):
            await calls.listening.wait()
        yield calls
    finally:
        keeper.cancel()
        await asyncio.gather(keeper, return_exceptions=True)


async def test_across_notify_the_holder_answers_and_strays_are_ignored(shared: SharedCalls) -> None:
    shared.serve(_mine)
    assert await shared.ask({"op": "emergency", "call": "c1"}, timeout_s=5) == {"ok": True, "call": "c1"}
    # Every listening process said "not mine": the answer is None at once, not after the timeout.
    started = asyncio.get_running_loop().time()
    assert await shared.ask({"op": "emergency", "call": "c2"}, timeout_s=5) is None
    assert asyncio.get_running_loop().time() - started < 2
    for stray in ("not json", "{}", '{"kind": "ask", "id": 1, "request": "x"}', '{"kind": "answer"}',
                  '{"kind": "answer", "id": "unknown", "answer": {"ok": true}}', "[1]"):
        shared.on_message(stray)  # anyone may NOTIFY: never raises
    assert shared.pending == {}
